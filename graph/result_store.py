"""Results of the durable workflows, stored in the graph next to the portfolio they describe.

Every result is one node keyed by the id of the workflow that produced it, written in ONE managed
write transaction, idempotently: the node is `MERGE`d on its id with `ON CREATE SET`, so a retried
write (an activity retried after a lost acknowledgement, a worker killed mid-write) never creates a
second node nor changes the first. A result node carries:

- fixed properties: `id` (workflow id), `run_id`, `workflow_type`, `snapshot_id`, `as_of`,
  `recorded_at` (the workflow's clock, UTC), `model_name`, `offline`, `headline`;
- its key figures as scalar or list properties named `fig_<name>` (searchable, e.g. `fig_arr_at_risk`);
- `cited_ids`, the graph ids its analysis cites, and a `(result)-[:CITES]->(node)` relationship to each
  of them that exists in the graph;
- the full report (engine output + analysis) as zlib-compressed, base64-encoded JSON in `report_z`,
  unless that is larger than `MAX_STORED_REPORT_CHARS` (then `report_stored` is false: the report is
  reproducible from the snapshot and the seed). Never thousands of nodes.

Roadmap versions add a lifecycle: `status` is `draft` -> `published` | `rejected` | `expired` |
`cancelled`, each version gets an increasing `version` number, and the single
`(:RoadmapHead {id: 'roadmap'})-[:CURRENT]->(:RoadmapVersion)` relationship marks the current roadmap
(mirrored in the `current` property). Publishing moves that pointer in one transaction that first
writes the head node, so concurrent publishers serialise on it: there is never more than one current
roadmap. Portfolio reviews add `(review)-[:FOLLOWS]->(previous review)` and
`(review)-[:INCLUDES]->(risk assessment)`.

All Cypher for result nodes lives here, parameterised; labels and relationship types come from
`graph.vocabulary` only. `all_result_queries()` lists it for the live tests.
"""

from __future__ import annotations

import base64
import re
import zlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any, LiteralString, TypeVar, cast

import neo4j.time
from neo4j import AsyncManagedTransaction, Record
from neo4j.exceptions import ConstraintError
from pydantic import BaseModel, Field, field_validator

from graph.queries import Query
from graph.store import GraphStore
from graph.vocabulary import PORTFOLIO_LABELS, NodeLabel, RelType

T = TypeVar("T")

MAX_STORED_REPORT_CHARS = 4_000_000
"""Largest compressed report kept on a node (base64 characters); a larger one is left out and flagged."""

ROADMAP_HEAD_ID = "roadmap"
_CONFLICT_ATTEMPTS = 4
_FIGURE_PREFIX = "fig_"
_FIGURE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")

RESULT_KINDS: tuple[NodeLabel, ...] = (
    NodeLabel.SCENARIO_ANALYSIS,
    NodeLabel.RISK_ASSESSMENT,
    NodeLabel.ROADMAP_VERSION,
    NodeLabel.PORTFOLIO_REVIEW,
)
"""Labels of result nodes, each keyed by workflow id (RoadmapHead is bookkeeping, not a result)."""

FigureValue = str | int | float | bool | date | None | list[str] | list[float]


