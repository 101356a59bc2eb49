"""The durable workflows. Their names (`workflows.payloads.WORKFLOW_NAMES`) are durable contracts.

Each analysis workflow runs: `load_snapshot` (activity) -> `precompute_engines` (heartbeating activity
filling the worker's engine cache) -> its agent, durably (every model request and tool call is an
activity) -> one persist activity writing the result to the graph in one transaction, keyed by workflow
id. Inputs and outputs are small (`workflows.payloads`); the full report stays in the graph.

Cancellation: before the persist activity starts, cancelling leaves nothing in the graph (nothing was
written yet). Once persisting has started, the write is shielded: it finishes, and the workflow
completes normally, because the result is complete, not partial. A roadmap draft already stored when
the cancellation arrives is kept but marked `cancelled` (an audit trail; it can never be published).

Rules for changing this file: workflow code must stay deterministic (no I/O, clocks, randomness or
environment reads; use `workflow.now()`), and any change in the sequence of commands of a workflow
that may have runs in flight goes behind `workflow.patched("<change id>")`. The replay tests in
`tests/workflows/test_replay.py` replay recorded histories to catch violations.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import date, timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeUpdate, TypedSearchAttributes
from temporalio.exceptions import is_cancelled_exception

with workflow.unsafe.imports_passed_through():
    from pydantic_ai import Agent
    from pydantic_ai.durable_exec.temporal import PydanticAIWorkflow
    from pydantic_ai.messages import ToolCallPart

    from agents.analysis_agent import DEFAULT_USAGE_LIMITS, usage_report
    from agents.deps import AnalysisDeps
    from agents.insight_agent import insight_prompt
    from agents.insight_runs import InsightDeps
    from agents.model_config import within_token_budget
    from agents.reports import UsageReport
    from agents.risk_agent import risk_prompt
    from agents.roadmap_agent import roadmap_prompt
    from agents.scenario_agent import scenario_prompt
    from graph.result_store import RoadmapStatus
    from workflows import search_attributes
    from workflows.activities import LodestarActivities
    from workflows.durable_agents import risk_agent_durable, roadmap_agent_durable, scenario_agent_durable
    from workflows.durations import human_duration
    from workflows.insight_activities import InsightActivities
    from workflows.insight_durable import insight_agent_durable
    from workflows.insight_payloads import (
        InsightDigestOutcome,
        InsightPrecomputeReport,
        InsightRunRequest,
        PersistInsightDigest,
        RejectedLinks,
    )
    from workflows.payloads import (
        INSIGHT_WORKFLOW,
        REVIEW_WORKFLOW,
        RISK_WORKFLOW,
        ROADMAP_WORKFLOW,
        SCENARIO_WORKFLOW,
        WORKFLOW_KINDS,
        AnalysisSettings,
        PersistPortfolioReview,
        PersistRiskAssessment,
        PersistRoadmapDraft,
        PersistScenarioAnalysis,
        PortfolioReviewOutcome,
        PortfolioReviewRequest,
        PrecomputeJob,
        PrecomputeKind,
        PrecomputeReport,
        ReviewDecision,
        ReviewRecord,
        ReviewVerdict,
        RiskAssessmentOutcome,
        RiskAssessmentRequest,
        RoadmapDecisionRecord,
        RoadmapDraftingRequest,
        RoadmapDraftOutcome,
        RunIdentity,
        ScenarioSimulationOutcome,
        ScenarioSimulationRequest,
        SnapshotRef,
        SnapshotRequest,
        Stage,
        WorkflowProgress,
    )

T = TypeVar("T")
OutputT = TypeVar("OutputT")
DepsT = TypeVar("DepsT", bound=AnalysisDeps)

SNAPSHOT_TIMEOUT = timedelta(minutes=2)
SNAPSHOT_HEARTBEAT_TIMEOUT = timedelta(seconds=30)
SNAPSHOT_HEARTBEAT_PATCH = "load-snapshot-heartbeat"
PRECOMPUTE_TIMEOUT = timedelta(minutes=20)
PRECOMPUTE_HEARTBEAT_TIMEOUT = timedelta(seconds=30)
PERSIST_TIMEOUT = timedelta(minutes=5)
PERSIST_HEARTBEAT_TIMEOUT = timedelta(seconds=60)
NO_DRAFT_YET = "no draft awaits review yet"
"""The review validator's refusal before the workflow has applied the stored draft. Temporal applies an
update before the activity results of the same workflow task, so a review sent just as the draft is stored
can meet this refusal although the run's progress already says it awaits review."""

