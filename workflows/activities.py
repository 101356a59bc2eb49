"""The workflows' own activities: load a snapshot, precompute engine results, persist results to the graph.

`LodestarActivities` holds the worker's `GraphStore`; its bound methods are the activities (names below
are durable contracts). The agents' model requests and tool calls are activities too, registered by
`PydanticAIPlugin` from `workflows.durable_agents`.

Engine work (Monte Carlo forecast, roadmap MILP, risk assessment) runs in a thread while the activity
heartbeats from the event loop, so Temporal can tell a long computation from a dead worker. Results
land in this process's `agents.engine_runs` cache: the agent's tool activities, which usually run on the
same worker, then find them there. Engines are deterministic for a snapshot and settings, so a worker
that has not seen them recomputes the same numbers.

The snapshots a worker keeps (up to 4) are frozen out of the garbage collector's full collections once
loaded (`keep_out_of_full_collections`).

Errors that no retry can fix (an empty graph, a snapshot the graph no longer holds, a scenario or pin
the engines refuse, a roadmap version in the wrong state) are raised as non-retryable
`ApplicationError`s whose `type` names them.
"""

from __future__ import annotations

import asyncio
import gc
import os
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypedDict, TypeVar

from temporalio import activity
from temporalio.exceptions import ApplicationError

from agents import engine_runs
from agents.deps import AnalysisDeps
from agents.model_config import (
    DEFAULT_OPENAI_COMPATIBLE_NAME,
    MODEL_NAME_ENV,
    OFFLINE_MODEL_NAME,
    is_base_url,
)
from agents.reports import (
    AgentReport,
    RiskAssessmentReport,
    RoadmapReport,
    ScenarioReport,
    UsageReport,
    risk_assessment_report,
    roadmap_report,
    scenario_report,
)
from agents.snapshots import SnapshotRegistry, SnapshotUnavailableError, snapshots
from engines.forecast import Forecast
from engines.risk import Risk, RiskReport
from engines.roadmap import RoadmapError
from engines.scenario_changes import ScenarioError
from engines.scenarios import late_feature_count
from graph.portfolio import Portfolio
from graph.result_store import (
    FigureValue,
    ResultStateError,
    ResultStore,
    ResultWrite,
    RoadmapStatus,
    StoredResult,
)
from graph.store import GraphStore
from graph.vocabulary import NodeLabel
from workflows.payloads import (
    OFFLINE_MODEL_KEY,
    ForecastFigures,
    PersistPortfolioReview,
    PersistRiskAssessment,
    PersistRoadmapDraft,
    PersistScenarioAnalysis,
    PortfolioReviewOutcome,
    PrecomputeJob,
    PrecomputeKind,
    PrecomputeReport,
    RiskAssessmentOutcome,
    RiskHeadline,
    RoadmapDecisionRecord,
    RoadmapDraftOutcome,
    RunIdentity,
    ScenarioFigures,
    ScenarioSimulationOutcome,
    SnapshotRef,
    SnapshotRequest,
)

T = TypeVar("T")

HEARTBEAT_INTERVAL_SECONDS = 1.0
TREND_LIST_LIMIT = 10


def model_name_of(model: str) -> str:
    """The name a result records for the model of its run: an OpenAI-compatible base URL is named by the
    model this worker sent the requests to (`LODESTAR_MODEL_NAME`), at that URL."""
    if model == OFFLINE_MODEL_KEY:
        return OFFLINE_MODEL_NAME
    if is_base_url(model):
        return f"{os.environ.get(MODEL_NAME_ENV) or DEFAULT_OPENAI_COMPATIBLE_NAME} at {model}"
    return model


def _non_retryable(error: Exception, error_type: str) -> ApplicationError:
    return ApplicationError(str(error), type=error_type, non_retryable=True)


def keep_out_of_full_collections() -> None:
    """Freeze every object alive now (a snapshot just loaded) out of the garbage collector's full
    collections, after a collection of the young generations only (what the load left as cyclic garbage,
    which a freeze would keep).

    A full collection holds the GIL, and so stalls every workflow task of this worker against Temporal's
    2 s deadlock detection: over two large-demo snapshots (3.2M objects) it took 0.87 s here, and a worker
    keeps four. Frozen objects are still freed when their last reference goes (snapshots hold no
    reference cycles). Called once per snapshot load, not per run: cyclic garbage of the old generation
    alive at that moment is never collected.
    """
    gc.collect(1)
    gc.freeze()


