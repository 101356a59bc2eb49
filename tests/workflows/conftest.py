"""Fixtures for the workflow tests: ONE real Temporal dev server per session, the session's real graph
database (tests/conftest.py) holding the demo portfolio, and in-process workers on fresh task queues.

Workers run with `max_cached_workflows=0`, so every workflow task replays the history from the start:
any non-determinism shows up here, not in production. No test may reach a real model provider.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import neo4j
import pytest
import pytest_asyncio
from pydantic_ai import models
from temporalio.client import Client

from agents.snapshots import snapshot_id_of
from graph.local_db import LocalGraphDatabase
from graph.portfolio import Portfolio
from graph.result_store import ResultStore
from graph.store import GraphStore, normalise_portfolio
from workflows.activities import LodestarActivities
from workflows.client import connect
from workflows.local_temporal import LocalTemporalServer
from workflows.worker import build_worker

from .support import AS_OF, demo_portfolio_for_tests


@pytest.fixture(autouse=True)
def _no_real_models(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(models, "ALLOW_MODEL_REQUESTS", False)
    monkeypatch.delenv("LODESTAR_MODEL", raising=False)
    yield


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def temporal_server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LocalTemporalServer]:
    async with LocalTemporalServer(tmp_path_factory.mktemp("temporal") / "temporal") as server:
        yield server


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def temporal_client(temporal_server: LocalTemporalServer) -> Client:
    return await connect(temporal_server.endpoint())


@pytest.fixture(scope="session")
def demo_portfolio() -> Portfolio:
    return demo_portfolio_for_tests()


@pytest_asyncio.fixture(loop_scope="session")
async def demo_store(
    graph_driver: neo4j.AsyncDriver, local_graph_database: LocalGraphDatabase, demo_portfolio: Portfolio
) -> GraphStore:
    """The session database holding exactly the demo portfolio and no results.

    Other test modules clear the graph; the demo is re-imported only when the graph holds something else.
    """
    store = GraphStore(graph_driver, local_graph_database.database)
    if snapshot_id_of(await store.portfolio_snapshot()) != snapshot_id_of(
        normalise_portfolio(demo_portfolio)
    ):
        await store.clear()
        await store.import_portfolio(demo_portfolio)
    await ResultStore(store).delete_all_results()
    return store


@pytest.fixture
def results(demo_store: GraphStore) -> ResultStore:
    return ResultStore(demo_store)


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


@pytest_asyncio.fixture(loop_scope="session")
async def task_queue(temporal_client: Client, demo_store: GraphStore) -> AsyncIterator[str]:
    async with running_worker(temporal_client, demo_store) as queue:
        yield queue


__all__ = ["AS_OF", "fresh_task_queue", "running_worker"]
