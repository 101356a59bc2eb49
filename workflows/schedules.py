"""Periodic portfolio reviews on a Temporal Schedule: create, pause, unpause, trigger, describe, delete.

A schedule starts a `PortfolioReviewWorkflow` on every tick (an interval such as weekly, or cron
expressions) with the request fixed at creation; Temporal appends the tick's timestamp to the workflow id,
so each review is its own result in the graph. Overlapping ticks are skipped: a review never runs twice
at once. Each review carries the `LodestarKind` search attribute `review` and `LodestarRequestedBy`
`schedule:ID` (or the request's `requested_by`) where the namespace has them registered. The model is read from `LODESTAR_MODEL` here, by the creator, never by the workflow.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from pydantic import BaseModel
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionExecutionStartWorkflow,
    ScheduleActionStartWorkflow,
    ScheduleDescription,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleState,
)

from agents.model_config import max_tokens_per_run
from workflows.client import model_from_env
from workflows.insight_payloads import InsightRunRequest
from workflows.payloads import INSIGHT_WORKFLOW, REVIEW_WORKFLOW, WORKFLOW_KINDS, PortfolioReviewRequest
from workflows.search_attributes import start_attributes
from workflows.workflows import CustomerInsightWorkflow, PortfolioReviewWorkflow

DEFAULT_REVIEW_INTERVAL = timedelta(days=7)


class ReviewScheduleInfo(BaseModel):
    """A review schedule as the API shows it."""

    schedule_id: str
    paused: bool
    note: str | None
    intervals_seconds: list[float]
    cron_expressions: list[str]
    task_queue: str | None
    workflow_id_prefix: str | None
    actions_taken: int
    running_workflow_ids: list[str]
    recent_workflow_ids: list[str]
    """Workflow ids of the latest reviews it started, oldest first (up to 10)."""
    next_action_times: list[datetime]


def review_workflow_id_prefix(schedule_id: str) -> str:
    return f"review-{schedule_id}"


async def create_review_schedule(
    client: Client,
    schedule_id: str,
    *,
    task_queue: str,
    every: timedelta | None = None,
    cron_expressions: Sequence[str] = (),
    request: PortfolioReviewRequest | None = None,
    paused: bool = False,
    note: str = "",
) -> ReviewScheduleInfo:
    """Create the schedule (default: weekly); `request.model` defaults to `LODESTAR_MODEL`/offline."""
    if every is None and not cron_expressions:
        every = DEFAULT_REVIEW_INTERVAL
    base = request or PortfolioReviewRequest(model=model_from_env(), max_tokens_per_run=max_tokens_per_run())
    review = base.model_copy(update={"schedule_id": schedule_id})
    await _create_skipping_schedule(
        client,
        schedule_id,
        ScheduleActionStartWorkflow(
            PortfolioReviewWorkflow.run,
            review,
            id=review_workflow_id_prefix(schedule_id),
            task_queue=task_queue,
            typed_search_attributes=await start_attributes(
                client, WORKFLOW_KINDS[REVIEW_WORKFLOW], review.requested_by or f"schedule:{schedule_id}"
            ),
        ),
        every=every,
        cron_expressions=cron_expressions,
        paused=paused,
        note=note,
    )
    return await describe_review_schedule(client, schedule_id)


DEFAULT_INSIGHT_INTERVAL = timedelta(days=7)


def insight_workflow_id_prefix(schedule_id: str) -> str:
    return f"insight-{schedule_id}"


async def create_insight_schedule(
    client: Client,
    schedule_id: str,
    *,
    task_queue: str,
    every: timedelta | None = None,
    cron_expressions: Sequence[str] = (),
    request: InsightRunRequest | None = None,
    paused: bool = False,
    note: str = "",
) -> ReviewScheduleInfo:
    """A schedule of customer-insight digests (default: weekly), like the review schedule: each tick starts a
    `CustomerInsightWorkflow` (`LodestarKind` `insight`), overlapping ticks are skipped. Pause, unpause,
    trigger, describe and delete it with the review schedule's functions, by its id."""
    if every is None and not cron_expressions:
        every = DEFAULT_INSIGHT_INTERVAL
    base = request or InsightRunRequest(model=model_from_env(), max_tokens_per_run=max_tokens_per_run())
    digest = base.model_copy(update={"schedule_id": schedule_id})
    await _create_skipping_schedule(
        client,
        schedule_id,
        ScheduleActionStartWorkflow(
            CustomerInsightWorkflow.run,
            digest,
            id=insight_workflow_id_prefix(schedule_id),
            task_queue=task_queue,
            typed_search_attributes=await start_attributes(
                client, WORKFLOW_KINDS[INSIGHT_WORKFLOW], digest.requested_by or f"schedule:{schedule_id}"
            ),
        ),
        every=every,
        cron_expressions=cron_expressions,
        paused=paused,
        note=note,
    )
    return await describe_review_schedule(client, schedule_id)