GRAPH_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=8,
)
ENGINE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
    maximum_attempts=3,
)

_AGENT_PERCENT_START = 30
_AGENT_PERCENT_END = 85


class _LodestarWorkflow(PydanticAIWorkflow):
    """Progress tracking and the steps every analysis shares."""

    __pydantic_ai_agents__ = ()

    def __init__(self) -> None:
        self._progress = WorkflowProgress()
        self._cancel_requested = False
        self._indexed_stage: Stage | None = None

    @workflow.query(name="progress")
    def progress(self) -> WorkflowProgress:
        """Stage, percent done and the latest messages."""
        return self._progress

    def _advance(self, stage: Stage, percent: int, message: str) -> None:
        self._progress.record(stage, percent, message, workflow.now())
        self._index_stage(stage)

    def _indexed(self) -> bool:
        """Whether this run keeps Lodestar's search attributes up to date: only a run started with
        them (so the namespace has them registered), and only from the patch on."""
        return search_attributes.carries_lodestar(
            workflow.info().typed_search_attributes
        ) and workflow.patched(search_attributes.PATCH_ID)

    def _index(self, *updates: SearchAttributeUpdate[str]) -> None:
        if self._indexed():
            workflow.upsert_search_attributes(updates)

    def _child_attributes(self, workflow_type: str) -> TypedSearchAttributes:
        """A child run's kind, and this run's requester."""
        requested_by = workflow.info().typed_search_attributes.get(search_attributes.REQUESTED_BY)
        return search_attributes.run_attributes(WORKFLOW_KINDS[workflow_type], requested_by)

    def _index_stage(self, stage: Stage) -> None:
        if stage is not self._indexed_stage:
            self._indexed_stage = stage
            self._index(search_attributes.STAGE.value_set(stage.value))

    def _as_of(self, settings: AnalysisSettings) -> date:
        return settings.as_of or workflow.now().date()

    def _identity(self) -> RunIdentity:
        info = workflow.info()
        return RunIdentity(
            workflow_id=info.workflow_id,
            run_id=info.run_id,
            workflow_type=info.workflow_type,
            recorded_at=workflow.now(),
        )

    async def _load_snapshot(self, as_of: date) -> SnapshotRef:
        self._advance(Stage.LOADING_SNAPSHOT, 5, "loading the portfolio snapshot from the graph")
        heartbeats = workflow.patched(SNAPSHOT_HEARTBEAT_PATCH)
        snapshot = await workflow.execute_activity_method(
            LodestarActivities.load_snapshot,
            SnapshotRequest(as_of=as_of),
            start_to_close_timeout=SNAPSHOT_TIMEOUT,
            heartbeat_timeout=SNAPSHOT_HEARTBEAT_TIMEOUT if heartbeats else None,
            retry_policy=GRAPH_RETRY,
        )
        self._index(search_attributes.SNAPSHOT_ID.value_set(snapshot.snapshot_id))
        counts = snapshot.counts
        self._advance(
            Stage.LOADING_SNAPSHOT,
            10,
            f"snapshot {snapshot.snapshot_id}: {counts.get('features', 0)} features, "
            f"{counts.get('customers', 0)} customers, {counts.get('teams', 0)} teams",
        )
        return snapshot

    async def _precompute(self, kind: PrecomputeKind, deps: AnalysisDeps) -> PrecomputeReport:
        self._advance(Stage.PRECOMPUTING, 15, f"precomputing the {kind.value} engines")
        report = await workflow.execute_activity_method(
            LodestarActivities.precompute_engines,
            PrecomputeJob(kind=kind, deps=deps),
            start_to_close_timeout=PRECOMPUTE_TIMEOUT,
            heartbeat_timeout=PRECOMPUTE_HEARTBEAT_TIMEOUT,
            retry_policy=ENGINE_RETRY,
        )
        self._advance(
            Stage.PRECOMPUTING,
            _AGENT_PERCENT_START,
            f"{kind.value} engines done in {human_duration(report.seconds)}",
        )
        return report

    async def _run_agent(
        self,
        agent: Agent[DepsT, OutputT],
        prompt: str,
        deps: DepsT,
        model: str,
        max_tokens: int | None = None,
    ) -> tuple[OutputT, UsageReport]:
        """Run `agent` durably; a run whose tokens (in and out) pass `max_tokens` fails with
        `UsageLimitExceeded` (without a budget the limits are the defaults, as before budgets existed)."""
        self._advance(
            Stage.RUNNING_AGENT, _AGENT_PERCENT_START, f"agent {agent.name} started on model {model}"
        )
        percent = _AGENT_PERCENT_START
        limits = within_token_budget(DEFAULT_USAGE_LIMITS, max_tokens)
        async with agent.iter(prompt, deps=deps, model=model, usage_limits=limits) as run:
            async for node in run:
                percent = min(percent + 5, _AGENT_PERCENT_END)
                if Agent.is_call_tools_node(node):
                    calls = [
                        part.tool_name for part in node.model_response.parts if isinstance(part, ToolCallPart)
                    ]
                    self._advance(Stage.RUNNING_AGENT, percent, f"agent calls: {', '.join(calls) or 'none'}")
                elif Agent.is_model_request_node(node):
                    self._advance(Stage.RUNNING_AGENT, percent, "agent asks the model")
        result = run.result
        if result is None:  # pragma: no cover - iter() always ends with a result or an exception
            raise RuntimeError(f"agent {agent.name} ended without a result")
        usage = usage_report(result.usage)
        self._advance(
            Stage.RUNNING_AGENT,
            _AGENT_PERCENT_END,
            f"agent done: {usage.requests} model requests, {usage.tool_calls} tool calls",
        )
        return result.output, usage

    async def _commit(self, write: Awaitable[T]) -> T:
        """Await a result-writing activity that a cancellation must not interrupt; remember the cancellation."""
        task = asyncio.ensure_future(write)
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            self._cancel_requested = True
            return await task

    def _persist_options(self) -> dict[str, Any]:
        return {
            "start_to_close_timeout": PERSIST_TIMEOUT,
            "heartbeat_timeout": PERSIST_HEARTBEAT_TIMEOUT,
            "retry_policy": GRAPH_RETRY,
        }

    def _finished(self, message: str) -> None:
        self._advance(Stage.COMPLETED, 100, message)

    def _record_end(self, error: BaseException) -> None:
        """Progress for a run ending in `error`: cancelled (also when an activity or child was) or failed."""
        if is_cancelled_exception(error):
            stage, message = Stage.CANCELLED, "cancelled"
        else:
            stage, message = Stage.FAILED, f"failed: {error}"
        self._progress.record(stage, 0, message, workflow.now())
        self._index_stage(stage)


