"""Nested fields that answer at once when the request's DataLoaders already hold their data.

graphql-core completes a plain value in place, but every awaitable a resolver returns costs it a
coroutine, a task and a gather. For a page of 100 roadmap items with their features, owners,
dependencies and demand that is several hundred awaitables and most of the request's CPU time.
So the resolvers of related nodes are plain functions returning `Resolved[T]`: the value itself when
the loader's cache has it settled (primed from a page, or prefetched by `api.prefetch` before the
nested fields run), otherwise the loader's awaitable, which batches as usual (no N+1 either way).

Such a resolver declares its GraphQL type with `strawberry.field(graphql_type=...)`, since its
annotation also admits the awaitable.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Hashable, Iterable
from typing import TypeVar, Union, cast

from strawberry.dataloader import DataLoader

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
