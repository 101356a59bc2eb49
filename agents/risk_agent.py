"""The risk assessment agent: which customers and how much revenue are at risk, and what to do about it."""

from __future__ import annotations

import asyncio

from pydantic_ai import RunContext
from pydantic_ai.toolsets import FunctionToolset

from agents import engine_runs, summaries
from agents.analysis_agent import (
    SHARED_INSTRUCTIONS,
    AnalysisAgentKind,
    PlannedCall,
    ToolResults,
    baseline_forecast_tool,
    load_portfolio,
    offline_plan,
    overview_tool,
)
from agents.deps import AnalysisDeps
from agents.model_config import OFFLINE_DISCLAIMER
from agents.private_toolset import PrivateToolset
from agents.reports import (
    Finding,
    RiskAnalysis,
    money,
    percent,
    risk_assessment_report,
)
from engines.risk import RiskKind

RISK_AGENT_NAME = "lodestar_risk"
RISK_TOOLSET_ID = "risk_tools"


INSTRUCTIONS = f"""{SHARED_INSTRUCTIONS}
Your job: assess delivery and revenue risk. Call portfolio_overview, baseline_forecast and assess_risks;
use customer_feedback to understand the most exposed customers. Rank what to act on first and give
one concrete mitigation per finding."""


async def _assess_risks(ctx: RunContext[AnalysisDeps]) -> summaries.RiskAssessmentBrief:
    """Critical path, cross-team chains, overloaded teams, ownership gaps, ARR at risk, concentration."""
    portfolio = await load_portfolio(ctx)
    report = await asyncio.to_thread(engine_runs.risk_report, portfolio, ctx.deps)
    return summaries.risk_brief(report, top_n=ctx.deps.top_n)


async def _customer_feedback(ctx: RunContext[AnalysisDeps], subject_id: str) -> summaries.FeedbackDigest:
    """Recent feedback from a customer or about a feature (customer_id or feature_id), most negative first."""
    portfolio = await load_portfolio(ctx)
    return summaries.feedback_digest(portfolio, subject_id, top_n=min(ctx.deps.top_n, 5))


def risk_toolset() -> FunctionToolset[AnalysisDeps]:
    toolset = PrivateToolset[AnalysisDeps](id=RISK_TOOLSET_ID)
    toolset.add_function(overview_tool, name="portfolio_overview")
    toolset.add_function(baseline_forecast_tool, name="baseline_forecast")
    toolset.add_function(_assess_risks, name="assess_risks")
    toolset.add_function(_customer_feedback, name="customer_feedback")
    return toolset


def _most_exposed_customer(results: ToolResults) -> dict[str, object] | None:
    at_risk = results["baseline_forecast"][0]["customers_at_risk"]
    return {"subject_id": at_risk[0]["customer_id"]} if at_risk else None


def _write_offline_analysis(results: ToolResults) -> dict[str, object]:
    overview = results["portfolio_overview"][0]
    risks = results["assess_risks"][0]
    team_ids = [t["team_id"] for t in overview["teams"][:3]]
    findings: list[Finding] = [
        Finding(
            statement=(
                f"{money(risks['arr_at_risk'])} of {money(risks['total_arr'])} ARR "
                f"({percent(risks['arr_at_risk_share'])}) is at risk across {risks['customers_at_risk_count']} "
                f"customers whose requested features reach P85 after renewal."
            ),
            evidence_ids=[c["customer_id"] for c in results["baseline_forecast"][0]["customers_at_risk"][:3]]
            or team_ids,
        )
    ]
    if risks["critical_path_ids"]:
        findings.append(
            Finding(
                statement=(
                    f"The critical path runs {risks['critical_path_weeks']} weeks through "
                    f"{' -> '.join(risks['critical_path_ids'][:4])}."
                ),
                evidence_ids=risks["critical_path_ids"][:4],
            )
        )
    for risk in risks["top_risks"][:5]:
        if not risk["affected_ids"]:
            continue
        findings.append(
            Finding(
                statement=f"{risk['title']} (severity {risk['severity']}). Mitigation: {risk['mitigation']}",
                evidence_ids=risk["affected_ids"][:4],
            )
        )
    priority: list[str] = []
    for risk in risks["top_risks"]:
        if risk["kind"] not in priority:
            priority.append(risk["kind"])
    feedback = results.get("customer_feedback", [])
    recommendation = "Act on the highest-severity risks first, starting with the customers renewing soonest."
    if feedback and feedback[0]["mean_sentiment"] is not None:
        recommendation += (
            f" The most exposed customer, {feedback[0]['subject_id']}, has a mean feedback sentiment of "
            f"{feedback[0]['mean_sentiment']}."
        )
    return RiskAnalysis(
        headline=f"Risk assessment of the current plan. {OFFLINE_DISCLAIMER}",
        findings=findings[:8],
        recommendation=recommendation,
        priority_kinds=[RiskKind(kind) for kind in priority[:4]],
    ).model_dump()


OFFLINE_PLAN = offline_plan(
    [
        PlannedCall("portfolio_overview"),
        PlannedCall("baseline_forecast"),
        PlannedCall("assess_risks"),
        PlannedCall("customer_feedback", _most_exposed_customer),
    ],
    _write_offline_analysis,
)


def risk_prompt(deps: AnalysisDeps) -> str:
    return (
        f"Assess delivery and revenue risk as of {deps.as_of.isoformat()} over the next "
        f"{deps.risk_horizon_weeks} weeks."
    )


RISK_AGENT = AnalysisAgentKind(
    name=RISK_AGENT_NAME,
    output_type=RiskAnalysis,
    instructions=INSTRUCTIONS,
    toolset=risk_toolset,
    offline_plan=OFFLINE_PLAN,
    prompt=risk_prompt,
    build_report=risk_assessment_report,
)
build_risk_agent = RISK_AGENT.build
run_risk_assessment = RISK_AGENT.run
