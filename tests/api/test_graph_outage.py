"""The API while the graph database (or Temporal) stalls: typed 503s within the deadline, readiness that
says which component is down, and recovery without a restart.

The stalled servers are this module's own (SIGSTOP, always SIGCONT in a `finally`): the session's
shared graph database and Temporal server are never stopped. The API runs on a real uvicorn server.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from temporalio.client import Client
from websockets.asyncio.client import connect as websocket_connect
from websockets.exceptions import ConnectionClosed

from api.app import create_app
from api.auth import (
    STALE_LOOKUP_TIMEOUT_S,
    ApiKeyAuthenticator,
    AuthenticationUnavailableError,
    InvalidApiKeyError,
    Role,
    create_api_key,
)
from api.context import ApiServices
from api.server import running_server, services_for
from api.settings import ApiMode, ApiSettings
from graph.connection import open_driver
from graph.entity_reads import EntityReads
from graph.local_db import LocalGraphDatabase
from graph.store import GraphStore
from tests.conftest import build_tiny_portfolio
from workflows.client import connect
from workflows.local_temporal import LocalTemporalServer

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

DEADLINE_S = 2.5
READINESS_TIMEOUT_S = 1.0
MARGIN_S = 3.0
"""Slack for a loaded 2-core machine on top of each timeout."""
FEATURE_QUERY = '{ feature(id: "f-1") { name owner { name } } }'


def wait_until_stopped(pid: int, timeout_s: float = 10.0) -> None:
    """Until every thread of `pid` is stopped: SIGSTOP reaches a busy thread a little later, and a
    statement answered in between would pass for one answered during the outage."""
    give_up = time.monotonic() + timeout_s
    while time.monotonic() < give_up:
        states = []
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):  # a thread that ended meanwhile
                states.append((task / "stat").read_text().rsplit(")", 1)[1].split()[0])
        if states and all(state in "tT" for state in states):
            return
        time.sleep(0.01)
    raise AssertionError(f"process {pid} did not stop within {timeout_s} s")


@contextmanager
def stopped(pid: int | None) -> Iterator[None]:
    """The process `pid` stopped (SIGSTOP) for the block, and continued (SIGCONT) whatever happens."""
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)
    try:
        wait_until_stopped(pid)
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


@pytest.fixture(scope="module")
def outage_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalGraphDatabase]:
    """A graph database of this module's own, to be stalled."""
    database = LocalGraphDatabase(tmp_path_factory.mktemp("outage-graph") / "graph", heap="512m")
    try:
        database.start()
        yield database
    finally:
        if database.pid is not None:
            os.kill(database.pid, signal.SIGCONT)
        database.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def outage_store(outage_database: LocalGraphDatabase) -> AsyncIterator[GraphStore]:
    """The tiny portfolio, behind a driver built as the API builds it (bounded connection waits)."""
    driver = open_driver(outage_database.uri, outage_database.auth)
    try:
        store = GraphStore(driver, outage_database.database)
        await store.ensure_schema()
        await store.import_portfolio(build_tiny_portfolio())
        yield store
    finally:
        await driver.close()


@dataclass
class RunningApi:
    url: str
    services: ApiServices

    @property
    def websocket_url(self) -> str:
        return self.url.replace("http://", "ws://") + "/graphql"

    async def new_key(self, name: str) -> str:
        return (await create_api_key(self.services.queries, name, Role.VIEWER)).secret_key


async def start_api(store: GraphStore, temporal: Client | None) -> tuple[ApiServices, Any]:
    settings = ApiSettings(
        mode=ApiMode.PRODUCTION, request_timeout_s=DEADLINE_S, readiness_timeout_s=READINESS_TIMEOUT_S
    )
    services = await services_for(store, settings, temporal=temporal)
    return services, running_server(create_app(services))


async def post(http: httpx.AsyncClient, key: str, query: str) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = await http.post("/graphql", json={"query": query}, headers={"Authorization": f"Bearer {key}"})
    return response, time.monotonic() - started


def only_error(body: dict[str, Any]) -> dict[str, Any]:
    assert body["data"] is None
    errors = body["errors"]
    assert len(errors) == 1, errors
    return errors[0]