async def heartbeat_until_done(
    work: Awaitable[T], *, interval: float = HEARTBEAT_INTERVAL_SECONDS
) -> tuple[T, int]:
    """Await `work`, heartbeating every `interval` seconds until it is done; (result, heartbeats).

    If the activity is cancelled, `work` is cancelled with it.
    """
    started = time.perf_counter()
    task = asyncio.ensure_future(work)
    task.add_done_callback(lambda done: done.cancelled() or done.exception())
    heartbeats = 0
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=interval)
            if done:
                return task.result(), heartbeats
            heartbeats += 1
            activity.heartbeat({"seconds": round(time.perf_counter() - started, 1)})
    except asyncio.CancelledError:
        task.cancel()
        raise


async def run_heartbeating(
    compute: Callable[[], T], *, interval: float = HEARTBEAT_INTERVAL_SECONDS
) -> tuple[T, int]:
    """Run `compute` in a thread, heartbeating every `interval` seconds until it returns; (result, heartbeats).

    If the activity is cancelled the thread cannot be stopped: it finishes in the background and its
    result (which lands in the engine cache) is dropped.
    """
    return await heartbeat_until_done(asyncio.to_thread(compute), interval=interval)


def risk_key(risk: Risk) -> str:
    """A risk's identity across reviews: its kind and the ids it concerns (titles carry changing figures)."""
    return f"{risk.kind.value}:{'|'.join(sorted(risk.affected_ids))}"


def forecast_figures(forecast: Forecast) -> ForecastFigures:
    return ForecastFigures(
        trials=forecast.trials,
        arr_at_risk=round(forecast.arr_at_risk, 2),
        arr_weighted_on_time=round(forecast.arr_weighted_on_time, 4),
        late_feature_count=late_feature_count(forecast),
        customers_at_risk_ids=sorted(c.customer_id for c in forecast.customers_at_risk),
        unscheduled_feature_count=len(forecast.unscheduled_feature_ids),
    )


def agent_run(job: PersistScenarioAnalysis | PersistRoadmapDraft | PersistRiskAssessment) -> AgentReport:
    """The facts of the agent run a persist job carries: snapshot, model and usage."""
    return AgentReport(
        snapshot_id=job.deps.snapshot_id,
        model_name=model_name_of(job.model),
        offline=job.model == OFFLINE_MODEL_KEY,
        usage=job.usage,
    )


def _precompute(kind: PrecomputeKind, portfolio: Portfolio, deps: AnalysisDeps) -> object:
    match kind:
        case PrecomputeKind.FORECAST:
            return engine_runs.baseline_forecast(portfolio, deps)
        case PrecomputeKind.SCENARIOS:
            return engine_runs.scenario_results(portfolio, deps)
        case PrecomputeKind.ROADMAP:
            return engine_runs.roadmap_plan(portfolio, deps)
        case PrecomputeKind.RISK:
            return engine_runs.risk_report(portfolio, deps)


def _write(
    run: RunIdentity,
    deps: AnalysisDeps,
    *,
    model_name: str,
    offline: bool,
    headline: str,
    figures: dict[str, FigureValue],
    cited_ids: Sequence[str],
    report_json: str,
) -> ResultWrite:
    return ResultWrite(
        id=run.workflow_id,
        run_id=run.run_id,
        workflow_type=run.workflow_type,
        snapshot_id=deps.snapshot_id,
        as_of=deps.as_of,
        recorded_at=run.recorded_at,
        model_name=model_name,
        offline=offline,
        headline=headline,
        figures=figures,
        cited_ids=list(cited_ids),
        report_json=report_json,
    )


AnalysisReport = ScenarioReport | RoadmapReport | RiskAssessmentReport


