"""API test fixtures: the demo portfolio plus the hand-checked tiny one in the real local graph,
an API key per role, the ASGI app behind an httpx client, and a real Temporal dev server with an
in-process worker (offline model, every workflow task replayed) for the run tests.

The graph is loaded once per module (`api_graph`); tests that change the graph (imports) restore it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date
from typing import Any

import httpx
import neo4j
import pytest
import pytest_asyncio
from temporalio.client import Client

from api.app import create_app
from api.auth import ApiKeyAuthenticator, Role, create_api_key
from api.context import ApiServices
from api.result_reader import ResultReader
from api.settings import ApiMode, ApiSettings
from graph.demo import generate_portfolio
from graph.entity_reads import EntityReads
from graph.local_db import LocalGraphDatabase
from graph.portfolio import Portfolio
from graph.store import GraphStore
from tests.conftest import build_tiny_portfolio
from tests.temporal_fixtures import (
    running_worker,
    temporal_client,
    temporal_server,
)

AS_OF = date(2026, 11, 23)


def combined(*portfolios: Portfolio) -> Portfolio:
    """One document holding every entity of the given portfolios (their ids must not clash)."""
    merged: dict[str, list[Any]] = {}
    for portfolio in portfolios:
        for name in Portfolio.model_fields:
            merged.setdefault(name, []).extend(getattr(portfolio, name))
    return Portfolio(**merged)


@dataclass
class ApiGraph:
    store: GraphStore
    queries: EntityReads
    portfolio: Portfolio
    """What the graph holds: the demo portfolio and the tiny one together."""
    keys: Mapping[Role, str]
    """A working secret key per role."""


@pytest.fixture(scope="module")
def demo_portfolio() -> Portfolio:
    return generate_portfolio(seed=7, scale="small", anchor=AS_OF)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def api_graph(
    graph_driver: neo4j.AsyncDriver, local_graph_database: LocalGraphDatabase, demo_portfolio: Portfolio
) -> ApiGraph:
    store = GraphStore(graph_driver, local_graph_database.database)
    await store.clear()
    portfolio = combined(demo_portfolio, build_tiny_portfolio())
    await store.import_portfolio(portfolio)
    queries = EntityReads(graph_driver, local_graph_database.database)
    await queries.ensure_schema()
    keys = {role: (await create_api_key(queries, f"test {role.value}", role)).secret_key for role in Role}
    return ApiGraph(store=store, queries=queries, portfolio=portfolio, keys=keys)


def make_services(
    api_graph: ApiGraph,
    settings: ApiSettings | None = None,
    *,
    temporal: Client | None = None,
    task_queue: str = "unused",
) -> ApiServices:
    return ApiServices(
        queries=api_graph.queries,
        store=api_graph.store,
        settings=settings or ApiSettings(mode=ApiMode.DEVELOPMENT),
        authenticator=ApiKeyAuthenticator(api_graph.queries),
        results=ResultReader(api_graph.store, api_graph.queries),
        temporal=temporal,
        task_queue=task_queue,
    )


class GraphQLClient:
    """Posts operations to the ASGI app over httpx, with the API key of a role (or none)."""

    def __init__(self, http: httpx.AsyncClient, keys: Mapping[Role, str]) -> None:
        self.http = http
        self.keys = keys

    async def post(self, body: object, *, role: Role | None = Role.VIEWER) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.keys[role]}"} if role is not None else {}
        return await self.http.post("/graphql", json=body, headers=headers)

    async def execute(
        self, query: str, variables: dict[str, Any] | None = None, *, role: Role | None = Role.VIEWER
    ) -> dict[str, Any]:
        """The response body of one operation; fails the test on an HTTP error status."""
        response = await self.post({"query": query, "variables": variables or {}}, role=role)
        assert response.status_code == 200, response.text
        return response.json()

    async def data(
        self, query: str, variables: dict[str, Any] | None = None, *, role: Role | None = Role.VIEWER
    ) -> dict[str, Any]:
        """The `data` of one operation that must succeed without errors."""
        body = await self.execute(query, variables, role=role)
        assert "errors" not in body, body["errors"]
        return body["data"]


@asynccontextmanager
async def in_process_client(
    services: ApiServices, keys: Mapping[Role, str] | None = None
) -> AsyncIterator[GraphQLClient]:
    """A GraphQLClient on the app in this process (httpx's ASGI transport, no server), signing in with `keys`."""
    app = create_app(services)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://lodestar.test"
    ) as http:
        yield GraphQLClient(http, dict(keys or {}))


@pytest_asyncio.fixture(loop_scope="session")
async def gql(api_graph: ApiGraph) -> AsyncIterator[GraphQLClient]:
    async with in_process_client(make_services(api_graph), api_graph.keys) as client:
        yield client


__all__ = [
    "AS_OF",
    "ApiGraph",
    "GraphQLClient",
    "in_process_client",
    "make_services",
    "running_worker",
    "temporal_client",
    "temporal_server",
]
