"""Result nodes with their reports parsed: what `api.result_types` turns into GraphQL types.

Reads are light: a result node's properties come without its compressed report, its cited ids and its
CITES targets (`graph.entity_reads`); the report and the cited ids are fetched once per result and then
kept, parsed, since neither changes once written (results are MERGEd on create only). A roadmap version's lifecycle
(status, current, reviewer) lives in node properties, read fresh on every call. Nodes are decoded by
`graph.result_store` itself, so the API reads them exactly as the workflows wrote them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from cachetools import LRUCache
from pydantic import BaseModel

from agents.insight_runs import InsightReport
from agents.reports import RiskAssessmentReport, RoadmapReport, ScenarioReport
from graph.cypher import finish_even_if_cancelled
from graph.entity_reads import EntityReads
from graph.result_store import (
    ROADMAP_HEAD_ID,
    ResultStore,
    StoredResult,
    decompress_report,
    stored_result_from_properties,
)
from graph.store import GraphStore
from graph.vocabulary import NodeLabel
from workflows.payloads import PortfolioReviewOutcome

T = TypeVar("T")

REPORT_TYPES: dict[NodeLabel, type[BaseModel]] = {
    NodeLabel.SCENARIO_ANALYSIS: ScenarioReport,
    NodeLabel.ROADMAP_VERSION: RoadmapReport,
    NodeLabel.RISK_ASSESSMENT: RiskAssessmentReport,
    NodeLabel.PORTFOLIO_REVIEW: PortfolioReviewOutcome,
    NodeLabel.INSIGHT_DIGEST: InsightReport,
}
"""The model each result label's `report_json` holds."""


@dataclass
class KeptReport:
    """A result's parsed report and the ids it cites, kept by the reader, with what the API builds from it."""

    report: Any
    cited_ids: list[str]
    _built: dict[Callable[[Any], Any], Any] = field(default_factory=dict)

    def built(self, build: Callable[[Any], T]) -> T:
        """`build(report)`, built once: a stored report never changes, so neither does what is built from it."""
        if build not in self._built:
            self._built[build] = build(self.report)
        return self._built[build]


class ResultReader:
    """Reads result nodes; keeps the parsed reports of the `keep` most recently read results."""

    def __init__(self, store: GraphStore, queries: EntityReads, *, keep: int = 64) -> None:
        self.results = ResultStore(store)
        self._queries = queries
        self._kept: LRUCache[tuple[NodeLabel, str, int], KeptReport] = LRUCache(maxsize=keep)

    async def read(self, label: NodeLabel, result_id: str) -> tuple[StoredResult, KeptReport] | None:
        """The node and its parsed report; None without such a result or when its report was not stored."""
        properties = await self._queries.result_properties(label, result_id)
        return await self._with_report(label, properties)

    async def current_roadmap(self) -> tuple[StoredResult, KeptReport] | None:
        """The published roadmap in force, with its parsed report; None before any is published."""
        properties = await self._queries.current_roadmap_properties(ROADMAP_HEAD_ID)
        return await self._with_report(NodeLabel.ROADMAP_VERSION, properties)

    async def _with_report(
        self, label: NodeLabel, properties: dict[str, Any] | None
    ) -> tuple[StoredResult, KeptReport] | None:
        if properties is None:
            return None
        # `cited_in_graph` stays empty: the API resolves `cited_ids` through its loaders instead.
        stored = stored_result_from_properties(label, properties, [], with_report=False)
        key = (label, stored.id, stored.report_chars)
        kept = self._kept.get(key)
        if kept is None:
            read = await self._queries.result_report(label, stored.id)
            if read is None:
                return None
            kept = self._kept.get(key)  # parsed by a concurrent request meanwhile?
            if kept is None:
                report = REPORT_TYPES[label].model_validate_json(decompress_report(read.compressed))
                kept = self._kept[key] = KeptReport(report, read.cited_ids)
        return stored.model_copy(update={"cited_ids": kept.cited_ids}), kept

    async def list_ids(self, label: NodeLabel, limit: int) -> list[str]:
        """Ids of the most recent results of a kind, newest first."""
        listed = await finish_even_if_cancelled(self.results.list_results(label, limit=limit))
        return [stored.id for stored in listed]

    async def page_ids(
        self, label: NodeLabel, limit: int, *, after: str | None = None, status: str | None = None
    ) -> list[str]:
        """Ids of results of a kind, newest first, from the one after the result with id `after`."""
        listed = await finish_even_if_cancelled(
            self.results.page_results(label, limit=limit, after=after, status=status)
        )
        return [stored.id for stored in listed]

    def forget_reports(self) -> None:
        """Drop the kept reports: an erasure (`graph.erasure`) has rewritten stored reports."""
        self._kept.clear()

    async def count_all(self, label: NodeLabel, *, status: str | None = None) -> int:
        """How many results of a kind the graph holds."""
        return await finish_even_if_cancelled(self.results.count_all_results(label, status=status))
