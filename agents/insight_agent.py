"""The customer-insight agent: what customers are telling us, which themes are growing, which features it
points to, and where confirmed feedback adds demand.

Built like the other analysis agents (`agents.analysis_agent`): shared instructions and usage limits, tools
over compact summaries, the offline deterministic planner by default, and the evidence rules (every cited id
returned by a tool, every figure in a tool result). Its deps are `InsightDeps` (the run key and the rejected
links travel with them), and the ids it may cite are the snapshot's plus the themes of this run's analysis.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from pydantic_ai import Agent, ModelRetry, RunContext
from pydantic_ai.capabilities import AbstractCapability
from pydantic_ai.models import Model
from pydantic_ai.toolsets import FunctionToolset
from pydantic_ai.usage import UsageLimits
from temporalio import workflow

from agents import insight_runs
from agents.analysis_agent import (
    SHARED_INSTRUCTIONS,
    PlannedCall,
    ToolResults,
    offline_plan,
    run_usage_limits,
    usage_report,
)
from agents.evidence import evidence_problems, gather_tool_evidence
from agents.insight_runs import InsightDeps, InsightFindings, InsightReport
from agents.model_config import OFFLINE_DISCLAIMER, build_model, is_offline, model_spec
from agents.private_toolset import PrivateToolset
from agents.reports import AgentReport, Finding, money
from agents.snapshots import snapshots
from graph.portfolio import Portfolio

INSIGHT_AGENT_NAME = "lodestar_insight"
INSIGHT_TOOLSET_ID = "insight_tools"

INSTRUCTIONS = f"""{SHARED_INSTRUCTIONS}
You may also cite theme ids (theme_id) exactly as the tools returned them.
Your job: a digest of customer feedback. Call insight_overview, top_themes, link_suggestions and
feedback_demand; use theme_feedback to read what customers say in the largest or most negative themes.
Report the themes that matter most (size, ARR behind them, sentiment, trend), the features the feedback
points to, and where confirmed feedback adds demand. Put the themes to act on in theme_ids and the features
in feature_ids."""


async def _portfolio(ctx: RunContext[InsightDeps]) -> Portfolio:
    return await snapshots.get(ctx.deps.snapshot_id)


async def _analysis(ctx: RunContext[InsightDeps]) -> tuple[Portfolio, insight_runs.InsightAnalysis]:
    portfolio = await _portfolio(ctx)
    analysis = await asyncio.to_thread(insight_runs.insight_analysis, portfolio, ctx.deps)
    return portfolio, analysis


async def _overview(ctx: RunContext[InsightDeps]) -> insight_runs.InsightOverview:
    """How much feedback there is, how many themes and links, and the mean sentiment (-1 to 1)."""
    portfolio, analysis = await _analysis(ctx)
    return insight_runs.insight_overview(portfolio, analysis)


async def _top_themes(ctx: RunContext[InsightDeps]) -> insight_runs.ThemeList:
    """The largest themes: label, top terms, items, customers, ARR behind them, sentiment and trend."""
    _, analysis = await _analysis(ctx)
    return insight_runs.theme_list(analysis, top_n=ctx.deps.top_n)


async def _theme_feedback(ctx: RunContext[InsightDeps], theme_id: str) -> insight_runs.ThemeFeedback:
    """What customers say in one theme (theme_id from top_themes), most negative first, quoted as data."""
    portfolio, analysis = await _analysis(ctx)
    try:
        return insight_runs.theme_feedback(portfolio, analysis, theme_id, top_n=min(ctx.deps.top_n, 5))
    except ValueError as error:
        raise ModelRetry(str(error)) from error


async def _link_suggestions(ctx: RunContext[InsightDeps]) -> insight_runs.LinkSuggestionList:
    """Suggested feedback-to-feature links awaiting a person's review, best score first."""
    portfolio, analysis = await _analysis(ctx)
    return insight_runs.link_suggestions(portfolio, analysis, top_n=ctx.deps.top_n)


async def _feedback_demand(ctx: RunContext[InsightDeps]) -> insight_runs.FeedbackDemand:
    """Confirmed feedback links per feature, and the ARR of linking customers without a request."""
    portfolio = await _portfolio(ctx)
    return insight_runs.feedback_demand(portfolio, top_n=ctx.deps.top_n)


def insight_toolset() -> FunctionToolset[InsightDeps]:
    toolset = PrivateToolset[InsightDeps](id=INSIGHT_TOOLSET_ID)
    toolset.add_function(_overview, name="insight_overview")
    toolset.add_function(_top_themes, name="top_themes")
    toolset.add_function(_theme_feedback, name="theme_feedback")
    toolset.add_function(_link_suggestions, name="link_suggestions")
    toolset.add_function(_feedback_demand, name="feedback_demand")
    return toolset


# -- the offline planner ---------------------------------------------------------------------------------


def _largest_theme(results: ToolResults) -> dict[str, object] | None:
    themes = results["top_themes"][0]["themes"]
    return {"theme_id": themes[0]["theme_id"]} if themes else None


def _theme_statement(theme: dict[str, Any]) -> str:
    return (
        f'Theme {theme["rank"]}, "{theme["label"]}": {theme["item_count"]} items from '
        f"{theme['customer_count']} customers with {money(theme['arr'])} ARR, {theme['trend']} "
        f"({theme['recent_count']} items recently against {theme['previous_count']} before)."
    )


