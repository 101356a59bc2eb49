"""Temporal fixtures shared by the API and workflow tests.

A real Temporal dev server per conftest that imports these fixtures, a client connected as the API
connects one (PydanticAIPlugin and the tracing interceptor), and in-process workers on fresh task
queues. Workers run with `max_cached_workflows=0`, so every workflow task replays the history from
the start: any non-determinism shows up here, not in production. No test may reach a real model
provider (the guard in tests/conftest.py): the runs use the offline model.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import pytest_asyncio
from temporalio.client import Client

from graph.store import GraphStore
from workflows.activities import LodestarActivities
from workflows.client import connect
from workflows.local_temporal import LocalTemporalServer
from workflows.worker import build_worker


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def temporal_server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LocalTemporalServer]:
    async with LocalTemporalServer(tmp_path_factory.mktemp("temporal") / "temporal") as server:
        yield server


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def temporal_client(temporal_server: LocalTemporalServer) -> Client:
    """A client as the API connects one: PydanticAIPlugin and the tracing interceptor."""
    return await connect(temporal_server.endpoint())


def fresh_task_queue() -> str:
    return f"test-{uuid.uuid4()}"


@asynccontextmanager
async def running_worker(
    client: Client, store: GraphStore, *, activities: LodestarActivities | None = None
) -> AsyncIterator[str]:
    """A worker on a fresh task queue, replaying every workflow task (`max_cached_workflows=0`)."""
    task_queue = fresh_task_queue()
    async with build_worker(
        client, store, task_queue=task_queue, max_cached_workflows=0, activities=activities
    ):
        yield task_queue
