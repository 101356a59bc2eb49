"""Look-ahead for lists of nodes: load what the selection asks for before the nested fields run.

A field that hands out many nodes (a roadmap's items, a page of features) reads the selection below
it and loads, in a few batched statements through the request's DataLoaders, the related nodes it
names: the features, their owners, products, dependencies (as deep as the selection goes) and demand,
and the items' teams. The nested resolvers then find everything settled and answer synchronously
(`api.loading`); without the look-ahead they would still batch, but as hundreds of awaitables. A
relation the look-ahead does not cover loads on demand as before, so it only ever saves work.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable, Sequence
from typing import Any

import strawberry
from strawberry.types.nodes import SelectedField, Selection

from api.context import Loaders
from api.loading import is_settled

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