@workflow.defn(name=SCENARIO_WORKFLOW)
class ScenarioSimulationWorkflow(_LodestarWorkflow):
    """Simulate the requested scenarios against the baseline forecast and have the agent compare them."""

    __pydantic_ai_agents__ = (scenario_agent_durable,)

    @workflow.run
    async def run(self, request: ScenarioSimulationRequest) -> ScenarioSimulationOutcome:
        try:
            snapshot = await self._load_snapshot(self._as_of(request))
            deps = request.deps(snapshot.snapshot_id, snapshot.as_of)
            await self._precompute(PrecomputeKind.SCENARIOS, deps)
            analysis, usage = await self._run_agent(
                scenario_agent_durable, scenario_prompt(deps), deps, request.model, request.max_tokens_per_run
            )
            self._advance(Stage.PERSISTING, 90, "writing the scenario analysis to the graph")
            outcome = await self._commit(
                workflow.start_activity_method(
                    LodestarActivities.persist_scenario_analysis,
                    PersistScenarioAnalysis(
                        run=self._identity(), deps=deps, model=request.model, analysis=analysis, usage=usage
                    ),
                    **self._persist_options(),
                )
            )
        except (asyncio.CancelledError, Exception) as error:
            self._record_end(error)
            raise
        self._finished(f"scenario analysis stored as {outcome.workflow_id}")
        return outcome


