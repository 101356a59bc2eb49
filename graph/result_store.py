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

The Cypher for result nodes is in `graph.result_statements`; it runs through `graph.cypher.CypherRunner`.
"""

from __future__ import annotations

import base64
import re
import zlib
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from neo4j import AsyncManagedTransaction, Record
from pydantic import BaseModel, Field, field_validator

from graph.cypher import CypherRunner, Query, QueryObserver, native, utc
from graph.result_statements import (
    CITE,
    CLOSE_ROADMAP,
    COUNT_ALL_RESULTS,
    COUNT_CURRENT_ROADMAPS,
    COUNT_RESULT,
    CURRENT_ROADMAP,
    DELETE_RESULTS,
    GET_RESULT,
    LATEST_ROADMAP_VERSION,
    LINK_PREVIOUS_REVIEW,
    LINK_REVIEW_RISK,
    LOCK_ROADMAP_HEAD,
    MERGE_RESULT,
    PAGE_RESULTS,
    PREVIOUS_REVIEW,
    PUBLISH_ROADMAP,
    RETIRE_CURRENT_ROADMAP,
    REVIEW_LINKS,
    ROADMAP_STATE,
    SET_DRAFT_VERSION,
)
from graph.result_statements import RESULT_KINDS as RESULT_KINDS  # re-exported for the store's users
from graph.store import GraphStore
from graph.vocabulary import PORTFOLIO_LABELS, NodeLabel

MAX_STORED_REPORT_CHARS = 4_000_000
"""Largest compressed report kept on a node (base64 characters); a larger one is left out and flagged."""

ROADMAP_HEAD_ID = "roadmap"
_FIGURE_PREFIX = "fig_"
_FIGURE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")

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


class ResultFields(BaseModel):
    """What a result node records of the run that wrote it, written and read alike."""

    run_id: str
    workflow_type: str
    snapshot_id: str
    as_of: date
    recorded_at: datetime
    model_name: str
    offline: bool
    headline: str


class ResultWrite(ResultFields):
    """One result as a workflow's persist activity writes it."""

    id: str = Field(min_length=1, description="The workflow id: the idempotency key.")
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


class StoredResult(ResultFields):
    """A result node read back (without its report unless asked for)."""

    label: NodeLabel
    id: str
    figures: dict[str, FigureValue]
    cited_ids: list[str]
    cited_in_graph: list[str] = Field(description="Cited ids the graph holds: targets of CITES, sorted.")
    report_chars: int = Field(description="Length of the full report JSON.")
    report_stored: bool
    report_json: str | None = None
    roadmap: RoadmapLifecycle | None = None
    previous_review_id: str | None = None
    risk_assessment_id: str | None = None
    redacted_at: datetime | None = Field(
        default=None, description="When an erasure rewrote the result without a customer (`graph.erasure`)."
    )


# -- encoding --------------------------------------------------------------------------------------


def compress_report(report_json: str) -> str:
    return base64.b64encode(zlib.compress(report_json.encode(), 6)).decode("ascii")


def decompress_report(stored: str) -> str:
    return zlib.decompress(base64.b64decode(stored)).decode()


def _result_properties(write: ResultWrite) -> dict[str, Any]:
    compressed = compress_report(write.report_json)
    stored = len(compressed) <= MAX_STORED_REPORT_CHARS
    properties: dict[str, Any] = {
        "run_id": write.run_id,
        "workflow_type": write.workflow_type,
        "snapshot_id": write.snapshot_id,
        "as_of": write.as_of,
        "recorded_at": utc(write.recorded_at),
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


def result_properties(write: ResultWrite) -> dict[str, Any]:
    """The properties a result node is written with (for the stores of other result kinds)."""
    return _result_properties(write)


def stored_result_from_properties(
    label: NodeLabel, raw: Mapping[str, Any], cited_in_graph: Sequence[str], *, with_report: bool
) -> StoredResult:
    """A result node's properties (as read from the graph) decoded; `cited_in_graph` are the ids its CITES
    edges reach. `with_report=False` leaves the report out (the properties may then lack `report_z`)."""
    props = {key: native(value) for key, value in raw.items()}
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
        redacted_at=props.get("redacted_at"),
    )


# -- the store -------------------------------------------------------------------------------------


