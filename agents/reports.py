"""The reports of the three analyses: their models and the one function that assembles each.

A report is what a run stores and what the API, the CLI and the workflows read back: the agent's
analysis beside the engines' full results and the facts of the run (snapshot, model, usage). This module
imports no pydantic-ai, so reading a stored report never loads the agents. Each builder (`scenario_report`,
`roadmap_report`, `risk_assessment_report`) computes through `agents.engine_runs` (cached, deterministic)
and is what both the CLI's `run_*` and the workflows' persist activities call.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from agents import engine_runs
from agents.deps import AnalysisDeps
from agents.privacy import reveal_customer_ids
from engines.bias import PlanBias, plan_bias
from engines.forecast import Forecast
from engines.risk import RiskKind, RiskReport
from engines.roadmap import RoadmapPlan
from engines.scenarios import ScenarioComparison, ScenarioResult, compare_scenarios
from graph.portfolio import Portfolio

# -- what an agent answers ---------------------------------------------------------------------------


class Finding(BaseModel):
    statement: str = Field(description="One claim, with figures taken from tool results.")
    evidence_ids: list[str] = Field(
        min_length=1, description="Graph ids returned by tools that back the claim."
    )


class AnalysisOutput(BaseModel):
    headline: str
    findings: list[Finding] = Field(min_length=1, max_length=8)
    recommendation: str

    def cited_ids(self) -> list[str]:
        return [item for finding in self.findings for item in finding.evidence_ids]

    def narrative(self) -> list[str]:
        return [self.headline, *(f.statement for f in self.findings), self.recommendation]


class ScenarioAnalysis(AnalysisOutput):
    preferred_scenario_id: str | None = Field(
        default=None,
        description="The requested scenario you recommend, by its scenario_id; None for the baseline.",
    )


class RoadmapAnalysis(AnalysisOutput):
    commitment_ids: list[str] = Field(
        description="Features to commit to: high-confidence items of the drafted plan (its commitment_ids)."
    )
    exploration_ids: list[str] = Field(
        description="Uncertain items of the drafted plan to explore first (its exploration_ids); kept apart."
    )

    def cited_ids(self) -> list[str]:
        return [*super().cited_ids(), *self.commitment_ids, *self.exploration_ids]


class RiskAnalysis(AnalysisOutput):
    priority_kinds: list[RiskKind] = Field(
        default_factory=list[RiskKind], description="Risk kinds to act on first, most urgent first."
    )


# -- the stored reports ------------------------------------------------------------------------------


class UsageReport(BaseModel):
    requests: int
    tool_calls: int
    input_tokens: int
    output_tokens: int


class AgentReport(BaseModel):
    """What every agent run reports beside its analysis and the engines' results."""

    snapshot_id: str
    model_name: str
    offline: bool
    usage: UsageReport


class ScenarioReport(AgentReport):
    """The scenario run's result: the agent's analysis beside the engines' numbers."""

    analysis: ScenarioAnalysis
    baseline: Forecast
    results: list[ScenarioResult]
    comparison: ScenarioComparison | None


class RoadmapReport(AgentReport):
    analysis: RoadmapAnalysis
    plan: RoadmapPlan
    bias: PlanBias | None = Field(
        default=None, description="Whom the plan serves (`engines.bias`); None in reports stored before it."
    )


class RiskAssessmentReport(AgentReport):
    analysis: RiskAnalysis
    report: RiskReport


# -- the builders (engine work: call them in a thread) -----------------------------------------------


def scenario_report(
    portfolio: Portfolio, deps: AnalysisDeps, run: AgentReport, analysis: ScenarioAnalysis
) -> ScenarioReport:
    baseline, results = engine_runs.scenario_results(portfolio, deps)
    return ScenarioReport(
        **run.model_dump(),
        analysis=reveal_customer_ids(analysis, portfolio, deps.snapshot_id),
        baseline=baseline,
        results=results,
        comparison=compare_scenarios(baseline, results) if results else None,
    )


def roadmap_report(
    portfolio: Portfolio, deps: AnalysisDeps, run: AgentReport, analysis: RoadmapAnalysis
) -> RoadmapReport:
    plan = engine_runs.roadmap_plan(portfolio, deps)
    return RoadmapReport(
        **run.model_dump(),
        analysis=reveal_customer_ids(analysis, portfolio, deps.snapshot_id),
        plan=plan,
        bias=plan_bias(portfolio, plan),
    )


def risk_assessment_report(
    portfolio: Portfolio, deps: AnalysisDeps, run: AgentReport, analysis: RiskAnalysis
) -> RiskAssessmentReport:
    risks = engine_runs.risk_report(portfolio, deps)
    return RiskAssessmentReport(
        **run.model_dump(), analysis=reveal_customer_ids(analysis, portfolio, deps.snapshot_id), report=risks
    )


# -- figures as narratives write them ----------------------------------------------------------------


def money(amount: float) -> str:
    """An amount's size for a narrative, e.g. `$1.23M`; the sentence says which way it moved."""
    magnitude = abs(amount)
    if magnitude >= 1e6:
        return f"${magnitude / 1e6:.2f}M"
    if magnitude >= 1e3:
        return f"${magnitude / 1e3:.1f}k"
    return f"${magnitude:.0f}"


def percent(fraction: float) -> str:
    return f"{abs(fraction) * 100:.0f}%"
