"""`runProgress` over graphql-transport-ws, against the app served by real uvicorn on loopback.

Clients other than this raw one (gql, the Node graphql-ws client) are in `test_real_clients.py`."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
import pytest_asyncio
from temporalio.client import Client
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from api.app import create_app
from api.auth import Role
from api.context import ApiServices
from api.server import running_server
from api.settings import ApiMode, ApiSettings
from tests.api.conftest import AS_OF, ApiGraph, GraphQLClient, make_services, running_worker

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

PROTOCOL = "graphql-transport-ws"
PROGRESS = """
subscription($id: ID!) {
  runProgress(id: $id) { runId kind state stage percent messages seq done }
}
"""


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def served_services(
    api_graph: ApiGraph, temporal_client: Client
) -> AsyncIterator[tuple[str, ApiServices]]:
    async with running_worker(temporal_client, api_graph.store) as task_queue:
        settings = ApiSettings(mode=ApiMode.DEVELOPMENT, progress_poll_s=0.1)
        services = make_services(api_graph, settings, temporal=temporal_client, task_queue=task_queue)
        async with running_server(create_app(services)) as url:
            yield url, services


@pytest.fixture
def served(served_services: tuple[str, ApiServices]) -> str:
    return served_services[0]


async def receive(socket: ClientConnection) -> dict[str, Any]:
    return json.loads(await socket.recv())


async def open_session(url: str, payload: dict[str, Any]) -> ClientConnection:
    socket = await connect(url.replace("http://", "ws://") + "/graphql", subprotocols=[PROTOCOL])  # type: ignore[list-item]
    await socket.send(json.dumps({"type": "connection_init", "payload": payload}))
    return socket


async def post(served: str, api_graph: ApiGraph, role: Role, query: str, variables: dict[str, Any]) -> Any:
    async with httpx.AsyncClient(base_url=served) as http:
        return await GraphQLClient(http, api_graph.keys).data(query, variables, role=role)


async def start_run(served: str, api_graph: ApiGraph, mutation: str, extra: str = "") -> str:
    data = await post(
        served,
        api_graph,
        Role.PLANNER,
        f"mutation($o: AnalysisOptions) {{ {mutation}(input: {{options: $o{extra}}}) "
        "{ ... on RunStarted { run { id } } } }",
        {"o": {"asOf": AS_OF.isoformat(), "trials": 500, "seed": 1}},
    )
    return data[mutation]["run"]["id"]


async def follow(
    served: str, api_graph: ApiGraph, run_id: str, on_event: Callable[[dict[str, Any]], object] | None = None
) -> list[dict[str, Any]]:
    """Every `runProgress` event of the run, over a connection of its own."""
    socket = await open_session(served, {"apiKey": api_graph.keys[Role.VIEWER]})
    async with socket:
        assert socket.subprotocol == PROTOCOL
        assert await receive(socket) == {"type": "connection_ack"}
        await socket.send(
            json.dumps(
                {"id": "1", "type": "subscribe", "payload": {"query": PROGRESS, "variables": {"id": run_id}}}
            )
        )
        events: list[dict[str, Any]] = []
        while True:
            message = await receive(socket)
            if message["type"] == "complete":
                return events
            assert message["type"] == "next", message
            assert "errors" not in message["payload"], message
            events.append(message["payload"]["data"]["runProgress"])
            if on_event is not None:
                on_event(events[-1])


async def test_run_progress_streams_until_the_run_ends(served: str, api_graph: ApiGraph) -> None:
    run_id = await start_run(served, api_graph, "startRiskAssessment")
    events = await follow(served, api_graph, run_id)
    assert events, "at least the first state is sent"
    assert all(e["runId"] == run_id and e["kind"] == "RISK_ASSESSMENT" for e in events)
    assert [e["done"] for e in events] == [False] * (len(events) - 1) + [True]
    final = events[-1]
    assert final["state"] == "COMPLETED" and final["stage"] == "COMPLETED" and final["percent"] == 100
    running = [e["percent"] for e in events if e["state"] == "RUNNING"]
    assert running == sorted(running)  # percent never goes back
    sent = [e["seq"] for e in events]
    assert None not in sent and sent == sorted(set(sent))  # each logged event once, in order


async def test_subscribers_of_one_run_share_one_poller_and_each_sees_every_event(
    served_services: tuple[str, ApiServices], api_graph: ApiGraph
) -> None:
    served, services = served_services
    run_id = await start_run(served, api_graph, "startRoadmapDraft", ", quarters: 2")
    awaiting = [asyncio.Event() for _ in range(4)]

    def on_event(arrived: asyncio.Event) -> Callable[[dict[str, Any]], object]:
        return lambda event: event["stage"] == "AWAITING_REVIEW" and arrived.set()

    followers = [asyncio.create_task(follow(served, api_graph, run_id, on_event(a))) for a in awaiting]
    await asyncio.wait_for(asyncio.gather(*(arrived.wait() for arrived in awaiting)), timeout=120)
    assert services.run_watches is not None and services.run_watches.active == 1, (
        "four subscribers, one poller"
    )
    approved = await post(
        served,
        api_graph,
        Role.APPROVER,
        'mutation($id: ID!) { approveRoadmap(runId: $id, comment: "shared poller") { __typename } }',
        {"id": run_id},
    )
    assert approved["approveRoadmap"]["__typename"] == "RoadmapReviewed"
    seen = await asyncio.wait_for(asyncio.gather(*followers), timeout=120)

    def stages(events: list[dict[str, Any]]) -> list[str]:
        return [stage for stage, _ in itertools.groupby(e["stage"] for e in events)]

    for events in seen:
        assert events[-1]["done"] and events[-1]["state"] == "COMPLETED" and events[-1] == seen[0][-1]
        sent = [e["seq"] for e in events]
        assert sent == sorted(set(sent))
        assert stages(events) == stages(seen[0]), "a change of stage is never skipped"
    assert len(stages(seen[0])) >= 4
    assert services.run_watches.active == 0


async def test_a_bad_key_is_refused_and_no_key_cannot_subscribe(served: str) -> None:
    socket = await open_session(served, {"apiKey": "lsk_0000000000000000_" + "x" * 43})
    async with socket:
        with pytest.raises(ConnectionClosed) as closed:
            await socket.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403

    socket = await open_session(served, {})
    async with socket:
        assert await receive(socket) == {"type": "connection_ack"}
        await socket.send(
            json.dumps(
                {"id": "1", "type": "subscribe", "payload": {"query": PROGRESS, "variables": {"id": "x"}}}
            )
        )
        message = await receive(socket)
        errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
        assert errors[0]["extensions"]["code"] == "FORBIDDEN"


async def test_queries_over_real_http(served: str, api_graph: ApiGraph) -> None:
    async with httpx.AsyncClient(base_url=served) as http:
        response = await http.post(
            "/graphql",
            json={"query": '{ feature(id: "f-2") { owner { name } demand { requestCount } } }'},
            headers={"X-API-Key": api_graph.keys[Role.VIEWER]},
        )
        assert response.json() == {
            "data": {"feature": {"owner": {"name": "Core"}, "demand": {"requestCount": 2}}}
        }
        assert response.headers["content-type"] == "application/json"
