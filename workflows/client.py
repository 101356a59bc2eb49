"""What the CLI and the API call to drive the workflows: connect, start, watch, review, cancel, list.

The starter, not the workflow, reads `LODESTAR_MODEL` (unset means the offline model) and puts the
model into the request. Each run starts with its `LodestarKind` and `LodestarRequestedBy` search
attributes where the namespace has them registered (`workflows.search_attributes`). Every client is connected with `PydanticAIPlugin` (pydantic payloads, agent
activity registration on workers built from it) and OpenTelemetry's `TracingInterceptor`, so spans
connect client -> workflow -> activity.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Generic, TypeVar

from opentelemetry.trace import Tracer
from pydantic import BaseModel
from pydantic_ai.durable_exec.temporal import PydanticAIPlugin
from temporalio.client import (
    Client,
    Interceptor,
    Plugin,
    WorkflowExecution,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.common import WorkflowIDReusePolicy
from temporalio.contrib.opentelemetry import TracingInterceptor
from temporalio.service import RPCError, RPCStatusCode

from agents.model_config import max_tokens_per_run, model_spec
from workflows.codec import encryption_plugins
from workflows.insight_payloads import InsightDigestOutcome
from workflows.local_temporal import TemporalEndpoint
from workflows.payloads import (
    INSIGHT_WORKFLOW,
    OFFLINE_MODEL_KEY,
    REVIEW_WORKFLOW,
    RISK_WORKFLOW,
    ROADMAP_WORKFLOW,
    SCENARIO_WORKFLOW,
    WORKFLOW_KINDS,
    AnalysisSettings,
    PortfolioReviewOutcome,
    ReviewDecision,
    ReviewVerdict,
    RiskAssessmentOutcome,
    RoadmapDraftOutcome,
    ScenarioSimulationOutcome,
    Stage,
    WorkflowProgress,
)
from workflows.search_attributes import REQUESTED_BY, start_attributes
from workflows.workflows import (
    NO_DRAFT_YET,
    CustomerInsightWorkflow,
    PortfolioReviewWorkflow,
    RiskAssessmentWorkflow,
    RoadmapDraftingWorkflow,
    ScenarioSimulationWorkflow,
)

RequestT = TypeVar("RequestT", bound=AnalysisSettings)

WorkflowOutcome = (
    ScenarioSimulationOutcome
    | RoadmapDraftOutcome
    | RiskAssessmentOutcome
    | PortfolioReviewOutcome
    | InsightDigestOutcome
)

OUTCOME_TYPES: dict[str, type[BaseModel]] = {
    SCENARIO_WORKFLOW: ScenarioSimulationOutcome,
    ROADMAP_WORKFLOW: RoadmapDraftOutcome,
    RISK_WORKFLOW: RiskAssessmentOutcome,
    REVIEW_WORKFLOW: PortfolioReviewOutcome,
    INSIGHT_WORKFLOW: InsightDigestOutcome,
}
WORKFLOW_ID_PREFIXES: dict[str, str] = {
    SCENARIO_WORKFLOW: "scenario",
    ROADMAP_WORKFLOW: "roadmap",
    RISK_WORKFLOW: "risk",
    REVIEW_WORKFLOW: "review",
    INSIGHT_WORKFLOW: "insight",
}


class RunState(StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    TERMINATED = "terminated"
    CONTINUED_AS_NEW = "continued_as_new"
    TIMED_OUT = "timed_out"
    UNKNOWN = "unknown"


class RunStatus(BaseModel):
    workflow_id: str
    run_id: str | None
    workflow_type: str
    state: RunState
    started_at: datetime | None
    closed_at: datetime | None
    task_queue: str | None
    requested_by: str | None = None
    """Who started the run (the `LodestarRequestedBy` search attribute); None where it is not set."""


def client_plugins() -> list[Plugin]:
    """PydanticAIPlugin, and payload encryption when `LODESTAR_PAYLOAD_KEY` is set (`workflows.codec`)."""
    return [PydanticAIPlugin(), *encryption_plugins()]


def client_interceptors(tracer: Tracer | None = None) -> list[Interceptor]:
    """`tracer` defaults to the global OpenTelemetry tracer (a no-op until a provider is configured)."""
    return [TracingInterceptor(tracer)]


async def connect(endpoint: TemporalEndpoint, *, tracer: Tracer | None = None) -> Client:
    """A client for the endpoint's namespace with Lodestar's plugins and interceptors."""
    return await endpoint.connect(plugins=client_plugins(), interceptors=client_interceptors(tracer))


def model_from_env(environ: Mapping[str, str] | None = None) -> str:
    """`LODESTAR_MODEL`, or `offline` when it is unset, empty or `offline`."""
    return model_spec(environ) or OFFLINE_MODEL_KEY


def new_workflow_id(workflow_type: str) -> str:
    return f"{WORKFLOW_ID_PREFIXES[workflow_type]}-{uuid.uuid4().hex[:16]}"


def with_model(request: RequestT, model: str | None) -> RequestT:
    """The request with `model` (default: from the environment) filled in, and the token budget from
    `LODESTAR_MAX_TOKENS_PER_RUN` when the request sets none."""
    update: dict[str, object] = {"model": model if model is not None else model_from_env()}
    if request.max_tokens_per_run is None:
        update["max_tokens_per_run"] = max_tokens_per_run()
    return request.model_copy(update=update)


@dataclass(frozen=True)
class WorkflowStarter(Generic[RequestT]):
    """Starts one workflow type: `await starter(client, request, task_queue=...)` returns the workflow id.

    The id (the key of the run's result in the graph) is `workflow_id` or a new one with the type's
    prefix; `model` defaults to `LODESTAR_MODEL` (`with_model`).
    """

    run: Callable[[Any, RequestT], Awaitable[Any]]
    workflow_type: str

    async def __call__(
        self,
        client: Client,
        request: RequestT,
        *,
        task_queue: str,
        workflow_id: str | None = None,
        model: str | None = None,
    ) -> str:
        handle: WorkflowHandle[Any, Any] = await client.start_workflow(
            self.run,
            with_model(request, model),
            id=workflow_id or new_workflow_id(self.workflow_type),
            task_queue=task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            search_attributes=await start_attributes(
                client, WORKFLOW_KINDS[self.workflow_type], request.requested_by
            ),
        )
        return handle.id


start_scenario_simulation = WorkflowStarter(ScenarioSimulationWorkflow.run, SCENARIO_WORKFLOW)
"""Starts a ScenarioSimulationWorkflow."""
start_roadmap_drafting = WorkflowStarter(RoadmapDraftingWorkflow.run, ROADMAP_WORKFLOW)
"""Starts a RoadmapDraftingWorkflow; it waits for `review_roadmap` once the draft is stored."""
start_risk_assessment = WorkflowStarter(RiskAssessmentWorkflow.run, RISK_WORKFLOW)
"""Starts a RiskAssessmentWorkflow."""
start_portfolio_review = WorkflowStarter(PortfolioReviewWorkflow.run, REVIEW_WORKFLOW)
"""Starts a PortfolioReviewWorkflow once (schedules start them periodically: `workflows.schedules`)."""
start_insight_digest = WorkflowStarter(CustomerInsightWorkflow.run, INSIGHT_WORKFLOW)
"""Starts a CustomerInsightWorkflow (the weekly digest schedule starts them too: `workflows.schedules`)."""


_STATES: dict[WorkflowExecutionStatus, RunState] = {
    WorkflowExecutionStatus.RUNNING: RunState.RUNNING,
    WorkflowExecutionStatus.COMPLETED: RunState.COMPLETED,
    WorkflowExecutionStatus.FAILED: RunState.FAILED,
    WorkflowExecutionStatus.CANCELED: RunState.CANCELLED,
    WorkflowExecutionStatus.TERMINATED: RunState.TERMINATED,
    WorkflowExecutionStatus.CONTINUED_AS_NEW: RunState.CONTINUED_AS_NEW,
    WorkflowExecutionStatus.TIMED_OUT: RunState.TIMED_OUT,
}


def _state(status: WorkflowExecutionStatus | None) -> RunState:
    return RunState.UNKNOWN if status is None else _STATES.get(status, RunState.UNKNOWN)


def _run_status(execution: WorkflowExecution) -> RunStatus:
    return RunStatus(
        workflow_id=execution.id,
        run_id=execution.run_id,
        workflow_type=execution.workflow_type,
        state=_state(execution.status),
        started_at=execution.start_time,
        closed_at=execution.close_time,
        task_queue=execution.task_queue,
        requested_by=execution.typed_search_attributes.get(REQUESTED_BY),
    )


async def get_status(client: Client, workflow_id: str) -> RunStatus:
    return _run_status(await client.get_workflow_handle(workflow_id).describe())


async def get_progress(client: Client, workflow_id: str) -> WorkflowProgress:
    """The run's `progress` query (needs a worker; answered from history once the run is closed)."""
    return await client.get_workflow_handle(workflow_id).query("progress", result_type=WorkflowProgress)


async def get_result(client: Client, workflow_id: str) -> WorkflowOutcome:
    """Wait for the run to finish and return its typed outcome; raises `WorkflowFailureError` if it failed."""
    workflow_type = (await client.get_workflow_handle(workflow_id).describe()).workflow_type
    handle = client.get_workflow_handle(workflow_id, result_type=OUTCOME_TYPES[workflow_type])
    return await handle.result()


REVIEW_LAG_S = 10.0
REVIEW_RETRY_PAUSE_S = 0.2


class ReviewRefusedError(RuntimeError):
    """The run does not accept this review: no draft waits yet, it was already reviewed, expired or ended."""


async def review_roadmap(client: Client, workflow_id: str, decision: ReviewDecision) -> RoadmapDraftOutcome:
    """Send the `review` update; returns the version once published or rejected.

    Raises `ReviewRefusedError` when the workflow's validator refuses the review or the run has ended. A
    refusal for want of a draft while the run's progress already says it awaits review (`NO_DRAFT_YET`) is
    sent again, for up to `REVIEW_LAG_S`.
    """
    handle = client.get_workflow_handle(workflow_id)
    deadline = time.monotonic() + REVIEW_LAG_S
    try:
        while True:
            try:
                return await handle.execute_update("review", decision, result_type=RoadmapDraftOutcome)
            except WorkflowUpdateFailedError as error:
                if not (NO_DRAFT_YET in str(error.cause) and time.monotonic() < deadline):
                    raise
                if (await get_progress(client, workflow_id)).stage is not Stage.AWAITING_REVIEW:
                    raise
                await asyncio.sleep(REVIEW_RETRY_PAUSE_S)
    except WorkflowUpdateFailedError as error:
        raise ReviewRefusedError(f"review of {workflow_id} refused: {error.cause}") from error
    except RPCError as error:
        if error.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION) or "completed" in str(
            error
        ):
            raise ReviewRefusedError(f"review of {workflow_id} refused: {error}") from error
        raise


