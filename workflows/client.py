"""What the CLI and the API call to drive the workflows: connect, start, watch, review, cancel, list.

The starter, not the workflow, reads `LODESTAR_MODEL` (unset means the offline model) and puts the
model into the request. Each run starts with its `LodestarKind` and `LodestarRequestedBy` search
attributes where the namespace has them registered (`workflows.search_attributes`). Every client is connected with `PydanticAIPlugin` (pydantic payloads, agent
activity registration on workers built from it) and OpenTelemetry's `TracingInterceptor`, so spans
connect client -> workflow -> activity.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any, TypeVar

from opentelemetry.trace import Tracer
from pydantic import BaseModel
from pydantic_ai.durable_exec.temporal import PydanticAIPlugin
from temporalio.client import (
    Client,
    Interceptor,
    Plugin,
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.common import WorkflowIDReusePolicy
from temporalio.contrib.opentelemetry import TracingInterceptor
from temporalio.service import RPCError, RPCStatusCode

from agents.model_config import model_spec
from workflows.local_temporal import TemporalEndpoint
from workflows.payloads import (
    OFFLINE_MODEL_KEY,
    REVIEW_WORKFLOW,
    RISK_WORKFLOW,
    ROADMAP_WORKFLOW,
    SCENARIO_WORKFLOW,
    WORKFLOW_KINDS,
    AnalysisSettings,
    PortfolioReviewOutcome,
    PortfolioReviewRequest,
    ReviewDecision,
    ReviewVerdict,
    RiskAssessmentOutcome,
    RiskAssessmentRequest,
    RoadmapDraftingRequest,
    RoadmapDraftOutcome,
    ScenarioSimulationOutcome,
    ScenarioSimulationRequest,
    WorkflowProgress,
)
from workflows.search_attributes import start_attributes
from workflows.workflows import (
    PortfolioReviewWorkflow,
    RiskAssessmentWorkflow,
    RoadmapDraftingWorkflow,
    ScenarioSimulationWorkflow,
)

RequestT = TypeVar("RequestT", bound=AnalysisSettings)

WorkflowOutcome = (
    ScenarioSimulationOutcome | RoadmapDraftOutcome | RiskAssessmentOutcome | PortfolioReviewOutcome
)

OUTCOME_TYPES: dict[str, type[BaseModel]] = {
    SCENARIO_WORKFLOW: ScenarioSimulationOutcome,
    ROADMAP_WORKFLOW: RoadmapDraftOutcome,
    RISK_WORKFLOW: RiskAssessmentOutcome,
    REVIEW_WORKFLOW: PortfolioReviewOutcome,
}
WORKFLOW_ID_PREFIXES: dict[str, str] = {
    SCENARIO_WORKFLOW: "scenario",
    ROADMAP_WORKFLOW: "roadmap",
    RISK_WORKFLOW: "risk",
    REVIEW_WORKFLOW: "review",
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


def client_plugins() -> list[Plugin]:
    return [PydanticAIPlugin()]


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
    """The request with `model` (default: from the environment) filled in."""
    return request.model_copy(update={"model": model if model is not None else model_from_env()})


async def _start(
    client: Client,
    run: Any,
    request: AnalysisSettings,
    workflow_type: str,
    *,
    task_queue: str,
    workflow_id: str | None,
    model: str | None,
) -> str:
    handle: WorkflowHandle[Any, Any] = await client.start_workflow(
        run,
        with_model(request, model),
        id=workflow_id or new_workflow_id(workflow_type),
        task_queue=task_queue,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        search_attributes=await start_attributes(client, WORKFLOW_KINDS[workflow_type], request.requested_by),
    )
    return handle.id


async def start_scenario_simulation(
    client: Client,
    request: ScenarioSimulationRequest,
    *,
    task_queue: str,
    workflow_id: str | None = None,
    model: str | None = None,
) -> str:
    """Start a ScenarioSimulationWorkflow; returns its workflow id (the key of its result in the graph)."""
    return await _start(
        client,
        ScenarioSimulationWorkflow.run,
        request,
        SCENARIO_WORKFLOW,
        task_queue=task_queue,
        workflow_id=workflow_id,
        model=model,
    )


async def start_roadmap_drafting(
    client: Client,
    request: RoadmapDraftingRequest,
    *,
    task_queue: str,
    workflow_id: str | None = None,
    model: str | None = None,
) -> str:
    """Start a RoadmapDraftingWorkflow; it waits for `review_roadmap` once the draft is stored."""
    return await _start(
        client,
        RoadmapDraftingWorkflow.run,
        request,
        ROADMAP_WORKFLOW,
        task_queue=task_queue,
        workflow_id=workflow_id,
        model=model,
    )


async def start_risk_assessment(
    client: Client,
    request: RiskAssessmentRequest,
    *,
    task_queue: str,
    workflow_id: str | None = None,
    model: str | None = None,
) -> str:
    """Start a RiskAssessmentWorkflow; returns its workflow id."""
    return await _start(
        client,
        RiskAssessmentWorkflow.run,
        request,
        RISK_WORKFLOW,
        task_queue=task_queue,
        workflow_id=workflow_id,
        model=model,
    )


async def start_portfolio_review(
    client: Client,
    request: PortfolioReviewRequest,
    *,
    task_queue: str,
    workflow_id: str | None = None,
    model: str | None = None,
) -> str:
    """Start a PortfolioReviewWorkflow once (schedules start them periodically: `workflows.schedules`)."""
    return await _start(
        client,
        PortfolioReviewWorkflow.run,
        request,
        REVIEW_WORKFLOW,
        task_queue=task_queue,
        workflow_id=workflow_id,
        model=model,
    )


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


def _run_status(description: WorkflowExecutionDescription) -> RunStatus:
    return RunStatus(
        workflow_id=description.id,
        run_id=description.run_id,
        workflow_type=description.workflow_type,
        state=_state(description.status),
        started_at=description.start_time,
        closed_at=description.close_time,
        task_queue=description.task_queue,
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


class ReviewRefusedError(RuntimeError):
    """The run does not accept this review: no draft waits yet, it was already reviewed, expired or ended."""


async def review_roadmap(client: Client, workflow_id: str, decision: ReviewDecision) -> RoadmapDraftOutcome:
    """Send the `review` update; returns the version once published or rejected.

    Raises `ReviewRefusedError` when the workflow's validator refuses the review or the run has ended.
    """
    handle = client.get_workflow_handle(workflow_id)
    try:
        return await handle.execute_update("review", decision, result_type=RoadmapDraftOutcome)
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
    if workflow_type is not None and workflow_type not in OUTCOME_TYPES:
        raise ValueError(f"unknown workflow type {workflow_type!r}")
    types = [workflow_type] if workflow_type is not None else list(OUTCOME_TYPES)
    query = " OR ".join(f"WorkflowType = '{name}'" for name in types)
    runs: list[RunStatus] = []
    async for execution in client.list_workflows(query, limit=limit):
        runs.append(
            RunStatus(
                workflow_id=execution.id,
                run_id=execution.run_id,
                workflow_type=execution.workflow_type,
                state=_state(execution.status),
                started_at=execution.start_time,
                closed_at=execution.close_time,
                task_queue=execution.task_queue,
            )
        )
    return runs


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
    runs = [
        RunStatus(
            workflow_id=execution.id,
            run_id=execution.run_id,
            workflow_type=execution.workflow_type,
            state=_state(execution.status),
            started_at=execution.start_time,
            closed_at=execution.close_time,
            task_queue=execution.task_queue,
        )
        for execution in listing.current_page or []
    ]
    return runs, listing.next_page_token


async def count_runs(client: Client, *, workflow_type: str | None = None) -> int:
    """How many runs Temporal lists, optionally of one workflow type."""
    return (await client.count_workflows(_runs_query(workflow_type))).count