class RoadmapStatus(StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    REJECTED = "rejected"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


CLOSING_STATUSES = frozenset({RoadmapStatus.REJECTED, RoadmapStatus.EXPIRED, RoadmapStatus.CANCELLED})


class ResultStateError(RuntimeError):
    """A result is not in a state that allows the requested change (e.g. publishing a rejected draft)."""


class ResultConflictError(RuntimeError):
    """A result with this workflow id already exists and was written by another workflow run."""


class ResultWrite(BaseModel):
    """One result as a workflow's persist activity writes it."""

    id: str = Field(min_length=1, description="The workflow id: the idempotency key.")
    run_id: str
    workflow_type: str
    snapshot_id: str
    as_of: date
    recorded_at: datetime
    model_name: str
    offline: bool
    headline: str
    figures: dict[str, FigureValue] = Field(default_factory=dict[str, FigureValue])
    cited_ids: list[str] = Field(default_factory=list[str])
    report_json: str = Field(description="The full report as JSON; stored compressed.")

    @field_validator("figures")
    @classmethod
    def _figure_names(cls, figures: dict[str, FigureValue]) -> dict[str, FigureValue]:
        for name in figures:
            if not _FIGURE_NAME.match(name):
                raise ValueError(f"figure name {name!r} must be lower_snake_case")
        return figures


class RoadmapLifecycle(BaseModel):
    status: RoadmapStatus
    version: int
    current: bool
    reviewer: str | None = None
    review_comment: str | None = None
    decided_at: datetime | None = None
    superseded_by: str | None = None


class StoredResult(BaseModel):
    """A result node read back (without its report unless asked for)."""

    label: NodeLabel
    id: str
    run_id: str
    workflow_type: str
    snapshot_id: str
    as_of: date
    recorded_at: datetime
    model_name: str
    offline: bool
    headline: str
    figures: dict[str, FigureValue]
    cited_ids: list[str]
    cited_in_graph: list[str] = Field(description="Cited ids the graph holds: targets of CITES, sorted.")
    report_chars: int = Field(description="Length of the full report JSON.")
    report_stored: bool
    report_json: str | None = None
    roadmap: RoadmapLifecycle | None = None
    previous_review_id: str | None = None
    risk_assessment_id: str | None = None


# -- Cypher ----------------------------------------------------------------------------------------

_REGISTRY: dict[str, Query] = {}


def _define(name: str, text: str) -> Query:
    if name in _REGISTRY:
        raise ValueError(f"query {name!r} is defined twice")
    query = Query(name=name, text=" ".join(text.split()))
    _REGISTRY[name] = query
    return query


def all_result_queries() -> tuple[Query, ...]:
    return tuple(_REGISTRY.values())


_HEAD = NodeLabel.ROADMAP_HEAD.value
_VERSION = NodeLabel.ROADMAP_VERSION.value
_REVIEW = NodeLabel.PORTFOLIO_REVIEW.value
_RISK = NodeLabel.RISK_ASSESSMENT.value
_CITES = RelType.CITES.value
_CURRENT = RelType.CURRENT.value
_FOLLOWS = RelType.FOLLOWS.value
_INCLUDES = RelType.INCLUDES.value

MERGE_RESULT: dict[NodeLabel, Query] = {
    label: _define(
        f"results.merge.{label.value}",
        f"MERGE (r:{label.value} {{id: $id}}) ON CREATE SET r += $props RETURN r.run_id AS run_id",
    )
    for label in RESULT_KINDS
}
CITE: dict[tuple[NodeLabel, NodeLabel], Query] = {
    (label, target): _define(
        f"results.cite.{label.value}.{target.value}",
        f"MATCH (r:{label.value} {{id: $id}}) UNWIND $ids AS cited_id "
        f"MATCH (n:{target.value} {{id: cited_id}}) MERGE (r)-[:{_CITES}]->(n)",
    )
    for label in RESULT_KINDS
    for target in PORTFOLIO_LABELS
}
GET_RESULT: dict[NodeLabel, Query] = {
    label: _define(
        f"results.get.{label.value}",
        f"MATCH (r:{label.value} {{id: $id}}) OPTIONAL MATCH (r)-[:{_CITES}]->(n) "
        "RETURN properties(r) AS props, collect(n.id) AS cited",
    )
    for label in RESULT_KINDS
}
LIST_RESULTS: dict[NodeLabel, Query] = {
    label: _define(
        f"results.list.{label.value}",
        f"MATCH (r:{label.value}) RETURN r {{.*, report_z: null}} AS props "
        "ORDER BY r.recorded_at DESC, r.id DESC LIMIT $limit",
    )
    for label in RESULT_KINDS
}
PAGE_RESULTS: dict[NodeLabel, Query] = {
    label: _define(
        f"results.page.{label.value}",
        f"OPTIONAL MATCH (a:{label.value} {{id: $after}}) WITH a "
        f"MATCH (r:{label.value}) WHERE ($status IS NULL OR r.status = $status) "
        "AND ($after IS NULL OR (a IS NOT NULL AND (r.recorded_at < a.recorded_at "
        "OR (r.recorded_at = a.recorded_at AND r.id < a.id)))) "
        "RETURN r {.*, report_z: null} AS props ORDER BY r.recorded_at DESC, r.id DESC LIMIT $limit",
    )
    for label in RESULT_KINDS
}
COUNT_ALL_RESULTS: dict[NodeLabel, Query] = {
    label: _define(
        f"results.count_all.{label.value}",
        f"MATCH (r:{label.value}) WHERE $status IS NULL OR r.status = $status RETURN count(r) AS count",
    )
    for label in RESULT_KINDS
}
COUNT_RESULT: dict[NodeLabel, Query] = {
    label: _define(
        f"results.count.{label.value}", f"MATCH (r:{label.value} {{id: $id}}) RETURN count(r) AS count"
    )
    for label in RESULT_KINDS
}
DELETE_RESULTS: dict[NodeLabel, Query] = {
    label: _define(
        f"results.delete_all.{label.value}",
        f"MATCH (r:{label.value}) DETACH DELETE r RETURN count(*) AS deleted",
    )
    for label in (*RESULT_KINDS, NodeLabel.ROADMAP_HEAD)
}

LOCK_ROADMAP_HEAD = _define(
    "results.roadmap.lock_head",
    f"MERGE (h:{_HEAD} {{id: $head}}) SET h.touched_by = $id, h.touched_at = $at RETURN h.id AS id",
)
LATEST_ROADMAP_VERSION = _define(
    "results.roadmap.latest_version",
    f"MATCH (v:{_VERSION}) RETURN coalesce(max(v.version), 0) AS latest",
)
ROADMAP_STATE = _define(
    "results.roadmap.state",
    f"MATCH (v:{_VERSION} {{id: $id}}) RETURN v.status AS status, v.version AS version",
)
SET_DRAFT_VERSION = _define(
    "results.roadmap.set_draft_version",
    f"MATCH (v:{_VERSION} {{id: $id}}) WHERE v.version IS NULL "
    "SET v.version = $version, v.status = $status, v.current = false RETURN v.id AS id",
)
RETIRE_CURRENT_ROADMAP = _define(
    "results.roadmap.retire_current",
    f"MATCH (h:{_HEAD} {{id: $head}})-[c:{_CURRENT}]->(old:{_VERSION}) "
    "SET old.current = false, old.superseded_by = $id, old.superseded_at = $at DELETE c RETURN old.id AS id",
)
PUBLISH_ROADMAP = _define(
    "results.roadmap.publish",
    f"MATCH (h:{_HEAD} {{id: $head}}) MATCH (v:{_VERSION} {{id: $id}}) "
    "SET v.status = $status, v.current = true, v.reviewer = $reviewer, v.review_comment = $comment, "
    f"v.decided_at = $at CREATE (h)-[:{_CURRENT}]->(v) RETURN v.id AS id",
)
CLOSE_ROADMAP = _define(
    "results.roadmap.close",
    f"MATCH (v:{_VERSION} {{id: $id}}) SET v.status = $status, v.reviewer = $reviewer, "
    "v.review_comment = $comment, v.decided_at = $at RETURN v.id AS id",
)
CURRENT_ROADMAP = _define(
    "results.roadmap.current",
    f"MATCH (:{_HEAD} {{id: $head}})-[:{_CURRENT}]->(v:{_VERSION}) RETURN v.id AS id",
)
COUNT_CURRENT_ROADMAPS = _define(
    "results.roadmap.count_current",
    f"MATCH (v:{_VERSION}) WHERE v.current = true WITH count(v) AS flagged "
    f"OPTIONAL MATCH (:{_HEAD})-[c:{_CURRENT}]->() RETURN flagged, count(c) AS pointers",
)
PREVIOUS_REVIEW = _define(
    "results.review.previous",
    f"MATCH (r:{_REVIEW}) WHERE r.id <> $id AND r.recorded_at <= $at "
    "RETURN r.id AS id ORDER BY r.recorded_at DESC, r.id DESC LIMIT 1",
)
LINK_PREVIOUS_REVIEW = _define(
    "results.review.link_previous",
    f"MATCH (r:{_REVIEW} {{id: $id}}) MATCH (p:{_REVIEW} {{id: $previous}}) MERGE (r)-[:{_FOLLOWS}]->(p)",
)
LINK_REVIEW_RISK = _define(
    "results.review.link_risk",
    f"MATCH (r:{_REVIEW} {{id: $id}}) MATCH (a:{_RISK} {{id: $risk}}) MERGE (r)-[:{_INCLUDES}]->(a)",
)
REVIEW_LINKS = _define(
    "results.review.links",
    f"MATCH (r:{_REVIEW} {{id: $id}}) OPTIONAL MATCH (r)-[:{_FOLLOWS}]->(p:{_REVIEW}) "
    f"OPTIONAL MATCH (r)-[:{_INCLUDES}]->(a:{_RISK}) RETURN collect(p.id) AS previous, collect(a.id) AS risk",
)


# -- encoding --------------------------------------------------------------------------------------


def compress_report(report_json: str) -> str:
    return base64.b64encode(zlib.compress(report_json.encode(), 6)).decode("ascii")


def decompress_report(stored: str) -> str:
    return zlib.decompress(base64.b64decode(stored)).decode()


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _native(value: Any) -> Any:
    if isinstance(value, neo4j.time.DateTime):
        return _utc(value.to_native())
    if isinstance(value, neo4j.time.Date):
        return value.to_native()
    if isinstance(value, list):
        return [_native(item) for item in cast(list[Any], value)]
    return value


def _result_properties(write: ResultWrite) -> dict[str, Any]:
    compressed = compress_report(write.report_json)
    stored = len(compressed) <= MAX_STORED_REPORT_CHARS
    properties: dict[str, Any] = {
        "run_id": write.run_id,
        "workflow_type": write.workflow_type,
        "snapshot_id": write.snapshot_id,
        "as_of": write.as_of,
        "recorded_at": _utc(write.recorded_at),
        "model_name": write.model_name,
        "offline": write.offline,
        "headline": write.headline,
        "cited_ids": sorted(set(write.cited_ids)),
        "report_chars": len(write.report_json),
        "report_stored": stored,
    }
    if stored:
        properties["report_z"] = compressed
    for name, value in write.figures.items():
        if value is not None:  # a property set to null does not exist in Cypher
            properties[_FIGURE_PREFIX + name] = value
    return properties


def stored_result_from_properties(
    label: NodeLabel, raw: Mapping[str, Any], cited_in_graph: Sequence[str], *, with_report: bool
) -> StoredResult:
    """A result node's properties (as read from the graph) decoded; `cited_in_graph` are the ids its CITES
    edges reach. `with_report=False` leaves the report out (the properties may then lack `report_z`)."""
    props = {key: _native(value) for key, value in raw.items()}
    figures = {
        key.removeprefix(_FIGURE_PREFIX): value
        for key, value in props.items()
        if key.startswith(_FIGURE_PREFIX)
    }
    report_z = props.get("report_z")
    roadmap = None
    if label is NodeLabel.ROADMAP_VERSION and props.get("version") is not None:
        roadmap = RoadmapLifecycle(
            status=RoadmapStatus(props["status"]),
            version=int(props["version"]),
            current=bool(props.get("current", False)),
            reviewer=props.get("reviewer"),
            review_comment=props.get("review_comment"),
            decided_at=props.get("decided_at"),
            superseded_by=props.get("superseded_by"),
        )
    return StoredResult(
        label=label,
        id=props["id"],
        run_id=props["run_id"],
        workflow_type=props["workflow_type"],
        snapshot_id=props["snapshot_id"],
        as_of=props["as_of"],
        recorded_at=props["recorded_at"],
        model_name=props["model_name"],
        offline=props["offline"],
        headline=props["headline"],
        figures=figures,
        cited_ids=list(props.get("cited_ids") or []),
        cited_in_graph=sorted(cited_in_graph),
        report_chars=int(props["report_chars"]),
        report_stored=bool(props["report_stored"]),
        report_json=decompress_report(report_z) if with_report and isinstance(report_z, str) else None,
        roadmap=roadmap,
    )


# -- the store -------------------------------------------------------------------------------------


class ResultStore:
    """Reads and writes result nodes on a `GraphStore`'s driver and database. Managed transactions only."""

    def __init__(self, store: GraphStore, *, query_observer: Callable[[Query], None] | None = None) -> None:
        self._graph = store
        self._query_observer = query_observer

    async def _records(self, tx: AsyncManagedTransaction, query: Query, **params: Any) -> list[Record]:
        if self._query_observer is not None:
            self._query_observer(query)
        result = await tx.run(cast(LiteralString, query.text), params)
        return [record async for record in result]

    async def _read(self, work: Callable[[AsyncManagedTransaction], Awaitable[T]]) -> T:
        async with self._graph.driver.session(database=self._graph.database) as session:
            return await session.execute_read(work)

    async def _write(self, work: Callable[[AsyncManagedTransaction], Awaitable[T]]) -> T:
        """One write transaction; a unique-key race on MERGE (ConstraintError) re-runs the whole unit."""
        attempt = 1
        while True:
            try:
                async with self._graph.driver.session(database=self._graph.database) as session:
                    return await session.execute_write(work)
            except ConstraintError:
                if attempt == _CONFLICT_ATTEMPTS:
                    raise
                attempt += 1

    async def _merge_result(self, tx: AsyncManagedTransaction, label: NodeLabel, write: ResultWrite) -> None:
        """MERGE the node and its CITES; raises when the node exists but another run wrote it."""
        records = await self._records(tx, MERGE_RESULT[label], id=write.id, props=_result_properties(write))
        stored_run = records[0]["run_id"]
        if stored_run != write.run_id:
            raise ResultConflictError(
                f"{label.value} {write.id!r} was written by run {stored_run!r}, not {write.run_id!r}"
            )
        cited = sorted(set(write.cited_ids))
        if cited:
            for target in PORTFOLIO_LABELS:
                await self._records(tx, CITE[(label, target)], id=write.id, ids=cited)

    async def save_result(self, label: NodeLabel, write: ResultWrite) -> StoredResult:
        """Write a scenario analysis or risk assessment (idempotent); returns what the graph holds."""
        if label not in (NodeLabel.SCENARIO_ANALYSIS, NodeLabel.RISK_ASSESSMENT):
            raise ValueError(f"use the dedicated method for {label.value}")

        async def work(tx: AsyncManagedTransaction) -> None:
            await self._merge_result(tx, label, write)

        await self._write(work)
        return await self._require(label, write.id)

    async def get_result(
        self, label: NodeLabel, result_id: str, *, with_report: bool = False
    ) -> StoredResult | None:
        async def work(tx: AsyncManagedTransaction) -> StoredResult | None:
            records = await self._records(tx, GET_RESULT[label], id=result_id)
            if not records:
                return None
            result = stored_result_from_properties(
                label, records[0]["props"], records[0]["cited"], with_report=with_report
            )
            if label is NodeLabel.PORTFOLIO_REVIEW:
                links = (await self._records(tx, REVIEW_LINKS, id=result_id))[0]
                result.previous_review_id = next(iter(links["previous"]), None)
                result.risk_assessment_id = next(iter(links["risk"]), None)
            return result

        return await self._read(work)

    async def _require(self, label: NodeLabel, result_id: str) -> StoredResult:
        result = await self.get_result(label, result_id)
        if result is None:
            raise ResultStateError(f"{label.value} {result_id!r} is not in the graph")
        return result

    async def list_results(self, label: NodeLabel, *, limit: int = 50) -> list[StoredResult]:
        """The most recent results of a kind, newest first, without reports or cited-node lookups."""

        async def work(tx: AsyncManagedTransaction) -> list[Record]:
            return await self._records(tx, LIST_RESULTS[label], limit=limit)

        records = await self._read(work)
        return [
            stored_result_from_properties(label, record["props"], [], with_report=False) for record in records
        ]

    async def page_results(
        self, label: NodeLabel, *, limit: int, after: str | None = None, status: str | None = None
    ) -> list[StoredResult]:
        """Like `list_results`, from the result after the one with id `after` (none if it is gone), and
        only roadmap versions of `status` when given."""

        async def work(tx: AsyncManagedTransaction) -> list[Record]:
            return await self._records(tx, PAGE_RESULTS[label], limit=limit, after=after, status=status)

        records = await self._read(work)
        return [
            stored_result_from_properties(label, record["props"], [], with_report=False) for record in records
        ]

    async def count_all_results(self, label: NodeLabel, *, status: str | None = None) -> int:
        """How many results of a kind the graph holds (roadmap versions: of `status` when given)."""

        async def work(tx: AsyncManagedTransaction) -> int:
            return int((await self._records(tx, COUNT_ALL_RESULTS[label], status=status))[0]["count"])

        return await self._read(work)

    async def count_results(self, label: NodeLabel, result_id: str) -> int:
        """How many result nodes carry this id: 1 after any number of retried writes."""

        async def work(tx: AsyncManagedTransaction) -> int:
            return int((await self._records(tx, COUNT_RESULT[label], id=result_id))[0]["count"])

        return await self._read(work)

    async def delete_all_results(self) -> int:
        """Remove every result node and its relationships (tests and resets); returns how many."""
        deleted = 0
        for query in DELETE_RESULTS.values():

            async def work(tx: AsyncManagedTransaction, query: Query = query) -> int:
                return int((await self._records(tx, query))[0]["deleted"])

            deleted += await self._write(work)
        return deleted

    # -- roadmap versions ---------------------------------------------------------------------------

    async def save_roadmap_draft(self, write: ResultWrite) -> StoredResult:
        """Store a drafted roadmap as the next version, status `draft` (idempotent: a retry keeps the version)."""

        async def work(tx: AsyncManagedTransaction) -> None:
            await self._records(
                tx, LOCK_ROADMAP_HEAD, head=ROADMAP_HEAD_ID, id=write.id, at=_utc(write.recorded_at)
            )
            await self._merge_result(tx, NodeLabel.ROADMAP_VERSION, write)
            latest = int((await self._records(tx, LATEST_ROADMAP_VERSION))[0]["latest"])
            await self._records(
                tx, SET_DRAFT_VERSION, id=write.id, version=latest + 1, status=RoadmapStatus.DRAFT.value
            )

        await self._write(work)
        return await self._require(NodeLabel.ROADMAP_VERSION, write.id)

    async def publish_roadmap(
        self, version_id: str, *, reviewer: str, comment: str, at: datetime
    ) -> StoredResult:
        """Make a draft the one current roadmap; the previous current version is superseded.

        Publishing an already published version is a no-op (a retried activity); any other state raises
        `ResultStateError`.
        """

        async def work(tx: AsyncManagedTransaction) -> None:
            await self._records(tx, LOCK_ROADMAP_HEAD, head=ROADMAP_HEAD_ID, id=version_id, at=_utc(at))
            status = await self._roadmap_status(tx, version_id)
            if status is RoadmapStatus.PUBLISHED:
                return
            if status is not RoadmapStatus.DRAFT:
                raise ResultStateError(f"roadmap version {version_id!r} is {status.value}, not a draft")
            await self._records(tx, RETIRE_CURRENT_ROADMAP, head=ROADMAP_HEAD_ID, id=version_id, at=_utc(at))
            await self._records(
                tx,
                PUBLISH_ROADMAP,
                head=ROADMAP_HEAD_ID,
                id=version_id,
                status=RoadmapStatus.PUBLISHED.value,
                reviewer=reviewer,
                comment=comment,
                at=_utc(at),
            )

        await self._write(work)
        return await self._require(NodeLabel.ROADMAP_VERSION, version_id)

    async def close_roadmap_draft(
        self,
        version_id: str,
        status: RoadmapStatus,
        *,
        reviewer: str | None,
        comment: str | None,
        at: datetime,
    ) -> StoredResult:
        """Mark a draft rejected, expired or cancelled; closing it again with the same status is a no-op."""
        if status not in CLOSING_STATUSES:
            raise ValueError(f"{status.value} does not close a draft")

        async def work(tx: AsyncManagedTransaction) -> None:
            current = await self._roadmap_status(tx, version_id)
            if current is status:
                return
            if current is not RoadmapStatus.DRAFT:
                raise ResultStateError(f"roadmap version {version_id!r} is {current.value}, not a draft")
            await self._records(
                tx,
                CLOSE_ROADMAP,
                id=version_id,
                status=status.value,
                reviewer=reviewer,
                comment=comment,
                at=_utc(at),
            )

        await self._write(work)
        return await self._require(NodeLabel.ROADMAP_VERSION, version_id)

    async def _roadmap_status(self, tx: AsyncManagedTransaction, version_id: str) -> RoadmapStatus:
        records = await self._records(tx, ROADMAP_STATE, id=version_id)
        if not records or records[0]["status"] is None:
            raise ResultStateError(f"roadmap version {version_id!r} is not in the graph")
        return RoadmapStatus(records[0]["status"])

    async def current_roadmap(self) -> StoredResult | None:
        async def work(tx: AsyncManagedTransaction) -> str | None:
            records = await self._records(tx, CURRENT_ROADMAP, head=ROADMAP_HEAD_ID)
            return records[0]["id"] if records else None

        version_id = await self._read(work)
        return None if version_id is None else await self.get_result(NodeLabel.ROADMAP_VERSION, version_id)

    async def current_roadmap_markers(self) -> tuple[int, int]:
        """(versions flagged current, CURRENT pointers): both are 1 once a roadmap is published, else 0."""

        async def work(tx: AsyncManagedTransaction) -> tuple[int, int]:
            record = (await self._records(tx, COUNT_CURRENT_ROADMAPS))[0]
            return int(record["flagged"]), int(record["pointers"])

        return await self._read(work)

    # -- portfolio reviews ------------------------------------------------------------------------

    async def previous_review(self, review_id: str, recorded_at: datetime) -> StoredResult | None:
        """The most recent review recorded at or before `recorded_at`, other than `review_id`."""

        async def work(tx: AsyncManagedTransaction) -> str | None:
            records = await self._records(tx, PREVIOUS_REVIEW, id=review_id, at=_utc(recorded_at))
            return records[0]["id"] if records else None

        previous_id = await self._read(work)
        return None if previous_id is None else await self.get_result(NodeLabel.PORTFOLIO_REVIEW, previous_id)

    async def save_review(
        self, write: ResultWrite, *, previous_review_id: str | None, risk_assessment_id: str | None
    ) -> StoredResult:
        """Write a portfolio review with its FOLLOWS and INCLUDES links, in one transaction (idempotent)."""

        async def work(tx: AsyncManagedTransaction) -> None:
            await self._merge_result(tx, NodeLabel.PORTFOLIO_REVIEW, write)
            if previous_review_id is not None:
                await self._records(tx, LINK_PREVIOUS_REVIEW, id=write.id, previous=previous_review_id)
            if risk_assessment_id is not None:
                await self._records(tx, LINK_REVIEW_RISK, id=write.id, risk=risk_assessment_id)

        await self._write(work)
        return await self._require(NodeLabel.PORTFOLIO_REVIEW, write.id)