@workflow.defn(name=RISK_WORKFLOW)
class RiskAssessmentWorkflow(_LodestarWorkflow):
    """Assess delivery and revenue risk and have the agent rank what to act on."""

    __pydantic_ai_agents__ = (risk_agent_durable,)

    @workflow.run
    async def run(self, request: RiskAssessmentRequest) -> RiskAssessmentOutcome:
        try:
            snapshot = await self._load_snapshot(self._as_of(request))
            deps = request.deps(snapshot.snapshot_id, snapshot.as_of)
            await self._precompute(PrecomputeKind.RISK, deps)
            analysis, usage = await self._run_agent(
                risk_agent_durable, risk_prompt(deps), deps, request.model, request.max_tokens_per_run
            )
            self._advance(Stage.PERSISTING, 90, "writing the risk assessment to the graph")
            outcome = await self._commit(
                workflow.start_activity_method(
                    LodestarActivities.persist_risk_assessment,
                    PersistRiskAssessment(
                        run=self._identity(), deps=deps, model=request.model, analysis=analysis, usage=usage
                    ),
                    **self._persist_options(),
                )
            )
        except (asyncio.CancelledError, Exception) as error:
            self._record_end(error)
            raise
        self._finished(f"risk assessment stored as {outcome.workflow_id}")
        return outcome