def _report_write(
    run: RunIdentity, deps: AnalysisDeps, report: AnalysisReport, figures: dict[str, FigureValue]
) -> ResultWrite:
    """The result node of an agent run: the report's facts, headline and cited ids, and the whole report."""
    return _write(
        run,
        deps,
        model_name=report.model_name,
        offline=report.offline,
        headline=report.analysis.headline,
        figures={**figures, **usage_figures(report.usage)},
        cited_ids=report.analysis.cited_ids(),
        report_json=report.model_dump_json(),
    )


USAGE_FIGURES = ("model_requests", "tool_calls", "input_tokens", "output_tokens")
"""The figures every agent result stores its run's model usage under (offline runs: the offline
planner's requests and tool calls, with pydantic-ai's synthetic token estimate for a FunctionModel)."""


def usage_figures(usage: UsageReport) -> dict[str, FigureValue]:
    return {
        "model_requests": usage.requests,
        "tool_calls": usage.tool_calls,
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
    }


class OutcomeFacts(TypedDict):
    """What every analysis outcome opens with: the run, its model, the agent's headline and advice."""

    workflow_id: str
    snapshot_id: str
    model_name: str
    offline: bool
    headline: str
    recommendation: str
    usage: UsageReport


def _outcome_facts(workflow_id: str, report: AnalysisReport) -> OutcomeFacts:
    return {
        "workflow_id": workflow_id,
        "snapshot_id": report.snapshot_id,
        "model_name": report.model_name,
        "offline": report.offline,
        "headline": report.analysis.headline,
        "recommendation": report.analysis.recommendation,
        "usage": report.usage,
    }


def roadmap_outcome(stored: StoredResult, report: RoadmapReport) -> RoadmapDraftOutcome:
    assert stored.roadmap is not None
    return RoadmapDraftOutcome(
        **_outcome_facts(stored.id, report),
        as_of=stored.as_of,
        version=stored.roadmap.version,
        status=stored.roadmap.status,
        current=stored.roadmap.current,
        commitment_count=sum(len(q.commitments) for q in report.plan.quarters),
        exploration_count=sum(len(q.explorations) for q in report.plan.quarters),
        left_out_count=len(report.plan.left_out),
        total_value=round(report.plan.total_value, 4),
    )


