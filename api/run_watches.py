"""One poller per followed run in an API process, shared by every `runProgress` subscriber of that run.

A subscriber used to ask Temporal twice per poll on its own (the run's state, then its progress), so a
hundred dashboards following one run cost a hundred times the reads. Now the first subscriber of a run
starts its poller; later ones join it and get its latest observation at once; the poller stops when the
run has closed or its last subscriber has left. Every subscriber still sees every logged event: the
progress log is cumulative, and each subscriber keeps its own place in it (`api.subscriptions`).

Pollers are keyed by event loop as well as run id: an asyncio task belongs to the loop that made it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from workflows.client import RunState

if TYPE_CHECKING:
    from api.runs import Run
    from workflows.payloads import WorkflowProgress


@dataclass(frozen=True)
class RunObservation:
    """One poll of a run: its state (None if Temporal knows no such run), then its progress."""

    run: Run | None
    progress: WorkflowProgress | None

    @property
    def final(self) -> bool:
        """Whether no later poll can tell more: the run is unknown or has closed."""
        return self.run is None or self.run.state is not RunState.RUNNING


Observe = Callable[[str], Awaitable[RunObservation]]


class _Watch:
    def __init__(self) -> None:
        self.subscribers = 0
        self.version = 0
        self.latest: RunObservation | None = None
        self.error: BaseException | None = None
        self.poller: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()

    @property
    def finished(self) -> bool:
        """Whether no more observations will come: a poll failed, or the latest one is final."""
        return self.error is not None or (self.latest is not None and self.latest.final)

    def publish(self, observation: RunObservation) -> None:
        self.latest = observation
        self._wake()

    def fail(self, error: BaseException) -> None:
        self.error = error
        self._wake()

    def _wake(self) -> None:
        self.version += 1
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def after(self, seen: int) -> None:
        while self.version <= seen:
            await self._changed.wait()


class RunWatches:
    """The run pollers of this process. `follow(run_id)` yields each new observation of the run, from the
    latest one, until the run is final; an error of a poll ends every follower with that error."""

    def __init__(self, observe: Observe, *, poll_s: float) -> None:
        self._observe = observe
        self._poll_s = poll_s
        self._watches: dict[tuple[asyncio.AbstractEventLoop, str], _Watch] = {}

    @property
    def active(self) -> int:
        """Runs being polled now."""
        return sum(1 for watch in self._watches.values() if watch.poller and not watch.poller.done())

    async def follow(self, run_id: str) -> AsyncGenerator[RunObservation, None]:
        key = (asyncio.get_running_loop(), run_id)
        watch = self._watches.get(key)
        if watch is None:
            watch = self._watches[key] = _Watch()
            watch.poller = asyncio.create_task(self._poll(key, watch), name=f"runProgress poller {run_id}")
        watch.subscribers += 1
        seen = 0
        try:
            while True:
                await watch.after(seen)
                seen = watch.version
                if watch.error is not None:
                    raise watch.error
                if watch.latest is not None:
                    yield watch.latest
                if watch.finished:
                    return
        finally:
            watch.subscribers -= 1
            if watch.subscribers == 0 and self._watches.get(key) is watch:
                del self._watches[key]
                if watch.poller is not None:
                    watch.poller.cancel()

    async def _poll(self, key: tuple[asyncio.AbstractEventLoop, str], watch: _Watch) -> None:
        while True:
            try:
                observation = await self._observe(key[1])
            except Exception as error:  # every follower gets it, as each did when it polled alone
                if self._watches.get(key) is watch:
                    del self._watches[key]  # a follower that comes later polls afresh
                watch.fail(error)
                return
            watch.publish(observation)
            if observation.final:
                return
            await asyncio.sleep(self._poll_s)
