"""The roadmap drafting agent: what should the next quarters hold, given the teams we have?"""

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
    load_portfolio,
    offline_plan,
    overview_tool,
)
from agents.deps import AnalysisDeps
from agents.evidence import tool_result_json, tool_results
from agents.model_config import OFFLINE_DISCLAIMER
from agents.private_toolset import PrivateToolset
from agents.reports import Finding, RoadmapAnalysis, percent, roadmap_report
from engines.bias import plan_bias
from engines.roadmap import RoadmapError
from engines.scoring import FeatureScore

ROADMAP_AGENT_NAME = "lodestar_roadmap"
ROADMAP_TOOLSET_ID = "roadmap_tools"


INSTRUCTIONS = f"""{SHARED_INSTRUCTIONS}
Your job: draft the roadmap for the coming quarters. Call portfolio_overview and draft_plan, and
explain_feature for items worth explaining. Keep commitments (high confidence) and explorations
(uncertain) apart, exactly as draft_plan classified them; say what was left out and why."""


async def _draft_plan(ctx: RunContext[AnalysisDeps]) -> summaries.RoadmapBrief:
    """Place features into quarters with a MILP under team capacity, dependencies, pins and exclusions."""
    portfolio = await load_portfolio(ctx)
    try:
        plan = await asyncio.to_thread(engine_runs.roadmap_plan, portfolio, ctx.deps)
    except RoadmapError as error:
        raise ModelRetry(f"the planner refused the request: {error}") from error
    bias = await asyncio.to_thread(plan_bias, portfolio, plan)
    brief = summaries.roadmap_brief(plan, top_n=ctx.deps.top_n)
    concentration = summaries.demand_concentration_brief(bias, top_n=ctx.deps.top_n)
    confirmed = summaries.confirmed_feedback_brief(portfolio, plan, top_n=ctx.deps.top_n)
    return brief.model_copy(update={"demand_concentration": concentration, "confirmed_feedback": confirmed})


class FeatureExplanation(BaseModel):
    feature_id: str
    quarter: int | None
    left_out_reason: str | None
    scores: FeatureScore


async def _explain_feature(ctx: RunContext[AnalysisDeps], feature_id: str) -> FeatureExplanation:
    """Why a feature scored as it did (RICE, WSJF, demand x objectives) and where the plan put it."""
    portfolio = await load_portfolio(ctx)
    plan = await asyncio.to_thread(engine_runs.roadmap_plan, portfolio, ctx.deps)
    placed = {item.feature_id: item for item in plan.items()}
    left_out = {f.feature_id: f.reason for f in plan.left_out}
    if feature_id in placed:
        item = placed[feature_id]
        return FeatureExplanation(
            feature_id=feature_id, quarter=item.quarter, left_out_reason=None, scores=item.scores
        )
    from engines.scoring import score_features

    scores = {
        s.feature_id: s for s in await asyncio.to_thread(score_features, portfolio, as_of=ctx.deps.as_of)
    }
    if feature_id not in scores:
        raise ModelRetry(f"{feature_id!r} is not an open feature of this portfolio")
    return FeatureExplanation(
        feature_id=feature_id,
        quarter=None,
        left_out_reason=left_out.get(feature_id),
        scores=scores[feature_id],
    )


def roadmap_toolset() -> FunctionToolset[AnalysisDeps]:
    toolset = PrivateToolset[AnalysisDeps](id=ROADMAP_TOOLSET_ID)
    toolset.add_function(overview_tool, name="portfolio_overview")
    toolset.add_function(_draft_plan, name="draft_plan")
    toolset.add_function(_explain_feature, name="explain_feature")
    return toolset


def _top_item(results: ToolResults) -> dict[str, object] | None:
    plan = results["draft_plan"][0]
    for quarter in plan["quarters"]:
        if quarter["top_items"]:
            return {"feature_id": quarter["top_items"][0]["feature_id"]}
    return None