@workflow.defn(name=ROADMAP_WORKFLOW)
class RoadmapDraftingWorkflow(_LodestarWorkflow):
    """Draft a roadmap, store it as a draft version, and publish it only when a reviewer approves.

    The `review` update (validated: a draft must be waiting and not yet reviewed) carries the verdict,
    the reviewer's name and a comment, and returns the final outcome once it is applied. Without a
    review within `review_timeout_seconds` the draft expires.
    """

    __pydantic_ai_agents__ = (roadmap_agent_durable,)

    def __init__(self) -> None:
        super().__init__()
        self._draft: RoadmapDraftOutcome | None = None
        self._decision: ReviewDecision | None = None
        self._final: RoadmapDraftOutcome | None = None

    @workflow.run
    async def run(self, request: RoadmapDraftingRequest) -> RoadmapDraftOutcome:
        try:
            snapshot = await self._load_snapshot(self._as_of(request))
            deps = request.deps(snapshot.snapshot_id, snapshot.as_of)
            await self._precompute(PrecomputeKind.ROADMAP, deps)
            analysis, usage = await self._run_agent(
                roadmap_agent_durable, roadmap_prompt(deps), deps, request.model, request.max_tokens_per_run
            )
            self._advance(Stage.PERSISTING, 88, "storing the draft roadmap version")
            self._draft = await self._commit(
                workflow.start_activity_method(
                    LodestarActivities.store_roadmap_draft,
                    PersistRoadmapDraft(
                        run=self._identity(), deps=deps, model=request.model, analysis=analysis, usage=usage
                    ),
                    **self._persist_options(),
                )
            )
            if self._cancel_requested:
                raise asyncio.CancelledError
            return await self._review_and_decide(request)
        except (asyncio.CancelledError, Exception) as error:
            if is_cancelled_exception(error) and self._draft is not None and self._final is None:
                self._final = await self._decide(RoadmapStatus.CANCELLED, None)
                await workflow.wait_condition(workflow.all_handlers_finished)
            self._record_end(error)
            raise

    async def _review_and_decide(self, request: RoadmapDraftingRequest) -> RoadmapDraftOutcome:
        assert self._draft is not None
        timeout = timedelta(seconds=request.review_timeout_seconds)
        self._advance(
            Stage.AWAITING_REVIEW,
            92,
            f"draft version {self._draft.version} awaits review (expires after {human_duration(timeout)})",
        )
        try:
            await workflow.wait_condition(lambda: self._decision is not None, timeout=timeout)
        except TimeoutError:
            self._advance(Stage.PUBLISHING, 95, "no review in time: the draft expires")
        decision = self._decision
        if decision is not None:
            self._index(search_attributes.REVIEWER.value_set(decision.reviewer))
        if decision is None:
            status = RoadmapStatus.EXPIRED
        elif decision.verdict is ReviewVerdict.APPROVE:
            status = RoadmapStatus.PUBLISHED
        else:
            status = RoadmapStatus.REJECTED
        self._advance(Stage.PUBLISHING, 96, f"recording the decision: {status.value}")
        final = await self._commit(self._decide(status, decision))
        self._final = final
        await workflow.wait_condition(workflow.all_handlers_finished)
        self._finished(f"roadmap version {final.version} is {final.status.value}")
        return final

    async def _decide(self, status: RoadmapStatus, decision: ReviewDecision | None) -> RoadmapDraftOutcome:
        assert self._draft is not None
        decided_at = workflow.now()
        outcome = await workflow.execute_activity_method(
            LodestarActivities.decide_roadmap,
            RoadmapDecisionRecord(
                version_id=self._draft.workflow_id,
                status=status,
                reviewer=None if decision is None else decision.reviewer,
                comment=None if decision is None else decision.comment,
                decided_at=decided_at,
            ),
            start_to_close_timeout=PERSIST_TIMEOUT,
            retry_policy=GRAPH_RETRY,
        )
        review = ReviewRecord(
            verdict=None if decision is None else decision.verdict,
            reviewer=None if decision is None else decision.reviewer,
            comment=None if decision is None else decision.comment,
            decided_at=decided_at,
        )
        return outcome.model_copy(update={"review": review})

    @workflow.query(name="draft")
    def draft(self) -> RoadmapDraftOutcome | None:
        """The stored draft (None until it is stored), with its final status once decided."""
        return self._final or self._draft

    @workflow.update(name="review")
    async def review(self, decision: ReviewDecision) -> RoadmapDraftOutcome:
        """Approve or reject the waiting draft; returns the outcome once it is published or rejected."""
        self._decision = decision
        await workflow.wait_condition(lambda: self._final is not None)
        assert self._final is not None
        return self._final

    @review.validator
    def _validate_review(self, decision: ReviewDecision) -> None:
        if self._draft is None:
            raise ValueError(NO_DRAFT_YET)
        if self._decision is not None:
            raise ValueError(
                f"the draft was already reviewed ({self._decision.verdict.value} by {self._decision.reviewer})"
            )
        if self._final is not None or self._progress.stage is not Stage.AWAITING_REVIEW:
            raise ValueError(f"the draft no longer awaits review (stage {self._progress.stage.value})")
        if not decision.reviewer.strip():
            raise ValueError("the reviewer must be named")


