"""The scheduled portfolio review as GraphQL types, over `workflows.schedules`."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

import strawberry
from temporalio.client import Client, ScheduleAlreadyRunningError
from temporalio.service import RPCError, RPCStatusCode

from workflows import schedules
from workflows.client import model_from_env
from workflows.payloads import PortfolioReviewRequest
from workflows.schedules import ReviewScheduleInfo

SCHEDULE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,63}$")
MIN_INTERVAL_SECONDS = 60.0


@strawberry.type(description="A Temporal Schedule that starts a portfolio review on every tick.")
class ReviewSchedule:
    id: strawberry.ID = strawberry.field(description="The schedule's id.")
    paused: bool = strawberry.field(description="True while the schedule starts no reviews.")
    note: str | None = strawberry.field(
        description="Why it was last paused or unpaused; null without a note."
    )
    interval_seconds: list[float] = strawberry.field(description="The intervals between reviews, in seconds.")
    cron_expressions: list[str] = strawberry.field(description="Cron expressions of the review times (UTC).")
    actions_taken: int = strawberry.field(description="How many reviews it has started.")
    running_run_ids: list[strawberry.ID] = strawberry.field(description="Ids of the reviews running now.")
    recent_run_ids: list[strawberry.ID] = strawberry.field(description="Its latest reviews, oldest first.")
    next_action_times: list[datetime] = strawberry.field(
        description="When the next reviews start, soonest first."
    )

    @classmethod
    def of(cls, info: ReviewScheduleInfo) -> ReviewSchedule:
        return cls(
            id=strawberry.ID(info.schedule_id),
            paused=info.paused,
            note=info.note,
            interval_seconds=list(info.intervals_seconds),
            cron_expressions=list(info.cron_expressions),
            actions_taken=info.actions_taken,
            running_run_ids=[strawberry.ID(i) for i in info.running_workflow_ids],
            recent_run_ids=[strawberry.ID(i) for i in info.recent_workflow_ids],
            next_action_times=list(info.next_action_times),
        )


@strawberry.input(description="When reviews run (an interval, cron expressions, or both) and how.")
class ReviewScheduleInput:
    id: strawberry.ID = strawberry.field(description="The schedule id, e.g. `weekly-review`.")
    every_seconds: float | None = strawberry.field(
        default=None, description="Interval between reviews; default a week when no cron expression is given."
    )
    cron_expressions: list[str] = strawberry.field(
        description="Cron expressions of the review times (UTC): at most 10, of 100 characters each.",
        default_factory=list,
    )
    paused: bool = strawberry.field(default=False, description="Create the schedule paused.")
    note: str = strawberry.field(
        default="", description="A note shown on the schedule; at most 500 characters."
    )
    risk_horizon_weeks: int = strawberry.field(
        default=26, description="How far ahead each review assesses risks, 1 to 260 weeks."
    )
    as_of: date | None = strawberry.field(
        default=None, description="Analysis date of every review; null: the day each review runs."
    )
    trials: int = strawberry.field(
        default=10_000, description="Monte Carlo trials of each review's forecast, 100 to 100,000."
    )
    seed: int = strawberry.field(default=0, description="Random seed of each review's forecast.")


async def describe(client: Client, schedule_id: str) -> ReviewSchedule | None:
    """None for an unknown (or malformed) schedule id."""
    if not SCHEDULE_ID.match(schedule_id):
        return None
    try:
        return ReviewSchedule.of(await schedules.describe_review_schedule(client, schedule_id))
    except RPCError as error:
        if error.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.INVALID_ARGUMENT):
            return None
        raise


async def create(
    client: Client, given: ReviewScheduleInput, *, task_queue: str, request: PortfolioReviewRequest
) -> ReviewSchedule | str:
    """The new schedule, or why Temporal refused it (an existing id, a bad cron expression)."""
    try:
        info = await schedules.create_review_schedule(
            client,
            given.id,
            task_queue=task_queue,
            every=timedelta(seconds=given.every_seconds) if given.every_seconds is not None else None,
            cron_expressions=given.cron_expressions,
            request=request.model_copy(update={"model": model_from_env()}),
            paused=given.paused,
            note=given.note,
        )
    except ScheduleAlreadyRunningError:
        return f"a schedule with id {given.id!r} already exists"
    except RPCError as error:
        if error.status is RPCStatusCode.INVALID_ARGUMENT:
            return "Temporal refused the schedule's timing (check the cron expressions)"
        raise
    return ReviewSchedule.of(info)
