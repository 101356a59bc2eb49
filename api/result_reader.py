"""Result nodes with their reports parsed: what `api.results` turns into GraphQL types."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from pydantic import BaseModel

from agents.risk_agent import RiskAssessmentReport
from agents.roadmap_agent import RoadmapReport
from agents.scenario_agent import ScenarioReport
from graph.results import ResultStore, StoredResult
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
    """Reads result nodes; keeps the parsed reports of the most recent `keep` results.

    A report never changes once written (results are MERGEd on create only); a roadmap version's
    lifecycle (status, current, reviewer) lives in node properties, read fresh on every call.
    """

    def __init__(self, store: GraphStore, *, keep: int = 64) -> None:
        self.results = ResultStore(store)
        self._keep = keep
        self._parsed: OrderedDict[tuple[NodeLabel, str, int], BaseModel] = OrderedDict()

    async def read(self, label: NodeLabel, result_id: str) -> tuple[StoredResult, Any] | None:
        """The node and its parsed report; None without such a result or when its report was not stored."""
        return await self._with_report(await self.results.get_result(label, result_id))

    async def current_roadmap(self) -> tuple[StoredResult, Any] | None:
        """The published roadmap in force, with its parsed report; None before any is published."""
        return await self._with_report(await self.results.current_roadmap())

    async def _with_report(self, stored: StoredResult | None) -> tuple[StoredResult, Any] | None:
        """Attach the parsed report, reading and parsing it only when it is not kept already."""
        if stored is None:
            return None
        key = (stored.label, stored.id, stored.report_chars)
        report = self._parsed.get(key)
        if report is not None:
            self._parsed.move_to_end(key)
            return stored, report
        full = await self.results.get_result(stored.label, stored.id, with_report=True)
        if full is None or full.report_json is None:
            return None
        report = REPORT_TYPES[stored.label].model_validate_json(full.report_json)
        self._parsed[key] = report
        while len(self._parsed) > self._keep:
            self._parsed.popitem(last=False)
        return full, report

    async def list_ids(self, label: NodeLabel, limit: int) -> list[str]:
        """Ids of the most recent results of a kind, newest first."""
        return [stored.id for stored in await self.results.list_results(label, limit=limit)]
