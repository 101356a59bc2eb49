"""Result nodes with their reports parsed: what `api.results` turns into GraphQL types.

Reads are light: a result node's properties come without its compressed report and without its CITES
targets (`graph.api_queries`); the report is fetched and parsed once per result and then kept, since a
report never changes once written (results are MERGEd on create only). A roadmap version's lifecycle
(status, current, reviewer) lives in node properties, read fresh on every call. Nodes are decoded by
`graph.results` itself, so the API reads them exactly as the workflows wrote them.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from pydantic import BaseModel

from agents.risk_agent import RiskAssessmentReport
from agents.roadmap_agent import RoadmapReport
from agents.scenario_agent import ScenarioReport
from graph.api_queries import ApiQueries, finish_even_if_cancelled
from graph.results import ROADMAP_HEAD_ID, ResultStore, StoredResult, decompress_report
from graph.results import _stored_result as stored_result_from_properties  # pyright: ignore[reportPrivateUsage]
from graph.schema import NodeLabel
from graph.store import GraphStore
from workflows.models import PortfolioReviewOutcome

REPORT_TYPES: dict[NodeLabel, type[BaseModel]] = {
    NodeLabel.SCENARIO_ANALYSIS: ScenarioReport,
    NodeLabel.ROADMAP_VERSION: RoadmapReport,
    NodeLabel.RISK_ASSESSMENT: RiskAssessmentReport,
    NodeLabel.PORTFOLIO_REVIEW: PortfolioReviewOutcome,
}
"""The model each result label's `report_json` holds."""


class ResultReader:
    """Reads result nodes; keeps the parsed reports of the most recent `keep` results."""

    def __init__(self, store: GraphStore, queries: ApiQueries, *, keep: int = 64) -> None:
        self.results = ResultStore(store)
        self._queries = queries
        self._keep = keep
        self._parsed: OrderedDict[tuple[NodeLabel, str, int], BaseModel] = OrderedDict()

    async def read(self, label: NodeLabel, result_id: str) -> tuple[StoredResult, Any] | None:
        """The node and its parsed report; None without such a result or when its report was not stored."""
        properties = await self._queries.result_properties(label, result_id)
        return await self._with_report(label, properties)

    async def current_roadmap(self) -> tuple[StoredResult, Any] | None:
        """The published roadmap in force, with its parsed report; None before any is published."""
        properties = await self._queries.current_roadmap_properties(ROADMAP_HEAD_ID)
        return await self._with_report(NodeLabel.ROADMAP_VERSION, properties)

    async def _with_report(
        self, label: NodeLabel, properties: dict[str, Any] | None
    ) -> tuple[StoredResult, Any] | None:
        if properties is None:
            return None
        # `cited_in_graph` stays empty: the API resolves `cited_ids` through its loaders instead.
        stored = stored_result_from_properties(label, properties, [], with_report=False)
        key = (label, stored.id, stored.report_chars)
        report = self._parsed.get(key)
        if report is not None:
            self._parsed.move_to_end(key)
            return stored, report
        compressed = await self._queries.result_report(label, stored.id)
        if compressed is None:
            return None
        report = REPORT_TYPES[label].model_validate_json(decompress_report(compressed))
        self._parsed[key] = report
        while len(self._parsed) > self._keep:
            self._parsed.popitem(last=False)
        return stored, report

    async def list_ids(self, label: NodeLabel, limit: int) -> list[str]:
        """Ids of the most recent results of a kind, newest first."""
        listed = await finish_even_if_cancelled(self.results.list_results(label, limit=limit))
        return [stored.id for stored in listed]