async def _create_skipping_schedule(
    client: Client,
    schedule_id: str,
    action: ScheduleActionStartWorkflow,
    *,
    every: timedelta | None,
    cron_expressions: Sequence[str],
    paused: bool,
    note: str,
) -> None:
    """Create a schedule of `action` on an interval and/or cron expressions; overlapping ticks are skipped."""
    await client.create_schedule(
        schedule_id,
        Schedule(
            action=action,
            spec=ScheduleSpec(
                intervals=[ScheduleIntervalSpec(every=every)] if every is not None else [],
                cron_expressions=list(cron_expressions),
            ),
            policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
            state=ScheduleState(paused=paused, note=note or None),
        ),
    )


async def pause_review_schedule(
    client: Client, schedule_id: str, *, note: str = "paused"
) -> ReviewScheduleInfo:
    await client.get_schedule_handle(schedule_id).pause(note=note)
    return await describe_review_schedule(client, schedule_id)


async def unpause_review_schedule(
    client: Client, schedule_id: str, *, note: str = "unpaused"
) -> ReviewScheduleInfo:
    await client.get_schedule_handle(schedule_id).unpause(note=note)
    return await describe_review_schedule(client, schedule_id)


async def trigger_review_schedule(client: Client, schedule_id: str) -> None:
    """Start a review now, outside the schedule's regular times (still subject to the overlap policy)."""
    await client.get_schedule_handle(schedule_id).trigger()


async def delete_review_schedule(client: Client, schedule_id: str) -> None:
    """Delete the schedule; reviews it already started run on and stay in the graph."""
    await client.get_schedule_handle(schedule_id).delete()


async def describe_review_schedule(client: Client, schedule_id: str) -> ReviewScheduleInfo:
    """The schedule's state; raises `temporalio.service.RPCError` (NOT_FOUND) for an unknown id."""
    return _info(schedule_id, await client.get_schedule_handle(schedule_id).describe())


def _info(schedule_id: str, description: ScheduleDescription) -> ReviewScheduleInfo:
    schedule = description.schedule
    action = schedule.action
    start = action if isinstance(action, ScheduleActionStartWorkflow) else None
    info = description.info
    return ReviewScheduleInfo(
        schedule_id=schedule_id,
        paused=schedule.state.paused,
        note=schedule.state.note,
        intervals_seconds=[interval.every.total_seconds() for interval in schedule.spec.intervals],
        cron_expressions=list(schedule.spec.cron_expressions),
        task_queue=None if start is None else start.task_queue,
        workflow_id_prefix=None if start is None else start.id,
        actions_taken=info.num_actions,
        running_workflow_ids=[
            run.workflow_id
            for run in info.running_actions
            if isinstance(run, ScheduleActionExecutionStartWorkflow)
        ],
        recent_workflow_ids=[
            result.action.workflow_id
            for result in info.recent_actions
            if isinstance(result.action, ScheduleActionExecutionStartWorkflow)
        ],
        next_action_times=list(info.next_action_times),
    )
