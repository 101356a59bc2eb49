"""Subscriptions over graphql-transport-ws: `runProgress(id)` streams a run's stage and percent until it ends."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from datetime import datetime

import strawberry

from api.errors import UserInputError
from api.permissions import IsViewer
from api.runs import TERMINAL_STAGES, RunKind, run_by_id, run_progress, temporal
from api.types import Info
from workflows.client import RunState
from workflows.models import Stage

_STAGE_AFTER: dict[RunState, Stage] = {
    RunState.COMPLETED: Stage.COMPLETED,
    RunState.CANCELLED: Stage.CANCELLED,
    RunState.FAILED: Stage.FAILED,
    RunState.TERMINATED: Stage.FAILED,
    RunState.TIMED_OUT: Stage.FAILED,
}


@strawberry.type(description="A change in a run's progress.")
class RunProgressEvent:
    run_id: strawberry.ID
    kind: RunKind
    state: RunState
    stage: Stage
    percent: int
    messages: list[str]
    updated_at: datetime | None
    done: bool = strawberry.field(description="True on the last event: the run has ended.")


@strawberry.type
class Subscription:
    @strawberry.subscription(
        permission_classes=[IsViewer],
        description="The run's progress: an event now and on every change, the last one when the run ends.",
    )
    async def run_progress(self, info: Info, id: strawberry.ID) -> AsyncGenerator[RunProgressEvent, None]:
        client = temporal(info)
        poll = info.context.settings.progress_poll_s
        last: tuple[object, ...] | None = None
        while True:
            run = await run_by_id(client, id)
            if run is None:
                raise UserInputError(f"no run with id {id!r}")
            progress = await run_progress(client, id)
            ended = run.state is not RunState.RUNNING
            stage = progress.stage if progress is not None else _STAGE_AFTER.get(run.state, Stage.STARTED)
            if ended and stage not in TERMINAL_STAGES:
                stage = _STAGE_AFTER.get(run.state, Stage.FAILED)
            percent = progress.percent if progress is not None else 0
            if ended and stage is Stage.COMPLETED:
                percent = 100
            event = RunProgressEvent(
                run_id=id,
                kind=run.kind,
                state=run.state,
                stage=stage,
                percent=percent,
                messages=list(progress.messages) if progress is not None else [],
                updated_at=progress.updated_at if progress is not None else None,
                done=ended,
            )
            key = (event.state, event.stage, event.percent, tuple(event.messages))
            if key != last:
                last = key
                yield event
            if ended:
                return
            await asyncio.sleep(poll)
