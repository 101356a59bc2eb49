"""Answering nested fields without an awaitable each: synchronous answers from settled DataLoaders, and
a look-ahead that settles them before the nested fields run.

graphql-core completes a plain value in place, but every awaitable a resolver returns costs it a
coroutine, a task and a gather. For a page of 100 roadmap items with their features, owners,
dependencies and demand that is several hundred awaitables and most of the request's CPU time.
So the resolvers of related nodes are plain functions returning `Resolved[T]`: the value itself when
the loader's cache has it settled, otherwise the loader's awaitable, which batches as usual (no N+1
either way). Such a resolver declares its GraphQL type with `strawberry.field(graphql_type=...)`, since
its annotation also admits the awaitable.

A field that hands out many nodes (a roadmap's items, a page of features) reads the selection below
it and loads, in a few batched statements through the request's DataLoaders, the related nodes it
names: the features, their owners, products, dependencies (as deep as the selection goes) and demand,
and the items' teams (`prefetch_features`, `prefetch_linked`). The nested resolvers then find everything
settled. A relation the look-ahead does not cover loads on demand, so it only ever saves work; what each
half saves is measured in `api/READ_PATH.md`.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Hashable, Iterable, Sequence
from typing import Any, TypeVar, Union, cast

import strawberry
from strawberry.dataloader import DataLoader
from strawberry.types.nodes import SelectedField, Selection

from api.context import Loaders

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
T = TypeVar("T")
R = TypeVar("R")

Resolved = Union[T, Awaitable[T]]  # noqa: UP007 - a generic alias; `T | Awaitable[T]` cannot be subscripted
"""A resolver's answer: the value now, or an awaitable of it."""


class _Pending:
    """Marks a key whose value is not (successfully) loaded yet."""


_PENDING = _Pending()


def _settled(loader: DataLoader[K, V], key: K) -> V | _Pending:
    if not loader.cache:
        return _PENDING
    future = loader.cache_map.get(key)
    if future is None or not future.done() or future.cancelled() or future.exception() is not None:
        return _PENDING
    return future.result()


def is_settled(loader: DataLoader[K, V], key: K) -> bool:
    """Whether the loader holds a successfully loaded value for `key`."""
    return not isinstance(_settled(loader, key), _Pending)


def load_now(loader: DataLoader[K, V], key: K) -> Resolved[V]:
    """The loader's value for `key`: the value itself once loaded, else the batched load."""
    value = _settled(loader, key)
    if isinstance(value, _Pending):
        return loader.load(key)
    return value


def load_many_now(loader: DataLoader[K, V], keys: Iterable[K]) -> Resolved[list[V]]:
    """The loader's values for `keys`, in order: a list once all are loaded, else one batched load."""
    wanted = list(keys)
    values: list[V] = []
    for key in wanted:
        value = _settled(loader, key)
        if isinstance(value, _Pending):
            return loader.load_many(wanted)
        values.append(value)
    return values


def then(value: Resolved[T], function: Callable[[T], Resolved[R]]) -> Resolved[R]:
    """`function` applied to `value`: now if it is a value, after awaiting it if it is an awaitable.

    `function` may itself answer with an awaitable (a second lookup); the result is then one awaitable.
    """
    if inspect.isawaitable(value):
        pending = cast("Awaitable[T]", value)

        async def finish() -> R:
            result = function(await pending)
            if inspect.isawaitable(result):
                return await cast("Awaitable[R]", result)
            return cast("R", result)

        return finish()
    return function(cast("T", value))


# -- the look-ahead ---------------------------------------------------------------------------------

Selections = Sequence[Selection]


def selected(info: strawberry.Info[Any, Any]) -> list[Selection]:
    """The selections below the field being resolved."""
    return [selection for field in info.selected_fields for selection in field.selections]


def subselection(selections: Selections, *path: str) -> list[Selection] | None:
    """The selections below the fields at `path` (GraphQL names, merged across aliases and fragments);
    None when the path is not selected."""
    current: list[Selection] | None = list(selections)
    for name in path:
        if current is None:
            return None
        current = _children(current, name)
    return current


def _children(selections: Selections, name: str) -> list[Selection] | None:
    found: list[Selection] | None = None
    for selection in selections:
        if isinstance(selection, SelectedField):
            inner: list[Selection] | None = list(selection.selections) if selection.name == name else None
        else:
            inner = _children(selection.selections, name)
        if inner is not None:
            found = [*(found or []), *inner]
    return found


def _unique(ids: Iterable[str | None]) -> list[str]:
    return list(dict.fromkeys(node_id for node_id in ids if node_id is not None))


async def prefetch_features(loaders: Loaders, ids: Iterable[str], selections: Selections | None) -> None:
    """Load the features `ids` and what `selections` (a selection on Feature) asks of them."""
    wanted = _unique(ids)
    if selections is None or not wanted:
        return
    dependencies = subselection(selections, "dependencies")
    unloaded = [feature_id for feature_id in wanted if not is_settled(loaders.feature, feature_id)]
    loads: list[Awaitable[Any]] = [
        loaders.load_features_with_prerequisites(unloaded)
        if dependencies is not None and unloaded
        else loaders.feature.load_many(wanted)
    ]
    if subselection(selections, "demand") is not None:
        loads.append(loaders.demand.load_many(wanted))
    await asyncio.gather(*loads)
    features = [
        feature for feature in await loaders.feature.load_many(wanted) if feature is not None
    ]  # settled

    related: list[Awaitable[Any]] = []
    if subselection(selections, "owner") is not None:
        related.append(loaders.team.load_many(_unique(feature.team_id for feature in features)))
    if subselection(selections, "product") is not None:
        related.append(loaders.product.load_many(_unique(feature.product_id for feature in features)))
    if dependencies is not None:
        prerequisites = (dependency for feature in features for dependency in feature.depends_on)
        related.append(prefetch_features(loaders, prerequisites, dependencies))
    await asyncio.gather(*related)


async def prefetch_linked(
    loaders: Loaders,
    *,
    feature_ids: Iterable[str] = (),
    team_ids: Iterable[str | None] = (),
    selections: Selections,
) -> None:
    """For a list of items with `feature` and `team` fields (roadmap items, forecasts, deltas):
    load their features (with what is selected of them) and their teams."""
    loads: list[Awaitable[Any]] = [
        prefetch_features(loaders, feature_ids, subselection(selections, "feature"))
    ]
    teams = _unique(team_ids)
    if teams and subselection(selections, "team") is not None:
        loads.append(loaders.team.load_many(teams))
    await asyncio.gather(*loads)
