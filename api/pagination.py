"""Relay-style cursor connections over the graph's keyset pages (`graph.api_queries.ApiQueries.page`).

Cursors are opaque to clients: base64 of the node id. Pages hold at most `ApiSettings.max_page_size`
items; asking for more is an error, not a silent clamp, so a client never mistakes a capped page
for the whole list.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

import strawberry

from api.errors import UserInputError
from api.settings import ApiSettings
from graph.api_queries import Page, PageRequest

NodeT = TypeVar("NodeT")
ItemT = TypeVar("ItemT")

_CURSOR_PREFIX = "id:"


def encode_cursor(node_id: str) -> str:
    return base64.urlsafe_b64encode(f"{_CURSOR_PREFIX}{node_id}".encode()).decode()


def decode_cursor(cursor: str, argument: str) -> str:
    try:
        text = base64.urlsafe_b64decode(cursor.encode()).decode()
    except (binascii.Error, UnicodeError, ValueError):
        text = ""
    if not text.startswith(_CURSOR_PREFIX) or len(text) == len(_CURSOR_PREFIX):
        raise UserInputError(f"`{argument}` is not a cursor this API issued")
    return text[len(_CURSOR_PREFIX) :]


def page_request(
    settings: ApiSettings,
    *,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
) -> PageRequest:
    """Check the Relay arguments: `first`/`after` pages forward, `last`/`before` backward."""
    cap = settings.max_page_size
    if first is not None and last is not None:
        raise UserInputError("pass `first` or `last`, not both")
    for name, value in (("first", first), ("last", last)):
        if value is not None and not 0 <= value <= cap:
            raise UserInputError(f"`{name}` must be between 0 and {cap}")
    if last is not None or (before is not None and first is None):
        if after is not None:
            raise UserInputError("`after` pages forward; use it with `first`, not `last`")
        return PageRequest(
            limit=last if last is not None else settings.default_page_size,
            before=decode_cursor(before, "before") if before is not None else None,
            backward=True,
        )
    if before is not None:
        raise UserInputError("`before` pages backward; use it with `last`, not `first`")
    return PageRequest(
        limit=first if first is not None else settings.default_page_size,
        after=decode_cursor(after, "after") if after is not None else None,
    )


@strawberry.type(description="Where a page sits in the whole list (Relay PageInfo).")
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type
class Edge(Generic[NodeT]):
    cursor: str
    node: NodeT


@strawberry.type(description="A page of a list, with cursors to move on from it.")
class Connection(Generic[NodeT]):
    edges: list[Edge[NodeT]]
    page_info: PageInfo
    count_all: strawberry.Private[Callable[[], Awaitable[int]]]

    @strawberry.field(description="The nodes of this page, without cursors.")
    def nodes(self) -> list[NodeT]:
        return [edge.node for edge in self.edges]

    @strawberry.field(description="How many items the whole filtered list holds (one extra query).")
    async def total_count(self) -> int:
        return await self.count_all()


def connection(
    page: Page[ItemT],
    *,
    node_id: Callable[[ItemT], str],
    to_node: Callable[[ItemT], NodeT],
    count_all: Callable[[], Awaitable[int]],
) -> Connection[NodeT]:
    items: Sequence[ItemT] = page.items
    edges = [Edge(cursor=encode_cursor(node_id(item)), node=to_node(item)) for item in items]
    return Connection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=page.has_next_page,
            has_previous_page=page.has_previous_page,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
        count_all=count_all,
    )
