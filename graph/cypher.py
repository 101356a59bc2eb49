"""The one way Lodestar talks to the graph: named Cypher statements and the runner that sends them.

- `Statements`: the statements of one module, each `define`d under a name unique across all of them
  (`all_statements()` lists every one). Texts are normalised to single spaces. User data only ever
  travels as `$parameters`.
- `native` / `utc`: driver values as Python values (neo4j temporal types become `date` and UTC
  `datetime`), and datetimes as UTC before they are written.
- `CypherRunner`: managed units of work on one database of an async driver. Reads go through
  `execute_read`, writes through `execute_write`, which retries `TransientError` (ArcadeDB's
  optimistic locking); a `ConstraintError` from concurrent `MERGE`s on a unique key (ArcadeDB raises
  it where Neo4j would not) re-runs the whole unit too. Every statement is reported to the runner's
  observer before it is sent; `fetch`/`send` run one statement in a transaction of its own inside an
  OpenTelemetry span (`graph.query <name>`) and count it in `round_trips`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, LiteralString, TypeVar, cast

import neo4j.time
from neo4j import AsyncDriver, AsyncManagedTransaction, AsyncResult, AsyncSession, Record
from neo4j.exceptions import ConstraintError
from opentelemetry import trace
from opentelemetry.trace import SpanKind

T = TypeVar("T")

CONFLICT_ATTEMPTS = 4
"""Runs of a write unit that keeps failing with `ConstraintError` before the error is raised."""


@dataclass(frozen=True)
class Query:
    """One Cypher statement and the name it is reported and traced under."""

    name: str
    text: str


QueryObserver = Callable[[Query], None]
UnitOfWork = Callable[[AsyncManagedTransaction], Awaitable[T]]

_DEFINED: dict[str, Query] = {}


class Statements:
    """The statements one module defines, in definition order; `prefix` starts each of their names."""

    def __init__(self, prefix: str = "") -> None:
        self._prefix = prefix
        self._queries: list[Query] = []

    def define(self, name: str, text: str) -> Query:
        query = Query(name=self._prefix + name, text=" ".join(text.split()))
        if query.name in _DEFINED:
            raise ValueError(f"query {query.name!r} is defined twice")
        _DEFINED[query.name] = query
        self._queries.append(query)
        return query

    def __iter__(self) -> Iterator[Query]:
        return iter(tuple(self._queries))


def all_statements() -> tuple[Query, ...]:
    """Every statement of every module that has been imported."""
    return tuple(_DEFINED.values())


# -- values ----------------------------------------------------------------------------------------


def utc(value: datetime) -> datetime:
    """`value` in UTC; a naive datetime is taken to be UTC already."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def native(value: object) -> Any:
    """A value as read from the driver, in Python types: `Date` -> `date`, `DateTime` -> UTC `datetime`."""
    if isinstance(value, neo4j.time.DateTime):
        return utc(value.to_native())
    if isinstance(value, neo4j.time.Date):
        return value.to_native()
    if isinstance(value, list):
        return [native(item) for item in cast(list[object], value)]
    return value


def native_properties(properties: Mapping[str, object]) -> dict[str, Any]:
    """Stored properties as Python values; null ones left out."""
    return {name: native(value) for name, value in properties.items() if value is not None}


# -- running statements ----------------------------------------------------------------------------


async def finish_even_if_cancelled(work: Coroutine[Any, Any, T]) -> T:
    """Await `work` in a task of its own that a cancellation of the caller does not interrupt.

    Cancelling a statement in flight makes the async neo4j driver drop its connection without closing
    the socket; GraphQL cancels sibling resolvers when a field fails, and requests time out. The
    statement finishes instead (statements are short) and its connection goes back to the pool.
    """
    task = asyncio.ensure_future(work)
    task.add_done_callback(_retrieve_outcome)
    return await asyncio.shield(task)


def _retrieve_outcome(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()  # an abandoned task's error is not reported as "never retrieved"


_tracer = trace.get_tracer("lodestar.graph")


class CypherRunner:
    """Managed transactions on one database of an async driver."""

    def __init__(
        self, driver: AsyncDriver, database: str = "neo4j", *, observer: QueryObserver | None = None
    ) -> None:
        self.driver = driver
        self.database = database
        self.observer = observer
        self.round_trips = 0
        """Statements sent through `fetch`, `send` and `fetch_after`."""

    async def run(self, tx: AsyncManagedTransaction, query: Query, **params: Any) -> AsyncResult:
        if self.observer is not None:
            self.observer(query)
        return await tx.run(cast(LiteralString, query.text), params)

    async def records(self, tx: AsyncManagedTransaction, query: Query, **params: Any) -> list[Record]:
        return [record async for record in await self.run(tx, query, **params)]

    def _session(self) -> AsyncSession:
        return self.driver.session(database=self.database)  # pyright: ignore[reportUnknownMemberType] - the driver leaves **config untyped

    async def read(self, work: UnitOfWork[T]) -> T:
        async with self._session() as session:
            return await session.execute_read(work)

    async def write(self, work: UnitOfWork[T], *, conflict_attempts: int = CONFLICT_ATTEMPTS) -> T:
        """One write transaction; a unique-key race on MERGE (`ConstraintError`) re-runs the whole unit."""
        attempt = 1
        while True:
            try:
                async with self._session() as session:
                    return await session.execute_write(work)
            except ConstraintError:
                if attempt >= conflict_attempts:
                    raise
                attempt += 1

    async def fetch(self, query: Query, **params: Any) -> list[Record]:
        """`query`'s records, read in a transaction of its own."""
        return (await self._statement(query, params, write=False))[-1]

    async def send(self, query: Query, **params: Any) -> list[Record]:
        """`query`'s records, written in a transaction of its own."""
        return (await self._statement(query, params, write=True))[-1]

    async def fetch_after(
        self, first: Query, query: Query, **params: Any
    ) -> tuple[list[Record], list[Record]]:
        """The records of `first` (run without parameters) and of `query`, read in the same transaction."""
        read = await self._statement(query, params, write=False, first=first)
        return read[0], read[1]

    async def _statement(
        self, query: Query, params: dict[str, Any], *, write: bool, first: Query | None = None
    ) -> list[list[Record]]:
        self.round_trips += 1

        async def work(tx: AsyncManagedTransaction) -> list[list[Record]]:
            read: list[list[Record]] = []
            if first is not None:
                read.append(await self.records(tx, first))
            read.append(await self.records(tx, query, **params))
            return read

        async def traced() -> list[list[Record]]:
            attributes = {
                "db.system.name": "neo4j",
                "db.namespace": self.database,
                "db.operation.name": query.name,
            }
            with _tracer.start_as_current_span(
                f"graph.query {query.name}", kind=SpanKind.CLIENT, attributes=attributes
            ):
                if write:
                    return await self.write(work, conflict_attempts=1)
                return await self.read(work)

        return await finish_even_if_cancelled(traced())


class CypherClient:
    """A reader or writer of the graph that sends its statements through `cypher`."""

    def __init__(self, cypher: CypherRunner) -> None:
        self.cypher = cypher

    @property
    def driver(self) -> AsyncDriver:
        return self.cypher.driver

    @property
    def database(self) -> str:
        return self.cypher.database
