"""Runs, read from Temporal through `workflows.client`: state, progress, the result they stored, errors.

A run's id is its workflow id, which is also the id of the result node it writes, so `Run.result`
links straight to the graph. Progress comes from the workflow's `progress` query, which a worker
answers; when none answers within `PROGRESS_TIMEOUT_S`, `progress` is null rather than hanging.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime
from enum import StrEnum

import strawberry
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ApplicationError, CancelledError, TerminatedError
from temporalio.exceptions import TimeoutError as TemporalTimeoutError
from temporalio.service import RPCError, RPCStatusCode

from api.errors import ServiceUnavailableError
from api.result_types import RESULT_BY_LABEL, RunResult
from api.types import Info, graphql_enum
from graph.vocabulary import NodeLabel
from workflows import client as runs_client
from workflows.client import RunState, RunStatus
from workflows.payloads import (
    INSIGHT_WORKFLOW,
    REVIEW_WORKFLOW,
    RISK_WORKFLOW,
    ROADMAP_WORKFLOW,
    SCENARIO_WORKFLOW,
    Stage,
    WorkflowProgress,
)

PROGRESS_TIMEOUT_S = 3.0
MAX_RUN_ID_LENGTH = 255
MAX_RUNS_LISTED = 100

graphql_enum(
    RunState,
    "The run's state in Temporal.",
    {
        RunState.RUNNING: "Still working (or waiting, e.g. for a roadmap review).",
        RunState.COMPLETED: "Finished; its result is stored.",
        RunState.FAILED: "Stopped by an error; `error` says why.",
        RunState.CANCELLED: "Stopped on request; it left no partial result.",
        RunState.TERMINATED: "Stopped by an operator in Temporal.",
        RunState.CONTINUED_AS_NEW: "Went on as a new run with the same id.",
        RunState.TIMED_OUT: "Ran out of time.",
        RunState.UNKNOWN: "Temporal reported a state this API does not know.",
    },
)
graphql_enum(
    Stage,
    "Where a run is in its work.",
    {
        Stage.STARTED: "Started; nothing done yet.",
        Stage.LOADING_SNAPSHOT: "Reading the portfolio snapshot from the graph.",
        Stage.PRECOMPUTING: "Running the engines (forecast, planner, risk) before the agent.",
        Stage.RUNNING_AGENT: "The agent is analysing the numbers.",
        Stage.RUNNING_CHILD: "Waiting for a child run (a review's risk assessment).",
        Stage.FORECASTING: "Running the Monte Carlo forecast.",
        Stage.PERSISTING: "Storing the result in the graph.",
        Stage.AWAITING_REVIEW: "A roadmap draft waits for an approver.",
        Stage.PUBLISHING: "Recording the review's decision on a roadmap draft (or its expiry).",
        Stage.COMPLETED: "Done; the result is stored.",
        Stage.CANCELLED: "Cancelled.",
        Stage.FAILED: "Failed.",
    },
    name="RunStage",
)

USER_FACING_FAILURES = frozenset(
    {
        "SnapshotUnavailable",
        "RoadmapError",
        "ScenarioError",
        "RoadmapStateError",
        "EmptyPortfolio",
        "UsageLimitExceeded",
        "UnexpectedModelBehavior",
    }
)
"""Application error types whose messages are about the request or the data, safe to show to clients
(`UsageLimitExceeded`: the run's token budget or the agent's limits; `UnexpectedModelBehavior`: the model
kept answering invalid output)."""


def is_model_provider_failure(error_type: str | None) -> bool:
    """pydantic-ai's model errors (`ModelHTTPError`, `ModelServerError`, `ModelTimeoutError`, ...): their
    messages may quote the provider's answer, so they are not shown."""
    return (
        error_type is not None
        and error_type.startswith("Model")
        and error_type.endswith(("Error", "Timeout"))
    )


class RunKind(StrEnum):
    SCENARIO_SIMULATION = SCENARIO_WORKFLOW
    ROADMAP_DRAFTING = ROADMAP_WORKFLOW
    RISK_ASSESSMENT = RISK_WORKFLOW
    PORTFOLIO_REVIEW = REVIEW_WORKFLOW
    CUSTOMER_INSIGHT = INSIGHT_WORKFLOW


graphql_enum(
    RunKind,
    "What a run does; each is a durable Temporal workflow type.",
    {
        RunKind.SCENARIO_SIMULATION: "Simulates what-if scenarios against the baseline forecast.",
        RunKind.ROADMAP_DRAFTING: "Drafts a roadmap, then waits for an approver to publish or reject it.",
        RunKind.RISK_ASSESSMENT: "Assesses delivery and revenue risks.",
        RunKind.PORTFOLIO_REVIEW: "A scheduled review: a risk assessment and a forecast, compared with the last review.",
        RunKind.CUSTOMER_INSIGHT: "Finds themes, sentiment and feature links in customer feedback, with a digest.",
    },
)


RESULT_LABEL: dict[RunKind, NodeLabel] = {
    RunKind.SCENARIO_SIMULATION: NodeLabel.SCENARIO_ANALYSIS,
    RunKind.ROADMAP_DRAFTING: NodeLabel.ROADMAP_VERSION,
    RunKind.RISK_ASSESSMENT: NodeLabel.RISK_ASSESSMENT,
    RunKind.PORTFOLIO_REVIEW: NodeLabel.PORTFOLIO_REVIEW,
    RunKind.CUSTOMER_INSIGHT: NodeLabel.INSIGHT_DIGEST,
}

TERMINAL_STAGES = frozenset({Stage.COMPLETED, Stage.CANCELLED, Stage.FAILED})


