"""Subscriptions over graphql-transport-ws or graphql-ws: `runProgress(id)` streams a run's progress until it ends.

The workflow keeps a log of its progress events (`WorkflowProgress.events`), each with a `seq`. The
subscription follows the run's poller (one per run in the process, shared by all its subscribers:
`api.run_watches`) and sends every event whose `seq` it has not sent yet, so a subscriber sees
every stage the run went through however slowly the poll comes round, then one last event (`done`)
with the state Temporal reports once the run has closed. Runs whose worker keeps no log (older code)
stream snapshots of their current stage instead, one each time it changes.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncGenerator, Sequence
from datetime import datetime
from functools import partial
from typing import Annotated

import strawberry
from temporalio.client import Client

from api.errors import UserInputError
from api.permissions import IsViewer
from api.run_watches import RunObservation, RunWatches
from api.runs import TERMINAL_STAGES, Run, RunKind, run_by_id, run_progress, temporal
from api.types import Info
from workflows.client import RunState
from workflows.payloads import MAX_PROGRESS_MESSAGES, ProgressEvent, Stage, WorkflowProgress

_STAGE_AFTER: dict[RunState, Stage] = {
    RunState.COMPLETED: Stage.COMPLETED,
    RunState.CANCELLED: Stage.CANCELLED,
    RunState.FAILED: Stage.FAILED,
    RunState.TERMINATED: Stage.FAILED,
    RunState.TIMED_OUT: Stage.FAILED,
}


@strawberry.type(description="A change in a run's progress.")
class RunProgressEvent:
    run_id: strawberry.ID = strawberry.field(description="The run's id.")
    kind: RunKind = strawberry.field(description="What the run does.")
    state: RunState = strawberry.field(
        description="The run's state when the event happened: RUNNING on all but the last event."
    )
    stage: Stage = strawberry.field(description="Where the run was in its work at this event.")
    percent: int = strawberry.field(description="How far along the run was at this event, 0 to 100.")
    messages: list[str] = strawberry.field(description="The run's latest messages up to this event.")
    updated_at: datetime | None = strawberry.field(description="When the event happened; null if unknown.")
    done: bool = strawberry.field(description="True on the last event: the run has ended.")
    seq: int | None = strawberry.field(
        default=None,
        description="The event's number in the run's progress log; it grows with every event (numbers of "
        "replaced events within one stage may be skipped, a change of stage never is). Null for an event "
        "the log does not hold: the end of a run that did not record its end, or a run with no log.",
    )
    message: str | None = strawberry.field(default=None, description="What this event reports.")


def _logged(run: Run, log: Sequence[ProgressEvent], event: ProgressEvent) -> RunProgressEvent:
    window = [entry.message for entry in log if entry.seq <= event.seq][-MAX_PROGRESS_MESSAGES:]
    return RunProgressEvent(
        run_id=run.id,
        kind=run.kind,
        state=RunState.RUNNING,
        stage=event.stage,
        percent=event.percent,
        messages=window,
        updated_at=event.at,
        done=False,
        seq=event.seq,
        message=event.message,
    )


def _log_events(run: Run, progress: WorkflowProgress, after_seq: int) -> list[RunProgressEvent]:
    """The logged events after `after_seq`; once the run has closed, the last one says so (`done`).

    While Temporal still reports the run running, an event of a final stage is held back: it is sent
    with `done` as soon as the run is seen closed.
    """
    fresh = [event for event in progress.events if event.seq > after_seq]
    ended = run.state is not RunState.RUNNING
    if not ended:
        fresh = list(itertools.takewhile(lambda event: event.stage not in TERMINAL_STAGES, fresh))
    events = [_logged(run, progress.events, event) for event in fresh]
    if not ended:
        return events
    if events and events[-1].stage in TERMINAL_STAGES:
        events[-1].state = run.state
        events[-1].done = True
    else:
        events.append(_closed(run, progress))
    return events


def _closed(run: Run, progress: WorkflowProgress | None) -> RunProgressEvent:
    """The last event of a run whose log does not record how it ended."""
    stage = _STAGE_AFTER.get(run.state, Stage.FAILED)
    percent = 100 if stage is Stage.COMPLETED else progress.percent if progress is not None else 0
    return _run_event(
        run,
        progress,
        stage,
        percent,
        updated_at=run.closed_at,
        done=True,
        message=f"the run is {run.state.value}",
    )


def _snapshot(run: Run, progress: WorkflowProgress | None) -> RunProgressEvent:
    """The run's current stage, for runs whose progress keeps no event log."""
    ended = run.state is not RunState.RUNNING
    stage = progress.stage if progress is not None else _STAGE_AFTER.get(run.state, Stage.STARTED)
    if ended and stage not in TERMINAL_STAGES:
        stage = _STAGE_AFTER.get(run.state, Stage.FAILED)
    percent = progress.percent if progress is not None else 0
    if ended and stage is Stage.COMPLETED:
        percent = 100
    updated_at = progress.updated_at if progress is not None else None
    return _run_event(run, progress, stage, percent, updated_at=updated_at, done=ended)


def _run_event(
    run: Run,
    progress: WorkflowProgress | None,
    stage: Stage,
    percent: int,
    *,
    updated_at: datetime | None,
    done: bool,
    message: str | None = None,
) -> RunProgressEvent:
    """An event outside the progress log: the run's state with its latest messages."""
    return RunProgressEvent(
        run_id=run.id,
        kind=run.kind,
        state=run.state,
        stage=stage,
        percent=percent,
        messages=list(progress.messages) if progress is not None else [],
        updated_at=updated_at,
        done=done,
        message=message,
    )


async def _observe(client: Client, run_id: str) -> RunObservation:
    # The state first: once it says closed, the progress read after it is the run's last.
    run = await run_by_id(client, run_id)
    return RunObservation(run, None if run is None else await run_progress(client, run_id))


def _run_watches(info: Info) -> RunWatches:
    """This process's shared run pollers, made by the first subscriber."""
    client = temporal(info)
    services = info.context.services
    if services.run_watches is None:
        services.run_watches = RunWatches(partial(_observe, client), poll_s=services.settings.progress_poll_s)
    return services.run_watches


@strawberry.type(description="Live updates over WebSocket (graphql-transport-ws or graphql-ws).")
class Subscription:
    @strawberry.subscription(
        permission_classes=[IsViewer],
        description="The run's progress: every event of its progress log from the start, as it happens, "
        "and a last one (`done`) when the run ends.",
    )
    async def run_progress(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The id of the run to follow.")],
    ) -> AsyncGenerator[RunProgressEvent, None]:
        watches = _run_watches(info)
        sent_seq = 0
        sent_any = False
        last_snapshot: tuple[object, ...] | None = None
        async for observation in watches.follow(id):
            run, progress = observation.run, observation.progress
            if run is None:
                raise UserInputError(f"no run with id {id!r}")
            if progress is not None and progress.events:
                for event in _log_events(run, progress, sent_seq):
                    sent_seq = event.seq or sent_seq
                    sent_any = True
                    yield event
            elif progress is not None or observation.final or not sent_any:
                # No log (or no answer from a worker): the current stage, when it changed.
                event = _snapshot(run, progress)
                key = (event.state, event.stage, event.percent, tuple(event.messages))
                if key != last_snapshot:
                    last_snapshot = key
                    sent_any = True
                    yield event
