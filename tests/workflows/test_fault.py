"""A worker process SIGKILLed mid-run: a new worker picks the run up, it completes, and the graph holds
exactly one result for it."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from temporalio.client import Client

from graph.local_db import LocalGraphDatabase
from graph.result_store import ResultStore, RoadmapStatus
from graph.store import GraphStore
from graph.vocabulary import NodeLabel
from workflows import client as lodestar
from workflows.local_temporal import LocalTemporalServer
from workflows.payloads import RoadmapDraftOutcome, Stage

from .conftest import fresh_task_queue
from .support import roadmap_request, wait_for_stage

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]
READY_MARKER = "worker ready"


def _worker_environment(
    server: LocalTemporalServer, database: LocalGraphDatabase, task_queue: str
) -> dict[str, str]:
    user, password = database.auth
    return {
        **os.environ,
        "TEMPORAL_ADDRESS": server.address,
        "TEMPORAL_NAMESPACE": server.namespace,
        "LODESTAR_TASK_QUEUE": task_queue,
        "NEO4J_URI": database.uri,
        "NEO4J_USER": user,
        "NEO4J_PASSWORD": password,
        "NEO4J_DATABASE": database.database,
    }


def _read(path: Path) -> str:
    return path.read_text(errors="replace")


@asynccontextmanager
async def worker_process(
    environment: Mapping[str, str], log_path: Path
) -> AsyncIterator[asyncio.subprocess.Process]:
    """`python -m workflows.worker` in its own process; yields once it polls; killed on exit if still alive."""
    with log_path.open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "workflows.worker",
            cwd=REPO_ROOT,
            env=dict(environment),
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 90
        while READY_MARKER not in (output := await asyncio.to_thread(_read, log_path)):
            if process.returncode is not None or time.monotonic() > deadline:
                raise AssertionError(f"worker did not start:\n{output[-3000:]}")
            await asyncio.sleep(0.1)
        yield process
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_a_run_survives_a_sigkilled_worker_and_completes_once(
    temporal_server: LocalTemporalServer,
    temporal_client: Client,
    local_graph_database: LocalGraphDatabase,
    demo_store: GraphStore,
    results: ResultStore,
    tmp_path: Path,
) -> None:
    queue = fresh_task_queue()
    environment = _worker_environment(temporal_server, local_graph_database, queue)
    async with worker_process(environment, tmp_path / "worker-1.log") as first:
        workflow_id = await lodestar.start_roadmap_drafting(
            temporal_client, roadmap_request(), task_queue=queue
        )
        await wait_for_stage(temporal_client, workflow_id, Stage.AWAITING_REVIEW, within=120)
        first.send_signal(signal.SIGKILL)
        assert await first.wait() == -signal.SIGKILL
    assert await results.count_results(NodeLabel.ROADMAP_VERSION, workflow_id) == 1

    async with worker_process(environment, tmp_path / "worker-2.log") as second:
        published = await lodestar.approve_roadmap(temporal_client, workflow_id, reviewer="After The Crash")
        outcome = await lodestar.get_result(temporal_client, workflow_id)
        second.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(second.wait(), timeout=60) == 0

    assert isinstance(outcome, RoadmapDraftOutcome)
    assert outcome == published and outcome.status is RoadmapStatus.PUBLISHED
    assert await results.count_results(NodeLabel.ROADMAP_VERSION, workflow_id) == 1
    assert await results.current_roadmap_markers() == (1, 1)
    current = await results.current_roadmap()
    assert current is not None and current.id == workflow_id