class ResultStore:
    """Reads and writes result nodes on a `GraphStore`'s driver and database. Managed transactions only."""

    def __init__(self, store: GraphStore, *, query_observer: QueryObserver | None = None) -> None:
        self._cypher = CypherRunner(store.driver, store.database, observer=query_observer)

    async def _merge_result(self, tx: AsyncManagedTransaction, label: NodeLabel, write: ResultWrite) -> None:
        """MERGE the node and its CITES; raises when the node exists but another run wrote it."""
        records = await self._cypher.records(
            tx, MERGE_RESULT[label], id=write.id, props=_result_properties(write)
        )
        stored_run = records[0]["run_id"]
        if stored_run != write.run_id:
            raise ResultConflictError(
                f"{label.value} {write.id!r} was written by run {stored_run!r}, not {write.run_id!r}"
            )
        cited = sorted(set(write.cited_ids))
        if cited:
            for target in PORTFOLIO_LABELS:
                await self._cypher.records(tx, CITE[(label, target)], id=write.id, ids=cited)

    async def save_result(self, label: NodeLabel, write: ResultWrite) -> StoredResult:
        """Write a scenario analysis or risk assessment (idempotent); returns what the graph holds."""
        if label not in (NodeLabel.SCENARIO_ANALYSIS, NodeLabel.RISK_ASSESSMENT):
            raise ValueError(f"use the dedicated method for {label.value}")

        async def work(tx: AsyncManagedTransaction) -> None:
            await self._merge_result(tx, label, write)

        await self._cypher.write(work)
        return await self._require(label, write.id)

    async def get_result(
        self, label: NodeLabel, result_id: str, *, with_report: bool = False
    ) -> StoredResult | None:
        async def work(tx: AsyncManagedTransaction) -> StoredResult | None:
            records = await self._cypher.records(tx, GET_RESULT[label], id=result_id)
            if not records:
                return None
            result = stored_result_from_properties(
                label, records[0]["props"], records[0]["cited"], with_report=with_report
            )
            if label is NodeLabel.PORTFOLIO_REVIEW:
                links = (await self._cypher.records(tx, REVIEW_LINKS, id=result_id))[0]
                result.previous_review_id = next(iter(links["previous"]), None)
                result.risk_assessment_id = next(iter(links["risk"]), None)
            return result

        return await self._cypher.read(work)

    async def _require(self, label: NodeLabel, result_id: str) -> StoredResult:
        result = await self.get_result(label, result_id)
        if result is None:
            raise ResultStateError(f"{label.value} {result_id!r} is not in the graph")
        return result

    async def list_results(self, label: NodeLabel, *, limit: int = 50) -> list[StoredResult]:
        """The most recent results of a kind, newest first, without reports or cited-node lookups."""
        return await self.page_results(label, limit=limit)

    async def page_results(
        self, label: NodeLabel, *, limit: int, after: str | None = None, status: str | None = None
    ) -> list[StoredResult]:
        """Like `list_results`, from the result after the one with id `after` (none if it is gone), and
        only roadmap versions of `status` when given."""

        async def work(tx: AsyncManagedTransaction) -> list[Record]:
            return await self._cypher.records(
                tx, PAGE_RESULTS[label], limit=limit, after=after, status=status
            )

        records = await self._cypher.read(work)
        return [
            stored_result_from_properties(label, record["props"], [], with_report=False) for record in records
        ]

    async def count_all_results(self, label: NodeLabel, *, status: str | None = None) -> int:
        """How many results of a kind the graph holds (roadmap versions: of `status` when given)."""

        async def work(tx: AsyncManagedTransaction) -> int:
            return int((await self._cypher.records(tx, COUNT_ALL_RESULTS[label], status=status))[0]["count"])

        return await self._cypher.read(work)

    async def count_results(self, label: NodeLabel, result_id: str) -> int:
        """How many result nodes carry this id: 1 after any number of retried writes."""

        async def work(tx: AsyncManagedTransaction) -> int:
            return int((await self._cypher.records(tx, COUNT_RESULT[label], id=result_id))[0]["count"])

        return await self._cypher.read(work)

    async def delete_all_results(self) -> int:
        """Remove every result node and its relationships (tests and resets); returns how many."""
        deleted = 0
        for query in DELETE_RESULTS.values():

            async def work(tx: AsyncManagedTransaction, query: Query = query) -> int:
                return int((await self._cypher.records(tx, query))[0]["deleted"])

            deleted += await self._cypher.write(work)
        return deleted

    # -- roadmap versions ---------------------------------------------------------------------------

    async def save_roadmap_draft(self, write: ResultWrite) -> StoredResult:
        """Store a drafted roadmap as the next version, status `draft` (idempotent: a retry keeps the version)."""

        async def work(tx: AsyncManagedTransaction) -> None:
            await self._cypher.records(
                tx, LOCK_ROADMAP_HEAD, head=ROADMAP_HEAD_ID, id=write.id, at=utc(write.recorded_at)
            )
            await self._merge_result(tx, NodeLabel.ROADMAP_VERSION, write)
            latest = int((await self._cypher.records(tx, LATEST_ROADMAP_VERSION))[0]["latest"])
            await self._cypher.records(
                tx, SET_DRAFT_VERSION, id=write.id, version=latest + 1, status=RoadmapStatus.DRAFT.value
            )

        await self._cypher.write(work)
        return await self._require(NodeLabel.ROADMAP_VERSION, write.id)

    async def publish_roadmap(
        self, version_id: str, *, reviewer: str, comment: str, at: datetime
    ) -> StoredResult:
        """Make a draft the one current roadmap; the previous current version is superseded.

        Publishing an already published version is a no-op (a retried activity); any other state raises
        `ResultStateError`.
        """

        async def work(tx: AsyncManagedTransaction) -> None:
            await self._cypher.records(tx, LOCK_ROADMAP_HEAD, head=ROADMAP_HEAD_ID, id=version_id, at=utc(at))
            status = await self._roadmap_status(tx, version_id)
            if status is RoadmapStatus.PUBLISHED:
                return
            if status is not RoadmapStatus.DRAFT:
                raise ResultStateError(f"roadmap version {version_id!r} is {status.value}, not a draft")
            await self._cypher.records(
                tx, RETIRE_CURRENT_ROADMAP, head=ROADMAP_HEAD_ID, id=version_id, at=utc(at)
            )
            await self._cypher.records(
                tx,
                PUBLISH_ROADMAP,
                head=ROADMAP_HEAD_ID,
                id=version_id,
                status=RoadmapStatus.PUBLISHED.value,
                reviewer=reviewer,
                comment=comment,
                at=utc(at),
            )

        await self._cypher.write(work)
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
            await self._cypher.records(
                tx,
                CLOSE_ROADMAP,
                id=version_id,
                status=status.value,
                reviewer=reviewer,
                comment=comment,
                at=utc(at),
            )

        await self._cypher.write(work)
        return await self._require(NodeLabel.ROADMAP_VERSION, version_id)

    async def _roadmap_status(self, tx: AsyncManagedTransaction, version_id: str) -> RoadmapStatus:
        records = await self._cypher.records(tx, ROADMAP_STATE, id=version_id)
        if not records or records[0]["status"] is None:
            raise ResultStateError(f"roadmap version {version_id!r} is not in the graph")
        return RoadmapStatus(records[0]["status"])

    async def current_roadmap(self) -> StoredResult | None:
        async def work(tx: AsyncManagedTransaction) -> str | None:
            records = await self._cypher.records(tx, CURRENT_ROADMAP, head=ROADMAP_HEAD_ID)
            return records[0]["id"] if records else None

        version_id = await self._cypher.read(work)
        return None if version_id is None else await self.get_result(NodeLabel.ROADMAP_VERSION, version_id)

    async def current_roadmap_markers(self) -> tuple[int, int]:
        """(versions flagged current, CURRENT pointers): both are 1 once a roadmap is published, else 0."""

        async def work(tx: AsyncManagedTransaction) -> tuple[int, int]:
            record = (await self._cypher.records(tx, COUNT_CURRENT_ROADMAPS))[0]
            return int(record["flagged"]), int(record["pointers"])

        return await self._cypher.read(work)

    # -- portfolio reviews ------------------------------------------------------------------------

    async def previous_review(self, review_id: str, recorded_at: datetime) -> StoredResult | None:
        """The most recent review recorded at or before `recorded_at`, other than `review_id`."""

        async def work(tx: AsyncManagedTransaction) -> str | None:
            records = await self._cypher.records(tx, PREVIOUS_REVIEW, id=review_id, at=utc(recorded_at))
            return records[0]["id"] if records else None

        previous_id = await self._cypher.read(work)
        return None if previous_id is None else await self.get_result(NodeLabel.PORTFOLIO_REVIEW, previous_id)

    async def save_review(
        self, write: ResultWrite, *, previous_review_id: str | None, risk_assessment_id: str | None
    ) -> StoredResult:
        """Write a portfolio review with its FOLLOWS and INCLUDES links, in one transaction (idempotent)."""

        async def work(tx: AsyncManagedTransaction) -> None:
            await self._merge_result(tx, NodeLabel.PORTFOLIO_REVIEW, write)
            if previous_review_id is not None:
                await self._cypher.records(tx, LINK_PREVIOUS_REVIEW, id=write.id, previous=previous_review_id)
            if risk_assessment_id is not None:
                await self._cypher.records(tx, LINK_REVIEW_RISK, id=write.id, risk=risk_assessment_id)

        await self._cypher.write(work)
        return await self._require(NodeLabel.PORTFOLIO_REVIEW, write.id)