class LodestarActivities:
    """The activities, bound to one worker's graph store and snapshot registry."""

    def __init__(
        self,
        store: GraphStore,
        *,
        registry: SnapshotRegistry = snapshots,
        heartbeat_interval: float = HEARTBEAT_INTERVAL_SECONDS,
    ) -> None:
        self.store = store
        self.results = ResultStore(store)
        self.registry = registry
        self.heartbeat_interval = heartbeat_interval

    def all(self) -> list[Callable[..., Any]]:
        """Every activity, for `Worker(activities=...)`."""
        return [
            self.load_snapshot,
            self.precompute_engines,
            self.forecast_baseline,
            self.persist_scenario_analysis,
            self.persist_risk_assessment,
            self.store_roadmap_draft,
            self.decide_roadmap,
            self.persist_portfolio_review,
        ]

    async def _portfolio(self, deps: AnalysisDeps) -> Portfolio:
        reloads = self.registry.cached(deps.snapshot_id) is None
        try:
            portfolio = await self.registry.get(deps.snapshot_id)
        except SnapshotUnavailableError as error:
            raise _non_retryable(error, "SnapshotUnavailable") from error
        if reloads:
            keep_out_of_full_collections()
        return portfolio

    async def _heartbeating(self, compute: Callable[[], T]) -> tuple[T, int]:
        try:
            return await run_heartbeating(compute, interval=self.heartbeat_interval)
        except RoadmapError as error:
            raise _non_retryable(error, "RoadmapError") from error
        except ScenarioError as error:
            raise _non_retryable(error, "ScenarioError") from error

    @activity.defn(name="load_snapshot")
    async def load_snapshot(self, request: SnapshotRequest) -> SnapshotRef:
        """Read the portfolio from the graph into this worker's registry, heartbeating (a large portfolio
        takes tens of seconds, and a worker killed meanwhile is noticed by the heartbeat timeout instead of
        the start-to-close timeout); return its id and size."""
        portfolio, _ = await heartbeat_until_done(
            self.store.portfolio_snapshot(), interval=self.heartbeat_interval
        )
        if not portfolio.features:
            raise ApplicationError(
                "the graph holds no portfolio features", type="EmptyPortfolio", non_retryable=True
            )
        snapshot_id = self.registry.put(portfolio)
        keep_out_of_full_collections()
        return SnapshotRef(snapshot_id=snapshot_id, counts=portfolio.counts(), as_of=request.as_of)

    @activity.defn(name="precompute_engines")
    async def precompute_engines(self, job: PrecomputeJob) -> PrecomputeReport:
        """Run the engine computation the agent's tools will need, heartbeating, into the engine cache."""
        portfolio = await self._portfolio(job.deps)
        started = time.perf_counter()
        _, heartbeats = await self._heartbeating(lambda: _precompute(job.kind, portfolio, job.deps))
        return PrecomputeReport(
            kind=job.kind, seconds=round(time.perf_counter() - started, 3), heartbeats=heartbeats
        )

    @activity.defn(name="forecast_baseline")
    async def forecast_baseline(self, deps: AnalysisDeps) -> ForecastFigures:
        """The baseline Monte Carlo forecast's headline figures (heartbeating)."""
        portfolio = await self._portfolio(deps)
        forecast, _ = await self._heartbeating(lambda: engine_runs.baseline_forecast(portfolio, deps))
        return forecast_figures(forecast)

    @activity.defn(name="persist_scenario_analysis")
    async def persist_scenario_analysis(self, job: PersistScenarioAnalysis) -> ScenarioSimulationOutcome:
        """Assemble the scenario report (engine results + analysis) and write it, once, to the graph."""
        portfolio = await self._portfolio(job.deps)
        report, _ = await self._heartbeating(
            lambda: scenario_report(portfolio, job.deps, agent_run(job), job.analysis)
        )
        analysis, baseline, results = job.analysis, report.baseline, report.results
        figures = [
            ScenarioFigures(
                scenario_id=result.scenario.id,
                name=result.scenario.name,
                arr_at_risk_after=round(result.delta.arr_at_risk_after, 2),
                arr_at_risk_change=round(result.delta.arr_at_risk_change, 2),
                arr_weighted_on_time_after=round(result.delta.arr_weighted_on_time_after, 4),
                features_moved=len(result.delta.feature_changes),
            )
            for result in results
        ]
        await self.results.save_result(
            NodeLabel.SCENARIO_ANALYSIS,
            _report_write(
                job.run,
                job.deps,
                report,
                figures={
                    "baseline_arr_at_risk": round(baseline.arr_at_risk, 2),
                    "baseline_arr_weighted_on_time": round(baseline.arr_weighted_on_time, 4),
                    "scenario_ids": [f.scenario_id for f in figures],
                    "scenario_arr_at_risk": [f.arr_at_risk_after for f in figures],
                    "preferred_scenario_id": analysis.preferred_scenario_id,
                },
            ),
        )
        return ScenarioSimulationOutcome(
            **_outcome_facts(job.run.workflow_id, report),
            as_of=job.deps.as_of,
            preferred_scenario_id=analysis.preferred_scenario_id,
            baseline_arr_at_risk=round(baseline.arr_at_risk, 2),
            baseline_arr_weighted_on_time=round(baseline.arr_weighted_on_time, 4),
            scenarios=figures,
            cited_ids=len(set(analysis.cited_ids())),
        )

    async def _risk_report(self, deps: AnalysisDeps) -> RiskReport:
        portfolio = await self._portfolio(deps)
        report, _ = await self._heartbeating(lambda: engine_runs.risk_report(portfolio, deps))
        return report

    @activity.defn(name="persist_risk_assessment")
    async def persist_risk_assessment(self, job: PersistRiskAssessment) -> RiskAssessmentOutcome:
        """Assemble the risk report (engine results + analysis) and write it, once, to the graph."""
        portfolio = await self._portfolio(job.deps)
        report, _ = await self._heartbeating(
            lambda: risk_assessment_report(portfolio, job.deps, agent_run(job), job.analysis)
        )
        analysis, risks = job.analysis, report.report
        await self.results.save_result(
            NodeLabel.RISK_ASSESSMENT,
            _report_write(
                job.run,
                job.deps,
                report,
                figures={
                    "arr_at_risk": round(risks.arr_at_risk, 2),
                    "total_arr": round(risks.total_arr, 2),
                    "customers_at_risk_count": len(risks.customers_at_risk),
                    "risk_count": len(risks.risks),
                    "critical_path_weeks": round(risks.critical_path_weeks, 2),
                    "priority_kinds": [kind.value for kind in analysis.priority_kinds],
                },
            ),
        )
        return RiskAssessmentOutcome(
            **_outcome_facts(job.run.workflow_id, report),
            as_of=job.deps.as_of,
            arr_at_risk=round(risks.arr_at_risk, 2),
            total_arr=round(risks.total_arr, 2),
            customers_at_risk_count=len(risks.customers_at_risk),
            risk_count=len(risks.risks),
            top_risks=[RiskHeadline(kind=r.kind, severity=r.severity, title=r.title) for r in risks.top(5)],
            priority_kinds=analysis.priority_kinds,
            cited_ids=len(set(analysis.cited_ids())),
        )

    @activity.defn(name="store_roadmap_draft")
    async def store_roadmap_draft(self, job: PersistRoadmapDraft) -> RoadmapDraftOutcome:
        """Write the drafted roadmap as the next roadmap version, status draft (idempotent)."""
        portfolio = await self._portfolio(job.deps)
        report, _ = await self._heartbeating(
            lambda: roadmap_report(portfolio, job.deps, agent_run(job), job.analysis)
        )
        analysis, plan = job.analysis, report.plan
        stored = await self.results.save_roadmap_draft(
            _report_write(
                job.run,
                job.deps,
                report,
                figures={
                    "quarters": len(plan.quarters),
                    "total_value": round(plan.total_value, 4),
                    "commitment_ids": analysis.commitment_ids,
                    "exploration_ids": analysis.exploration_ids,
                    "left_out_count": len(plan.left_out),
                    "solver_status": plan.solver.status,
                },
            )
        )
        return roadmap_outcome(stored, report)

    @activity.defn(name="decide_roadmap")
    async def decide_roadmap(self, decision: RoadmapDecisionRecord) -> RoadmapDraftOutcome:
        """Publish a draft as the current roadmap, or close it (rejected, expired, cancelled); idempotent."""
        try:
            if decision.status is RoadmapStatus.PUBLISHED:
                stored = await self.results.publish_roadmap(
                    decision.version_id,
                    reviewer=decision.reviewer or "",
                    comment=decision.comment or "",
                    at=decision.decided_at,
                )
            else:
                stored = await self.results.close_roadmap_draft(
                    decision.version_id,
                    decision.status,
                    reviewer=decision.reviewer,
                    comment=decision.comment,
                    at=decision.decided_at,
                )
        except ResultStateError as error:
            raise _non_retryable(error, "RoadmapStateError") from error
        full = await self.results.get_result(NodeLabel.ROADMAP_VERSION, stored.id, with_report=True)
        assert full is not None and full.report_json is not None
        return roadmap_outcome(stored, RoadmapReport.model_validate_json(full.report_json))

    @activity.defn(name="persist_portfolio_review")
    async def persist_portfolio_review(self, job: PersistPortfolioReview) -> PortfolioReviewOutcome:
        """Record the review and its trend against the previous review; a retry returns what was recorded."""
        existing = await self.results.get_result(
            NodeLabel.PORTFOLIO_REVIEW, job.run.workflow_id, with_report=True
        )
        if existing is not None and existing.report_json is not None:
            return PortfolioReviewOutcome.model_validate_json(existing.report_json)
        risks = await self._risk_report(job.deps)
        previous = await self.results.previous_review(job.run.workflow_id, job.run.recorded_at)
        outcome = review_outcome(job, risks, previous)
        keys = [risk_key(risk) for risk in risks.risks]
        await self.results.save_review(
            _write(
                job.run,
                job.deps,
                model_name="engines",
                offline=True,
                headline=review_headline(outcome),
                figures={
                    "arr_at_risk": outcome.arr_at_risk,
                    "arr_at_risk_change": outcome.arr_at_risk_change,
                    "arr_weighted_on_time": outcome.arr_weighted_on_time,
                    "late_feature_count": outcome.late_feature_count,
                    "risk_count": outcome.risk_count,
                    "risk_keys": keys,
                    "risk_titles": [risk.title for risk in risks.risks],
                    "customers_at_risk_ids": job.forecast.customers_at_risk_ids,
                    "new_risk_count": outcome.new_risk_count,
                    "resolved_risk_count": outcome.resolved_risk_count,
                    "schedule_id": job.schedule_id,
                },
                cited_ids=[*job.forecast.customers_at_risk_ids, *outcome.customers_no_longer_at_risk],
                report_json=outcome.model_dump_json(),
            ),
            previous_review_id=outcome.previous_review_id,
            risk_assessment_id=job.risk_assessment_id,
        )
        return outcome