async def connection_init_outcome(api: RunningApi, key: str) -> tuple[int | None, float]:
    """The close code the server answers a graphql-transport-ws `connection_init` with, and how long it took
    (None: it acknowledged the connection)."""
    started = time.monotonic()
    async with websocket_connect(api.websocket_url, subprotocols=["graphql-transport-ws"]) as websocket:  # pyright: ignore[reportArgumentType]
        await websocket.send(json.dumps({"type": "connection_init", "payload": {"apiKey": key}}))
        try:
            message = json.loads(await asyncio.wait_for(websocket.recv(), DEADLINE_S + MARGIN_S))
        except ConnectionClosed:
            return websocket.close_code, time.monotonic() - started
        assert message["type"] == "connection_ack", message
        return None, time.monotonic() - started


async def readiness_within_its_timeout(http: httpx.AsyncClient) -> httpx.Response:
    """`/readyz`, which must answer within its timeout (plus the margin) whatever is down."""
    started = time.monotonic()
    ready = await http.get("/readyz")
    assert time.monotonic() - started < READINESS_TIMEOUT_S + MARGIN_S
    return ready


async def test_a_stalled_graph_gives_typed_503s_within_the_deadline_and_the_api_recovers(
    outage_database: LocalGraphDatabase, outage_store: GraphStore, temporal_client: Client
) -> None:
    services, server = await start_api(outage_store, temporal_client)
    async with server as url, httpx.AsyncClient(base_url=url, timeout=60) as http:
        api = RunningApi(url, services)
        cached = await api.new_key("verified before the outage")
        uncached = await api.new_key("first used during the outage")
        response, _ = await post(http, cached, FEATURE_QUERY)
        assert response.status_code == 200
        assert response.json() == {"data": {"feature": {"name": "Login", "owner": {"name": "Core"}}}}
        ready = await http.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json()["graph"]["status"] == ready.json()["temporal"]["status"] == "available"

        with stopped(outage_database.pid):
            response, elapsed = await post(http, uncached, FEATURE_QUERY)
            assert response.status_code == 503, response.text
            assert elapsed < DEADLINE_S + MARGIN_S
            assert response.headers["retry-after"].isdigit()
            error = only_error(response.json())
            assert error["extensions"] == {"code": "SERVICE_UNAVAILABLE"}
            assert error["message"] == "the API key could not be checked: the graph database is unavailable"

            not_ready = await readiness_within_its_timeout(http)
            assert not_ready.status_code == 503
            body = not_ready.json()
            assert body["status"] == "unavailable"
            assert body["graph"]["status"] == "unavailable"
            assert body["temporal"]["status"] == "available"

            started = time.monotonic()
            alive = await http.get("/healthz")
            assert time.monotonic() - started < MARGIN_S
            assert alive.status_code == 200
            assert alive.json()["status"] == "ok" and alive.json()["graph"]["status"] == "unavailable"

            # A key verified before the outage is not locked out: what needs no graph still answers...
            response, _ = await post(http, cached, "{ me { name role } }")
            assert response.status_code == 200
            assert response.json() == {
                "data": {"me": {"name": "verified before the outage", "role": "VIEWER"}}
            }
            # ...and what needs the graph runs out of time within the same deadline.
            response, elapsed = await post(http, cached, FEATURE_QUERY)
            assert response.status_code == 503
            assert elapsed < DEADLINE_S + MARGIN_S
            assert only_error(response.json())["extensions"] == {"code": "TIMEOUT"}

            close_code, elapsed = await connection_init_outcome(api, uncached)
            assert close_code == 4403
            assert elapsed < DEADLINE_S + MARGIN_S

        recovered: httpx.Response | None = None
        give_up = time.monotonic() + 30
        while time.monotonic() < give_up:
            recovered, _ = await post(http, uncached, FEATURE_QUERY)
            if recovered.status_code == 200:
                break
            await asyncio.sleep(0.5)
        assert recovered is not None and recovered.status_code == 200, recovered and recovered.text
        assert recovered.json() == {"data": {"feature": {"name": "Login", "owner": {"name": "Core"}}}}
        ready = await http.get("/readyz")
        assert ready.status_code == 200 and ready.json()["status"] == "ready"
        assert (await http.get("/healthz")).json()["graph"]["status"] == "available"
        close_code, _ = await connection_init_outcome(api, uncached)
        assert close_code is None