def _write_offline_analysis(results: ToolResults) -> dict[str, object]:
    overview = results["portfolio_overview"][0]
    plan = results["draft_plan"][0]
    team_ids = [t["team_id"] for t in overview["teams"][:3]]
    findings: list[Finding] = []
    for quarter in plan["quarters"]:
        placed = quarter["commitment_ids"] + quarter["exploration_ids"]
        if not placed:
            continue
        busiest = quarter["busiest_teams"][0] if quarter["busiest_teams"] else None
        statement = (
            f"Quarter starting {quarter['start']}: {quarter['commitment_count']} commitments and "
            f"{quarter['exploration_count']} explorations"
        )
        if busiest is not None:
            statement += f"; busiest team {busiest['team_id']} uses {busiest['used']} of {busiest['available']} person-weeks"
        ids = [item["feature_id"] for item in quarter["top_items"][:3]]
        findings.append(Finding(statement=statement + ".", evidence_ids=ids or team_ids))
    if plan["top_left_out"]:
        counts = ", ".join(f"{reason} {count}" for reason, count in plan["left_out_counts"].items())
        findings.append(
            Finding(
                statement=f"Left out by reason: {counts}.",
                evidence_ids=[f["feature_id"] for f in plan["top_left_out"][:3]],
            )
        )
    concentration = plan.get("demand_concentration")
    if concentration and concentration["concentrated"] and concentration["top_customer_ids"]:
        findings.insert(
            0,
            Finding(
                statement=(
                    f"Concentrated demand: the top {concentration['top_n']} customers drive "
                    f"{percent(concentration['top_share'])} of the customer demand behind this plan, and "
                    f"{concentration['single_customer_feature_count']} planned features are driven by one "
                    "customer alone; check the plan serves more than a few large accounts."
                ),
                evidence_ids=concentration["top_customer_ids"][:3],
            ),
        )
    confirmed = plan.get("confirmed_feedback") or []
    if confirmed:
        listed = "; ".join(f"{item['feature_id']} +{item['added_demand']:,.0f}" for item in confirmed[:3])
        findings.insert(
            1 if concentration and concentration["concentrated"] else 0,
            Finding(
                statement=(
                    f"Confirmed customer feedback adds ARR-weighted demand to planned features: {listed}."
                ),
                evidence_ids=[
                    evidence_id
                    for item in confirmed[:3]
                    for evidence_id in (item["feature_id"], *item["feedback_ids"], *item["customer_ids"])
                ],
            ),
        )
    ratio = plan["value_ratio_vs_greedy"]
    versus = f" ({percent(ratio)} of the greedy baseline's value)" if ratio is not None else ""
    headline = (
        f"Plan from the {plan['solver_source']} solver ({plan['solver_status']}) with value "
        f"{plan['total_value']}{versus}. {OFFLINE_DISCLAIMER}"
    )
    commitments = [i for q in plan["quarters"] for i in q["commitment_ids"]]
    explorations = [i for q in plan["quarters"] for i in q["exploration_ids"]]
    explained = results.get("explain_feature", [])
    recommendation = "Commit to the commitment items; run discovery on the explorations before committing."
    if explained:
        scores = explained[0]["scores"]
        recommendation += (
            f" Top item {explained[0]['feature_id']} scores RICE {scores['rice']['score']:.2f}, "
            f"WSJF {scores['wsjf']['score']:.2f}."
        )
    return RoadmapAnalysis(
        headline=headline,
        findings=findings[:8] or [Finding(statement="No feature could be placed.", evidence_ids=team_ids)],
        recommendation=recommendation,
        commitment_ids=commitments,
        exploration_ids=explorations,
    ).model_dump()


OFFLINE_PLAN = offline_plan(
    [
        PlannedCall("portfolio_overview"),
        PlannedCall("draft_plan"),
        PlannedCall("explain_feature", _top_item),
    ],
    _write_offline_analysis,
)


def _plan_ids(ctx: RunContext[AnalysisDeps]) -> tuple[set[str], set[str]] | None:
    for part in reversed(tool_results(ctx.messages)):
        if part.tool_name == "draft_plan":
            plan = tool_result_json(part)
            commitments = {i for q in plan["quarters"] for i in q["commitment_ids"]}
            explorations = {i for q in plan["quarters"] for i in q["exploration_ids"]}
            return commitments, explorations
    return None


def _check_plan_items(ctx: RunContext[AnalysisDeps], output: RoadmapAnalysis) -> None:
    plan_ids = _plan_ids(ctx)
    if plan_ids is None:
        raise ModelRetry("call draft_plan before answering")
    commitments, explorations = plan_ids
    if wrong := sorted(set(output.commitment_ids) - commitments):
        raise ModelRetry(f"commitment_ids must be commitment items of the drafted plan; not: {wrong}")
    if wrong := sorted(set(output.exploration_ids) - explorations):
        raise ModelRetry(f"exploration_ids must be exploration items of the drafted plan; not: {wrong}")


def roadmap_prompt(deps: AnalysisDeps) -> str:
    return (
        f"Draft the roadmap for the next {deps.quarters} quarters from {deps.as_of.isoformat()}"
        f" with {len(deps.pins)} pinned and {len(deps.exclusions)} excluded features."
    )


ROADMAP_AGENT = AnalysisAgentKind(
    name=ROADMAP_AGENT_NAME,
    output_type=RoadmapAnalysis,
    instructions=INSTRUCTIONS,
    toolset=roadmap_toolset,
    offline_plan=OFFLINE_PLAN,
    prompt=roadmap_prompt,
    build_report=roadmap_report,
    check=_check_plan_items,
)
build_roadmap_agent = ROADMAP_AGENT.build
run_roadmap_drafting = ROADMAP_AGENT.run
