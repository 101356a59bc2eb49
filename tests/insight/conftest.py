"""Fixtures for the customer-insight tests: the session's real graph database (tests/conftest.py) holding the
small demo portfolio (300 feedback items) plus the tiny hand-built one, API keys per role, and a real Temporal
dev server with an in-process worker (offline model) for the runs (tests/temporal_fixtures.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import neo4j
import pytest_asyncio
from temporalio.client import Client

from api.auth import Role, create_api_key
from graph.entity_reads import EntityReads
from graph.local_db import LocalGraphDatabase
from graph.store import GraphStore
from tests.api.conftest import AS_OF, ApiGraph, GraphQLClient, combined, in_process_client, make_services
from tests.api.conftest import demo_portfolio as demo_portfolio
from tests.conftest import build_tiny_portfolio
from tests.temporal_fixtures import running_worker, temporal_client, temporal_server


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def insight_graph(
    graph_driver: neo4j.AsyncDriver, local_graph_database: LocalGraphDatabase, demo_portfolio
) -> ApiGraph:
    """A fresh graph per module: the small demo portfolio and the tiny one, no results, no decisions."""
    store = GraphStore(graph_driver, local_graph_database.database)
    await store.clear()
    portfolio = combined(demo_portfolio, build_tiny_portfolio())
    await store.import_portfolio(portfolio)
    queries = EntityReads(graph_driver, local_graph_database.database)
    await queries.ensure_schema()
    keys = {role: (await create_api_key(queries, f"insight {role.value}", role)).secret_key for role in Role}
    return ApiGraph(store=store, queries=queries, portfolio=portfolio, keys=keys)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def insight_queue(insight_graph: ApiGraph, temporal_client: Client) -> AsyncIterator[str]:
    async with running_worker(temporal_client, insight_graph.store) as task_queue:
        yield task_queue


@pytest_asyncio.fixture(loop_scope="session")
async def insight_gql(
    insight_graph: ApiGraph, temporal_client: Client, insight_queue: str
) -> AsyncIterator[GraphQLClient]:
    services = make_services(insight_graph, temporal=temporal_client, task_queue=insight_queue)
    async with in_process_client(services, insight_graph.keys) as client:
        yield client


__all__ = ["AS_OF", "running_worker", "temporal_client", "temporal_server"]