def _write_offline_digest(results: ToolResults) -> dict[str, object]:
    overview = results["insight_overview"][0]
    themes = results["top_themes"][0]["themes"]
    links = results["link_suggestions"][0]
    demand = results["feedback_demand"][0]
    findings: list[Finding] = []
    for theme in themes[:4]:
        findings.append(
            Finding(
                statement=_theme_statement(theme),
                evidence_ids=[theme["theme_id"], *theme["top_customer_ids"][:2]],
            )
        )
    if links["top"]:
        best = links["top"][:3]
        findings.append(
            Finding(
                statement=(
                    f"{links['suggested_link_count']} feedback items look like they are about a feature and await "
                    f"review; the strongest points to {best[0]['feature_name']} (score {best[0]['score']})."
                ),
                evidence_ids=[b["feedback_id"] for b in best] + [best[0]["feature_id"]],
            )
        )
    for brief in demand["features"][:2]:
        findings.append(
            Finding(
                statement=(
                    f"Confirmed feedback about {brief['name']} adds {money(brief['arr_without_request'])} ARR of "
                    f"demand from customers who never requested it."
                ),
                evidence_ids=[brief["feature_id"], *brief["confirmed_feedback_ids"][:2]],
            )
        )
    if not findings:
        findings.append(
            Finding(
                statement=f"{overview['feedback_count']} feedback items form no theme yet.",
                evidence_ids=overview["sample_feedback_ids"][:1],
            )
        )
    quotes = results.get("theme_feedback", [])
    recommendation = (
        "Review the suggested links, starting with the strongest, so confirmed feedback counts as demand."
    )
    if themes:
        recommendation = (
            f'Start with theme 1, "{themes[0]["label"]}", and review the suggested links so confirmed '
            "feedback counts as demand."
        )
    if quotes and quotes[0]["quotes"]:
        recommendation += f" Its most negative item is {quotes[0]['quotes'][0]['feedback_id']}."
    return InsightFindings(
        headline=(
            f"Customer insight: {overview['feedback_count']} feedback items in {overview['theme_count']} themes. "
            f"{OFFLINE_DISCLAIMER}"
        ),
        findings=findings[:8],
        recommendation=recommendation,
        theme_ids=[theme["theme_id"] for theme in themes[:3]],
        feature_ids=sorted(
            {b["feature_id"] for b in links["top"][:3]} | {b["feature_id"] for b in demand["features"][:2]}
        ),
    ).model_dump()


OFFLINE_PLAN = offline_plan(
    [
        PlannedCall("insight_overview"),
        PlannedCall("top_themes"),
        PlannedCall("theme_feedback", _largest_theme),
        PlannedCall("link_suggestions"),
        PlannedCall("feedback_demand"),
    ],
    _write_offline_digest,
)


def insight_prompt(deps: InsightDeps) -> str:
    return f"Write the customer-insight digest as of {deps.as_of.isoformat()}."


def _validate(ctx: RunContext[InsightDeps], output: InsightFindings) -> InsightFindings:
    """The evidence rules; theme ids of this run's analysis count as graph ids (they are stored with it)."""
    evidence = gather_tool_evidence(ctx.messages)
    graph_ids: set[str] | frozenset[str] = evidence.ids
    if not workflow.in_workflow():
        known = snapshots.known_ids(ctx.deps.snapshot_id)
        portfolio = snapshots.cached(ctx.deps.snapshot_id)
        if known is not None and portfolio is not None:
            analysis = insight_runs.insight_analysis(portfolio, ctx.deps)
            graph_ids = known | {t.theme.id for t in analysis.themes}
    problems = evidence_problems(
        cited_ids=output.cited_ids(), narrative=output.narrative(), evidence=evidence, graph_ids=graph_ids
    )
    if problems:
        raise ModelRetry("Fix these and answer again: " + "; ".join(problems[:12]))
    return output


def build_insight_agent(
    model: Model | None = None, capabilities: Sequence[AbstractCapability[InsightDeps]] = ()
) -> Agent[InsightDeps, InsightFindings]:
    agent = Agent[InsightDeps, InsightFindings](
        model or build_model(model_spec(), OFFLINE_PLAN),
        name=INSIGHT_AGENT_NAME,
        deps_type=InsightDeps,
        output_type=InsightFindings,
        instructions=INSTRUCTIONS,
        toolsets=[insight_toolset()],
        retries=2,
        capabilities=list(capabilities),
    )
    agent.output_validator(_validate)
    return agent


async def run_insight_digest(
    deps: InsightDeps,
    *,
    agent: Agent[InsightDeps, InsightFindings] | None = None,
    usage_limits: UsageLimits | None = None,
) -> InsightReport:
    """Run the agent in-process (the CLI), then build the report."""
    agent = agent or build_insight_agent()
    result = await agent.run(insight_prompt(deps), deps=deps, usage_limits=run_usage_limits(usage_limits))
    model = agent.model
    assert isinstance(model, Model), "the insight agent is built with a model instance"
    run = AgentReport(
        snapshot_id=deps.snapshot_id,
        model_name=model.model_name,
        offline=is_offline(model),
        usage=usage_report(result.usage),
    )
    portfolio = await snapshots.get(deps.snapshot_id)
    return await asyncio.to_thread(insight_runs.insight_report, portfolio, deps, run, result.output)