def _strings(value: FigureValue) -> list[str]:
    return [str(item) for item in value] if isinstance(value, list) else []


def _number(value: FigureValue) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def review_outcome(
    job: PersistPortfolioReview, risks: RiskReport, previous: StoredResult | None
) -> PortfolioReviewOutcome:
    """The review's figures and, when there is a previous review, what changed since."""
    keys = {risk_key(risk): risk.title for risk in risks.risks}
    arr_at_risk = round(risks.arr_at_risk, 2)
    customers = set(job.forecast.customers_at_risk_ids)
    if previous is None:
        new_keys: list[str] = []
        resolved: list[str] = []
        arr_change = on_time_change = None
        newly_at_risk: list[str] = []
        no_longer: list[str] = []
    else:
        previous_titles = dict(
            zip(
                _strings(previous.figures.get("risk_keys")),
                _strings(previous.figures.get("risk_titles")),
                strict=False,
            )
        )
        new_keys = [key for key in keys if key not in previous_titles]
        resolved = [previous_titles[key] for key in previous_titles if key not in keys]
        previous_arr = _number(previous.figures.get("arr_at_risk"))
        previous_on_time = _number(previous.figures.get("arr_weighted_on_time"))
        arr_change = None if previous_arr is None else round(arr_at_risk - previous_arr, 2)
        on_time_change = (
            None
            if previous_on_time is None
            else round(job.forecast.arr_weighted_on_time - previous_on_time, 4)
        )
        previous_customers = set(_strings(previous.figures.get("customers_at_risk_ids")))
        newly_at_risk = sorted(customers - previous_customers)
        no_longer = sorted(previous_customers - customers)
    return PortfolioReviewOutcome(
        workflow_id=job.run.workflow_id,
        snapshot_id=job.deps.snapshot_id,
        as_of=job.deps.as_of,
        risk_assessment_id=job.risk_assessment_id,
        previous_review_id=None if previous is None else previous.id,
        arr_at_risk=arr_at_risk,
        arr_at_risk_change=arr_change,
        arr_weighted_on_time=job.forecast.arr_weighted_on_time,
        arr_weighted_on_time_change=on_time_change,
        late_feature_count=job.forecast.late_feature_count,
        risk_count=len(risks.risks),
        new_risks=[keys[key] for key in new_keys][:TREND_LIST_LIMIT],
        resolved_risks=resolved[:TREND_LIST_LIMIT],
        new_risk_count=len(new_keys),
        resolved_risk_count=len(resolved),
        customers_newly_at_risk=newly_at_risk[:TREND_LIST_LIMIT],
        customers_no_longer_at_risk=no_longer[:TREND_LIST_LIMIT],
    )


def review_headline(outcome: PortfolioReviewOutcome) -> str:
    if outcome.previous_review_id is None:
        return f"First portfolio review: {outcome.risk_count} risks, ARR at risk {outcome.arr_at_risk:,.0f}."
    change = outcome.arr_at_risk_change or 0.0
    return (
        f"Portfolio review: {outcome.risk_count} risks ({outcome.new_risk_count} new, "
        f"{outcome.resolved_risk_count} resolved), ARR at risk {outcome.arr_at_risk:,.0f} ({change:+,.0f})."
    )
