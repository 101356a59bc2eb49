"""The scale test in the suite: `bench.scale`'s harness on a small batch (the full one is `./run bench`).

Real processes on this machine, as a cluster runs them: the session's graph database, a Temporal dev
server of this test's own, two `lodestar serve` processes on different ports and three `lodestar worker`
processes, configured only through the environment. Runs of every kind are started through both APIs
with GraphQL mutations over HTTP; one worker is SIGKILLed while it executes an activity; every run must
complete exactly once and store exactly one result (`bench.scale.verify_exactly_once` raises otherwise).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.scale import KINDS, measure
from graph.local_db import LocalGraphDatabase
from workflows.local_temporal import LocalTemporalServer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


async def test_two_apis_three_workers_one_killed_every_run_exactly_once(
    local_graph_database: LocalGraphDatabase, tmp_path: Path
) -> None:
    async with LocalTemporalServer(tmp_path / "temporal") as temporal:
        figures = await measure(
            local_graph_database,
            temporal.endpoint(task_queue="scale-test"),
            tmp_path,
            runs_one_worker=3,
            runs_three_workers=6,
            runs_with_kill=3,
            trials=2_000,
        )
    for line in figures.lines():
        print(line)

    assert [(phase.workers, phase.runs, phase.killed) for phase in figures.phases] == [
        (1, 3, False),
        (3, 6, False),
        (3, 3, True),
    ]
    assert figures.kinds == dict.fromkeys(KINDS, 4)
    assert all(phase.runs_per_second > 0 for phase in figures.phases)
    # The victim was caught executing an activity, so its runs really moved to the other workers.
    assert figures.killed_during != "no activity observed"
    assert len(figures.worker_rss_mib) == 3 and all(rss > 50 for rss in figures.worker_rss_mib)
