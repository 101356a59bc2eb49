"""The scenario simulation agent: what happens to delivery dates and ARR at risk under each scenario?"""

from __future__ import annotations

import asyncio

from pydantic import BaseModel
from pydantic_ai import ModelRetry, RunContext
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
from agents.reports import Finding, ScenarioAnalysis, money, percent, scenario_report
from engines.scenario_changes import Scenario, ScenarioError
from engines.scenarios import compare_scenarios

SCENARIO_AGENT_NAME = "lodestar_scenario"
SCENARIO_TOOLSET_ID = "scenario_tools"


class ScenarioSet(BaseModel):
    scenario_count: int
    baseline_arr_at_risk: float
    baseline_arr_weighted_on_time: float
    scenarios: list[summaries.ScenarioBrief]
    lowest_arr_at_risk_scenario_id: str | None
    highest_on_time_scenario_id: str | None


INSTRUCTIONS = f"""{SHARED_INSTRUCTIONS}
Your job: compare the requested delivery scenarios with the baseline forecast. Call portfolio_overview,
baseline_forecast and simulate_requested_scenarios; use simulate_scenario only for an extra what-if.
Say how each scenario moves P85 dates, on-time odds and ARR at risk, and which scenario you prefer."""


async def _simulate_requested_scenarios(ctx: RunContext[AnalysisDeps]) -> ScenarioSet:
    """Simulate every scenario in the request against the baseline (same seed) and compare them."""
    portfolio = await load_portfolio(ctx)
    deps = ctx.deps
    baseline, results = await asyncio.to_thread(engine_runs.scenario_results, portfolio, deps)
    briefs = [summaries.scenario_brief(result, top_n=deps.top_n) for result in results]
    comparison = compare_scenarios(baseline, results) if results else None
    return ScenarioSet(
        scenario_count=len(results),
        baseline_arr_at_risk=round(baseline.arr_at_risk, 2),
        baseline_arr_weighted_on_time=round(baseline.arr_weighted_on_time, 4),
        scenarios=briefs,
        lowest_arr_at_risk_scenario_id=None if comparison is None else comparison.lowest_arr_at_risk,
        highest_on_time_scenario_id=None if comparison is None else comparison.highest_arr_weighted_on_time,
    )


async def _simulate_scenario(ctx: RunContext[AnalysisDeps], scenario: Scenario) -> summaries.ScenarioBrief:
    """Simulate one what-if scenario (capacity, scope, re-estimate, start shift, priority changes)."""
    portfolio = await load_portfolio(ctx)
    try:
        result = await asyncio.to_thread(engine_runs.scenario_result, portfolio, ctx.deps, scenario)
    except ScenarioError as error:
        raise ModelRetry(f"invalid scenario: {error}") from error
    return summaries.scenario_brief(result, top_n=ctx.deps.top_n)


def scenario_toolset() -> FunctionToolset[AnalysisDeps]:
    toolset = PrivateToolset[AnalysisDeps](id=SCENARIO_TOOLSET_ID)
    toolset.add_function(overview_tool, name="portfolio_overview")
    toolset.add_function(baseline_forecast_tool, name="baseline_forecast")
    toolset.add_function(_simulate_requested_scenarios, name="simulate_requested_scenarios")
    toolset.add_function(_simulate_scenario, name="simulate_scenario")
    return toolset


def _write_offline_analysis(results: ToolResults) -> dict[str, object]:
    overview = results["portfolio_overview"][0]
    baseline = results["baseline_forecast"][0]
    scenario_set = results["simulate_requested_scenarios"][0]
    baseline_ids = (
        [c["customer_id"] for c in baseline["customers_at_risk"][:3]]
        or [f["feature_id"] for f in baseline["least_likely_on_time"][:3]]
        or [t["team_id"] for t in overview["teams"][:3]]
    )
    findings = [
        Finding(
            statement=(
                f"Baseline over {baseline['trials']:,} trials: {percent(baseline['arr_weighted_on_time'])} of "
                f"requesting ARR is delivered before renewal; {money(baseline['arr_at_risk'])} ARR at risk "
                f"across {baseline['customers_at_risk_count']} customers."
            ),
            evidence_ids=baseline_ids,
        )
    ]
    for brief in scenario_set["scenarios"]:
        moves = brief["biggest_moves"]
        direction = (
            "up" if brief["arr_at_risk_change"] > 0 else "down" if brief["arr_at_risk_change"] < 0 else "flat"
        )
        statement = (
            f"Scenario '{brief['name']}': ARR at risk {money(brief['arr_at_risk_before'])} -> "
            f"{money(brief['arr_at_risk_after'])} ({direction} {money(brief['arr_at_risk_change'])}); "
            f"ARR-weighted on-time {percent(brief['arr_weighted_on_time_before'])} -> "
            f"{percent(brief['arr_weighted_on_time_after'])}; {brief['features_moved']} features move"
        )
        if moves and moves[0]["p85_shift_days"] is not None:
            top = moves[0]
            later = "later" if top["p85_shift_days"] > 0 else "earlier"
            statement += f", the most {top['feature_id']} by {abs(top['p85_shift_days'])} days {later} at P85"
        ids = [m["feature_id"] for m in moves[:3]] + brief["newly_at_risk_customer_ids"][:3]
        findings.append(Finding(statement=statement + ".", evidence_ids=ids or baseline_ids))
    preferred = scenario_set["lowest_arr_at_risk_scenario_id"]
    if preferred in (None, "baseline"):
        recommendation = "Keep the baseline plan: no requested scenario lowers ARR at risk."
        preferred = None
    else:
        name = next(b["name"] for b in scenario_set["scenarios"] if b["scenario_id"] == preferred)
        recommendation = f"Prefer scenario '{name}': it leaves the least ARR at risk."
    return ScenarioAnalysis(
        headline=(
            f"Scenarios compared with the baseline: {scenario_set['scenario_count']}. {OFFLINE_DISCLAIMER}"
        ),
        findings=findings[:8],
        recommendation=recommendation,
        preferred_scenario_id=preferred,
    ).model_dump()


OFFLINE_PLAN = offline_plan(
    [
        PlannedCall("portfolio_overview"),
        PlannedCall("baseline_forecast"),
        PlannedCall("simulate_requested_scenarios"),
    ],
    _write_offline_analysis,
)


def _check_preferred_scenario(ctx: RunContext[AnalysisDeps], output: ScenarioAnalysis) -> None:
    requested = {s.id for s in ctx.deps.scenarios}
    if output.preferred_scenario_id is not None and output.preferred_scenario_id not in requested:
        raise ModelRetry(f"preferred_scenario_id must be one of {sorted(requested)} or null")


def scenario_prompt(deps: AnalysisDeps) -> str:
    # Ids only: the scenarios' names and descriptions reach the model through the (pseudonymised) tools.
    ids = ", ".join(s.id for s in deps.scenarios) or "none"
    return f"Compare these scenarios with the baseline as of {deps.as_of.isoformat()}: {ids}."


SCENARIO_AGENT = AnalysisAgentKind(
    name=SCENARIO_AGENT_NAME,
    output_type=ScenarioAnalysis,
    instructions=INSTRUCTIONS,
    toolset=scenario_toolset,
    offline_plan=OFFLINE_PLAN,
    prompt=scenario_prompt,
    build_report=scenario_report,
    check=_check_preferred_scenario,
)
build_scenario_agent = SCENARIO_AGENT.build
run_scenario_analysis = SCENARIO_AGENT.run