@workflow.defn(name=REVIEW_WORKFLOW)
class PortfolioReviewWorkflow(_LodestarWorkflow):
    """A periodic review: a risk assessment (child workflow) and a baseline forecast, with the trend since the
    previous review recorded in the graph."""

    @workflow.run
    async def run(self, request: PortfolioReviewRequest) -> PortfolioReviewOutcome:
        try:
            as_of = self._as_of(request)
            risk_request = RiskAssessmentRequest.model_validate(
                {**request.model_dump(exclude={"schedule_id"}), "as_of": as_of}
            )
            info = workflow.info()
            self._advance(Stage.RUNNING_CHILD, 10, "running the risk assessment")
            risk = await workflow.execute_child_workflow(
                RiskAssessmentWorkflow.run,
                risk_request,
                id=f"{info.workflow_id}-risk",
                search_attributes=self._child_attributes(RISK_WORKFLOW) if self._indexed() else None,
            )
            self._advance(
                Stage.RUNNING_CHILD, 60, f"risk assessment {risk.workflow_id}: {risk.risk_count} risks"
            )
            self._index(search_attributes.SNAPSHOT_ID.value_set(risk.snapshot_id))
            deps = risk_request.deps(risk.snapshot_id, risk.as_of)
            self._advance(Stage.FORECASTING, 65, "forecasting the baseline")
            forecast = await workflow.execute_activity_method(
                LodestarActivities.forecast_baseline,
                deps,
                start_to_close_timeout=PRECOMPUTE_TIMEOUT,
                heartbeat_timeout=PRECOMPUTE_HEARTBEAT_TIMEOUT,
                retry_policy=ENGINE_RETRY,
            )
            self._advance(Stage.PERSISTING, 90, "recording the review and its trend")
            outcome = await self._commit(
                workflow.start_activity_method(
                    LodestarActivities.persist_portfolio_review,
                    PersistPortfolioReview(
                        run=self._identity(),
                        deps=deps,
                        risk_assessment_id=risk.workflow_id,
                        forecast=forecast,
                        schedule_id=request.schedule_id,
                    ),
                    **self._persist_options(),
                )
            )
        except (asyncio.CancelledError, Exception) as error:
            self._record_end(error)
            raise
        self._finished(f"portfolio review stored as {outcome.workflow_id}")
        return outcome


@workflow.defn(name=INSIGHT_WORKFLOW)
class CustomerInsightWorkflow(_LodestarWorkflow):
    """Find the themes in customer feedback, suggest feedback-to-feature links (never one a person rejected),
    have the agent write the digest, and store it with its themes and suggestions."""

    __pydantic_ai_agents__ = (insight_agent_durable,)

    @workflow.run
    async def run(self, request: InsightRunRequest) -> InsightDigestOutcome:
        try:
            snapshot = await self._load_snapshot(self._as_of(request))
            rejected: RejectedLinks = await workflow.execute_activity_method(
                InsightActivities.load_rejected_links,
                SnapshotRequest(as_of=snapshot.as_of),
                start_to_close_timeout=SNAPSHOT_TIMEOUT,
                retry_policy=GRAPH_RETRY,
            )
            deps = InsightDeps(
                **request.deps(snapshot.snapshot_id, snapshot.as_of).model_dump(),
                run_key=workflow.info().workflow_id,
                rejected_links=rejected.pairs,
            )
            self._advance(
                Stage.PRECOMPUTING,
                15,
                f"embedding and clustering {snapshot.counts.get('feedback', 0)} feedback items "
                f"({len(rejected.pairs)} rejected links excluded)",
            )
            report: InsightPrecomputeReport = await workflow.execute_activity_method(
                InsightActivities.precompute_insight,
                deps,
                start_to_close_timeout=PRECOMPUTE_TIMEOUT,
                heartbeat_timeout=PRECOMPUTE_HEARTBEAT_TIMEOUT,
                retry_policy=ENGINE_RETRY,
            )
            self._advance(
                Stage.PRECOMPUTING,
                _AGENT_PERCENT_START,
                f"{report.theme_count} themes, {report.suggested_link_count} suggested links "
                f"in {human_duration(report.seconds)}",
            )
            analysis, usage = await self._run_agent(
                insight_agent_durable, insight_prompt(deps), deps, request.model, request.max_tokens_per_run
            )
            self._advance(Stage.PERSISTING, 90, "writing the insight digest and its themes to the graph")
            outcome = await self._commit(
                workflow.start_activity_method(
                    InsightActivities.persist_insight_digest,
                    PersistInsightDigest(
                        run=self._identity(),
                        deps=deps,
                        model=request.model,
                        analysis=analysis,
                        usage=usage,
                        schedule_id=request.schedule_id,
                    ),
                    **self._persist_options(),
                )
            )
        except (asyncio.CancelledError, Exception) as error:
            self._record_end(error)
            raise
        self._finished(f"insight digest stored as {outcome.workflow_id}")
        return outcome


ALL_WORKFLOWS: tuple[type, ...] = (
    ScenarioSimulationWorkflow,
    RoadmapDraftingWorkflow,
    RiskAssessmentWorkflow,
    PortfolioReviewWorkflow,
    CustomerInsightWorkflow,
)