async def approve_roadmap(
    client: Client, workflow_id: str, *, reviewer: str, comment: str = ""
) -> RoadmapDraftOutcome:
    return await review_roadmap(
        client, workflow_id, ReviewDecision(verdict=ReviewVerdict.APPROVE, reviewer=reviewer, comment=comment)
    )


async def reject_roadmap(
    client: Client, workflow_id: str, *, reviewer: str, comment: str = ""
) -> RoadmapDraftOutcome:
    return await review_roadmap(
        client, workflow_id, ReviewDecision(verdict=ReviewVerdict.REJECT, reviewer=reviewer, comment=comment)
    )


async def cancel_run(client: Client, workflow_id: str) -> None:
    """Request cancellation; see `workflows.workflows` for what each stage leaves behind."""
    await client.get_workflow_handle(workflow_id).cancel()


async def list_runs(client: Client, *, workflow_type: str | None = None, limit: int = 50) -> list[RunStatus]:
    """The most recent runs, newest first, optionally of one workflow type."""
    return [
        _run_status(execution)
        async for execution in client.list_workflows(_runs_query(workflow_type), limit=limit)
    ]


def _runs_query(workflow_type: str | None) -> str:
    if workflow_type is not None and workflow_type not in OUTCOME_TYPES:
        raise ValueError(f"unknown workflow type {workflow_type!r}")
    types = [workflow_type] if workflow_type is not None else list(OUTCOME_TYPES)
    return " OR ".join(f"WorkflowType = '{name}'" for name in types)


async def list_runs_page(
    client: Client, *, workflow_type: str | None = None, limit: int, page_token: bytes | None = None
) -> tuple[list[RunStatus], bytes | None]:
    """One page of the most recent runs, newest first, from Temporal's `page_token` of the page before;
    with the token of the next page (None after the last one)."""
    listing = client.list_workflows(_runs_query(workflow_type), page_size=limit, next_page_token=page_token)
    await listing.fetch_next_page()
    return [_run_status(execution) for execution in listing.current_page or []], listing.next_page_token


async def count_runs(client: Client, *, workflow_type: str | None = None) -> int:
    """How many runs Temporal lists, optionally of one workflow type."""
    return (await client.count_workflows(_runs_query(workflow_type))).count
