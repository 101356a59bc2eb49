"""`runProgress` subscribers of one run share one poller per API process (`api.run_watches`).

The poller here observes a scripted run, so the test can count the polls and choose when the run
closes; the subscription over the real Temporal server is in `test_subscriptions.py`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import strawberry

from api.run_watches import RunObservation, RunWatches
from api.runs import Run, RunKind
from workflows.client import RunState

POLL_S = 0.01


class ScriptedRun:
    """A run that stays RUNNING until `close()`; each poll is counted."""

    def __init__(self, run_id: str = "run-1") -> None:
        self.run_id = run_id
        self.polls = 0
        self.state = RunState.RUNNING
        self.failure: Exception | None = None
        self.polled_five_times = asyncio.Event()

    async def observe(self, run_id: str) -> RunObservation:
        assert run_id == self.run_id
        self.polls += 1
        if self.polls >= 5:
            self.polled_five_times.set()
        if self.failure is not None:
            raise self.failure
        await asyncio.sleep(0)
        run = Run(
            id=strawberry.ID(run_id),
            kind=RunKind.RISK_ASSESSMENT,
            state=self.state,
            started_at=None,
            closed_at=None,
        )
        return RunObservation(run, None)

    def close(self) -> None:
        self.state = RunState.COMPLETED


async def collect(observations: AsyncIterator[RunObservation]) -> list[RunObservation]:
    return [observation async for observation in observations]


async def test_subscribers_of_one_run_share_its_polls_until_it_closes() -> None:
    script = ScriptedRun()
    watches = RunWatches(script.observe, poll_s=POLL_S)
    started = asyncio.get_running_loop().time()
    followers = [asyncio.create_task(collect(watches.follow(script.run_id))) for _ in range(20)]
    await asyncio.wait_for(script.polled_five_times.wait(), timeout=5)
    assert watches.active == 1
    script.close()
    seen = await asyncio.wait_for(asyncio.gather(*followers), timeout=5)
    elapsed = asyncio.get_running_loop().time() - started

    assert script.polls <= elapsed / POLL_S + 2, "one poll per interval for all twenty, not twenty"
    for observations in seen:
        assert observations[-1].final and observations[-1].run is not None
        assert observations[-1].run.state is RunState.COMPLETED
        assert all(not observation.final for observation in observations[:-1])
    assert watches.active == 0


async def test_a_late_subscriber_gets_the_latest_observation_at_once() -> None:
    script = ScriptedRun()
    watches = RunWatches(script.observe, poll_s=60)
    first = watches.follow(script.run_id)
    assert not (await anext(first)).final
    second = watches.follow(script.run_id)
    assert not (await asyncio.wait_for(anext(second), timeout=1)).final
    assert script.polls == 1
    await second.aclose()
    await first.aclose()


async def test_the_poller_stops_when_its_last_subscriber_leaves() -> None:
    script = ScriptedRun()
    watches = RunWatches(script.observe, poll_s=POLL_S)
    follower = watches.follow(script.run_id)
    await anext(follower)
    await follower.aclose()
    await asyncio.sleep(POLL_S * 5)
    polls = script.polls
    await asyncio.sleep(POLL_S * 5)
    assert script.polls == polls and watches.active == 0


async def test_a_failed_poll_ends_every_subscriber_and_the_next_one_polls_afresh() -> None:
    script = ScriptedRun()
    watches = RunWatches(script.observe, poll_s=POLL_S)
    script.failure = ConnectionError("Temporal is unavailable")
    followers = [asyncio.create_task(collect(watches.follow(script.run_id))) for _ in range(3)]
    results = await asyncio.gather(*followers, return_exceptions=True)
    assert all(isinstance(result, ConnectionError) for result in results)
    assert script.polls == 1

    script.failure = None
    script.close()
    observations = await asyncio.wait_for(collect(watches.follow(script.run_id)), timeout=5)
    assert [observation.final for observation in observations] == [True]
    assert script.polls == 2


@pytest.mark.parametrize("closed", [RunState.CANCELLED, RunState.FAILED])
async def test_a_closed_or_unknown_run_is_final(closed: RunState) -> None:
    script = ScriptedRun()
    script.state = closed
    watches = RunWatches(script.observe, poll_s=POLL_S)
    assert len(await collect(watches.follow(script.run_id))) == 1
    assert RunObservation(None, None).final
