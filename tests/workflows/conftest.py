"""Fixtures for the workflow tests: ONE real Temporal dev server per session, the session's real graph
database (tests/conftest.py) holding the demo portfolio, and in-process workers on fresh task queues
(the Temporal fixtures and workers are shared with the API tests: tests/temporal_fixtures.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import neo4j
import pytest
import pytest_asyncio
from temporalio.client import Client

from agents.snapshots import snapshot_id_of
from graph.local_db import LocalGraphDatabase
from graph.portfolio import Portfolio
from graph.result_store import ResultStore
from graph.store import GraphStore, normalise_portfolio
from tests.temporal_fixtures import (
    fresh_task_queue,
    running_worker,
    temporal_client,
    temporal_server,
)

from .support import AS_OF, demo_portfolio_for_tests


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


@pytest_asyncio.fixture(loop_scope="session")
async def task_queue(temporal_client: Client, demo_store: GraphStore) -> AsyncIterator[str]:
    async with running_worker(temporal_client, demo_store) as queue:
        yield queue


__all__ = [
    "AS_OF",
    "fresh_task_queue",
    "running_worker",
    "temporal_client",
    "temporal_server",
]
