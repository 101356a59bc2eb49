"""Relay-style cursor connections over the graph's keyset pages (`graph.entity_reads.EntityReads.page`).

Cursors are opaque to clients: base64 of the node id. Pages hold at most `ApiSettings.max_page_size`
items; asking for more is an error, not a silent clamp, so a client never mistakes a capped page
for the whole list.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable, Sequence
from typing import Annotated, Generic, TypeVar

import strawberry

from api.errors import UserInputError
from api.settings import ApiSettings
from graph.entity_reads import Page, PageRequest

NodeT = TypeVar("NodeT")
ItemT = TypeVar("ItemT")

_CURSOR_PREFIX = "id:"

FirstArgument = Annotated[
    int | None,
    strawberry.argument(
        description="Page forward: at most this many items, after `after` (0 to the API's page cap, 100 by "
        "default; default 20)."
    ),
]
AfterArgument = Annotated[
    str | None,
    strawberry.argument(description="A cursor from this list: the page starts after its item."),
]
LastArgument = Annotated[
    int | None,
    strawberry.argument(
        description="Page backward: at most this many items, before `before` (0 to the page cap); not with "
        "`first`."
    ),
]
BeforeArgument = Annotated[
    str | None,
    strawberry.argument(description="A cursor from this list: the page ends before its item (with `last`)."),
]


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


def forward_limit(settings: ApiSettings, first: int | None, cap: int | None = None) -> int:
    """The checked page size of a list that only pages forward (`first`/`after`)."""
    cap = cap if cap is not None else settings.max_page_size
    if first is not None and not 0 <= first <= cap:
        raise UserInputError(f"`first` must be between 0 and {cap}")
    return min(first if first is not None else settings.default_page_size, cap)


_TOKEN_PREFIX = "page:"


def encode_token_cursor(token: bytes | None, skip: int) -> str:
    """A cursor over a list that a service pages with its own tokens (Temporal's run list): the token
    of the page the item is on (None: the first page) and how many items of that page come up to it."""
    opaque = base64.urlsafe_b64encode(token or b"").decode()
    return base64.urlsafe_b64encode(f"{_TOKEN_PREFIX}{skip}:{opaque}".encode()).decode()


def decode_token_cursor(cursor: str, argument: str) -> tuple[bytes | None, int]:
    try:
        text = base64.urlsafe_b64decode(cursor.encode()).decode()
        skip, opaque = text.removeprefix(_TOKEN_PREFIX).split(":", 1)
        token = base64.urlsafe_b64decode(opaque.encode())
        if not text.startswith(_TOKEN_PREFIX) or not skip.isdigit():
            raise ValueError(text)
    except (binascii.Error, UnicodeError, ValueError):
        raise UserInputError(f"`{argument}` is not a cursor this API issued") from None
    return token or None, int(skip)


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
    has_next_page: bool = strawberry.field(
        description="True when more items follow this page: pass `endCursor` as `after` to get them."
    )
    has_previous_page: bool = strawberry.field(
        description="True when items come before this page: pass `startCursor` as `before` (with `last`) "
        "where the list pages backward."
    )
    start_cursor: str | None = strawberry.field(
        description="The cursor of the page's first item; null for an empty page."
    )
    end_cursor: str | None = strawberry.field(
        description="The cursor of the page's last item; null for an empty page."
    )


@strawberry.type(description="One item of a page and its cursor.")
class Edge(Generic[NodeT]):
    cursor: str = strawberry.field(
        description="Opaque: pass it as `after` (or `before`) to page on from this item."
    )
    node: NodeT = strawberry.field(description="The item.")


@strawberry.type(description="A page of a list, with cursors to move on from it.")
class Connection(Generic[NodeT]):
    edges: list[Edge[NodeT]] = strawberry.field(
        description="The page's items with their cursors, in list order."
    )
    page_info: PageInfo = strawberry.field(description="Where the page sits in the whole list.")
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