async def test_readiness_reports_a_stalled_temporal_apart_from_the_graph(
    outage_store: GraphStore, tmp_path_factory: pytest.TempPathFactory
) -> None:
    async with LocalTemporalServer(tmp_path_factory.mktemp("outage-temporal") / "temporal") as temporal:
        client = await connect(temporal.endpoint())
        _, server = await start_api(outage_store, client)
        async with server as url, httpx.AsyncClient(base_url=url, timeout=60) as http:
            assert (await http.get("/readyz")).json()["temporal"]["status"] == "available"
            with stopped(temporal.pid):
                ready = await readiness_within_its_timeout(http)
            # Reads need no Temporal, and every replica shares it: the replica stays in, degraded.
            assert ready.status_code == 200
            body = ready.json()
            assert body["status"] == "degraded"
            assert body["graph"]["status"] == "available"
            assert body["temporal"]["status"] == "unavailable"
            assert (await http.get("/healthz")).json()["temporal"]["status"] == "unavailable"
            give_up = time.monotonic() + 20
            while (await http.get("/readyz")).json()["status"] != "ready":
                assert time.monotonic() < give_up, "readiness did not recover after SIGCONT"
                await asyncio.sleep(0.5)


async def test_the_key_cache_is_bounded_honours_revocation_and_bridges_an_outage(
    outage_database: LocalGraphDatabase, outage_store: GraphStore
) -> None:
    queries = EntityReads(outage_store.driver, outage_store.database)
    await queries.ensure_schema()
    keys = [await create_api_key(queries, f"cache {index}", Role.VIEWER) for index in range(3)]

    bounded = ApiKeyAuthenticator(queries, cache_seconds=60, max_entries=2)
    for key in keys:
        await bounded.authenticate(key.secret_key)
    before = queries.round_trips
    await bounded.authenticate(keys[2].secret_key)
    assert queries.round_trips == before  # remembered
    await bounded.authenticate(keys[0].secret_key)
    assert queries.round_trips == before + 1  # the least recently used went first

    short = ApiKeyAuthenticator(queries, cache_seconds=0.2)
    assert (await short.authenticate(keys[1].secret_key)) is not None
    assert await queries.revoke_api_key(keys[1].key_id, "2026-01-01T00:00:00+00:00")
    await short.authenticate(keys[1].secret_key)  # still trusted within the cache time
    await asyncio.sleep(0.3)
    with pytest.raises(InvalidApiKeyError):
        await short.authenticate(keys[1].secret_key)

    graced = ApiKeyAuthenticator(queries, cache_seconds=0, outage_grace_seconds=300)
    strict = ApiKeyAuthenticator(queries, cache_seconds=0, outage_grace_seconds=0)
    for authenticator in (graced, strict):
        await authenticator.authenticate(keys[2].secret_key)
    seen: list[bool] = []
    with stopped(outage_database.pid):
        started = time.monotonic()
        principal = await graced.authenticate(
            keys[2].secret_key, timeout_s=DEADLINE_S, observe_graph=lambda up, _: seen.append(up)
        )
        assert principal is not None and principal.name == "cache 2"
        assert time.monotonic() - started < STALE_LOOKUP_TIMEOUT_S + MARGIN_S
        with pytest.raises(AuthenticationUnavailableError):
            await strict.authenticate(keys[2].secret_key, timeout_s=DEADLINE_S)
        with pytest.raises(AuthenticationUnavailableError):
            await graced.authenticate(keys[0].secret_key, timeout_s=DEADLINE_S)
    assert seen == [False]
    principal = await graced.authenticate(
        keys[0].secret_key, timeout_s=30, observe_graph=lambda up, _: seen.append(up)
    )
    assert principal is not None and seen == [False, True]