@strawberry.type(description="A run's stage, percent done and latest messages.")
class RunProgress:
    stage: Stage = strawberry.field(description="Where the run is in its work.")
    percent: int = strawberry.field(description="How far along the run is, 0 to 100.")
    messages: list[str] = strawberry.field(description="The run's latest progress messages, oldest first.")
    updated_at: datetime | None = strawberry.field(
        description="When the progress last changed; null before any."
    )

    @classmethod
    def of(cls, progress: WorkflowProgress) -> RunProgress:
        return cls(
            stage=progress.stage,
            percent=progress.percent,
            messages=list(progress.messages),
            updated_at=progress.updated_at,
        )


@strawberry.type(description="Why a run did not complete.")
class RunError:
    type: str = strawberry.field(
        description="What went wrong: an error type such as `RoadmapError`, `UsageLimitExceeded` (over the "
        "token budget), `UnexpectedModelBehavior`, `ModelProviderError`, or `Cancelled`, `Terminated`, "
        "`Timeout`, `Failed`."
    )
    message: str = strawberry.field(
        description="The error in a sentence; details about the request or data, never server internals."
    )


@strawberry.type(description="A durable run (a Temporal workflow execution).")
class Run:
    id: strawberry.ID = strawberry.field(description="The workflow id; also the id of the result it stores.")
    kind: RunKind = strawberry.field(description="What the run does.")
    state: RunState = strawberry.field(description="The run's state in Temporal.")
    started_at: datetime | None = strawberry.field(
        description="When the run started; null if Temporal does not say."
    )
    closed_at: datetime | None = strawberry.field(description="When the run ended; null while it runs.")
    requested_by: str | None = strawberry.field(
        default=None,
        description="Who started the run: the API key's name, the local user for the CLI, `schedule:ID`; "
        "null where Temporal's search attributes are not registered.",
    )

    @classmethod
    def of(cls, status: RunStatus) -> Run | None:
        if status.workflow_type not in RunKind._value2member_map_:
            return None
        return cls(
            id=strawberry.ID(status.workflow_id),
            kind=RunKind(status.workflow_type),
            state=status.state,
            started_at=status.started_at,
            closed_at=status.closed_at,
            requested_by=status.requested_by,
        )

    @strawberry.field(description="Null when no worker answers the progress query in time.")
    async def progress(self, info: Info) -> RunProgress | None:
        progress = await run_progress(temporal(info), self.id)
        return RunProgress.of(progress) if progress is not None else None

    @strawberry.field(description="The result the run stored in the graph; null until it has stored one.")
    async def result(self, info: Info) -> RunResult | None:
        return await RESULT_BY_LABEL[RESULT_LABEL[self.kind]](info, self.id)

    @strawberry.field(description="Why the run failed, timed out or was stopped; null otherwise.")
    async def error(self, info: Info) -> RunError | None:
        if self.state in (RunState.RUNNING, RunState.COMPLETED, RunState.CONTINUED_AS_NEW):
            return None
        return await run_error(temporal(info), self.id)


def temporal(info: Info) -> Client:
    client = info.context.services.temporal
    if client is None:
        raise ServiceUnavailableError("runs are unavailable: this API is not connected to Temporal")
    return client


async def run_by_id(client: Client, run_id: str) -> Run | None:
    """The run, or None if Temporal knows no workflow with this id (or it is not a Lodestar run)."""
    if not run_id.strip() or len(run_id) > MAX_RUN_ID_LENGTH:
        return None
    try:
        status = await runs_client.get_status(client, run_id)
    except RPCError as error:
        if error.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.INVALID_ARGUMENT):
            return None
        raise
    return Run.of(status)


async def run_progress(client: Client, run_id: str) -> WorkflowProgress | None:
    try:
        async with asyncio.timeout(PROGRESS_TIMEOUT_S):
            return await runs_client.get_progress(client, run_id)
    except (TimeoutError, RPCError):
        return None


async def wait_until_closed(client: Client, run_id: str, within_s: float) -> Run | None:
    """The run once it has closed, or as it stands after `within_s` seconds (None if it is unknown)."""
    with contextlib.suppress(TimeoutError, WorkflowFailureError, RPCError):
        async with asyncio.timeout(within_s):
            await client.get_workflow_handle(run_id).result()
    return await run_by_id(client, run_id)


async def run_error(client: Client, run_id: str) -> RunError | None:
    try:
        await runs_client.get_result(client, run_id)
    except WorkflowFailureError as failure:
        return describe_failure(failure)
    return None


def describe_failure(failure: WorkflowFailureError) -> RunError:
    """The failure for a client: what happened, with the message only when it is about the request."""
    cause: BaseException | None = failure.cause
    while cause is not None:
        if isinstance(cause, ApplicationError) and cause.type in USER_FACING_FAILURES:
            return RunError(type=cause.type or "ApplicationError", message=cause.message)
        if isinstance(cause, ApplicationError) and is_model_provider_failure(cause.type):
            return RunError(
                type="ModelProviderError",
                message="the language model provider failed (after the bounded retries, or it rejected "
                "the request); the worker logs have its answer",
            )
        if isinstance(cause, CancelledError):
            return RunError(type="Cancelled", message="the run was cancelled")
        if isinstance(cause, TerminatedError):
            return RunError(type="Terminated", message="the run was terminated")
        if isinstance(cause, TemporalTimeoutError):
            return RunError(type="Timeout", message="the run timed out")
        cause = cause.__cause__
    return RunError(type="Failed", message="the run failed; the server logs have the details")


async def list_runs(client: Client, kind: RunKind | None, limit: int) -> list[Run]:
    statuses = await runs_client.list_runs(
        client, workflow_type=kind.value if kind is not None else None, limit=limit
    )
    return [run for run in (Run.of(status) for status in statuses) if run is not None]
