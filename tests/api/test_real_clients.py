"""Clients the project did not write, against the app on real uvicorn, a real Temporal dev server and
an in-process worker: Python `gql` over both GraphQL WebSocket subprotocols and over HTTP, and the
Node `graphql-ws` client run by `node`.

Each subscription is compared with the workflow's own progress log (the `progress` query, read from
Temporal at the end): the client must have seen every event the log kept, in order, and the end.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from gql import Client, GraphQLRequest
from gql.client import AsyncClientSession
from gql.transport.httpx import HTTPXAsyncTransport
from gql.transport.websockets import WebsocketsTransport
from temporalio.client import Client as TemporalClient
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from api.app import create_app
from api.auth import Role
from api.server import running_server
from api.settings import ApiMode, ApiSettings
from tests.api.conftest import AS_OF, ApiGraph, make_services, running_worker
from workflows import client as runs_client
from workflows.payloads import ProgressEvent

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

OPTIONS = {"asOf": AS_OF.isoformat(), "trials": 500, "seed": 5}
ROADMAP_STAGES = [
    "LOADING_SNAPSHOT",
    "PRECOMPUTING",
    "RUNNING_AGENT",
    "PERSISTING",
    "AWAITING_REVIEW",
    "PUBLISHING",
    "COMPLETED",
]
"""The stages `RoadmapDraftingWorkflow` goes through when its draft is approved."""
RISK_STAGES = ["LOADING_SNAPSHOT", "PRECOMPUTING", "RUNNING_AGENT", "PERSISTING", "COMPLETED"]
"""The stages of `RiskAssessmentWorkflow`."""

PROGRESS = GraphQLRequest(
    """
    subscription($id: ID!) {
      runProgress(id: $id) { runId kind state stage percent messages seq message done }
    }
    """
)
START_ROADMAP = GraphQLRequest(
    """
    mutation($input: RoadmapDraftInput) {
      startRoadmapDraft(input: $input) { __typename ... on RunStarted { run { id state } } }
    }
    """
)
START_RISK = GraphQLRequest(
    """
    mutation($input: RiskAssessmentInput) {
      startRiskAssessment(input: $input) { __typename ... on RunStarted { run { id state } } }
    }
    """
)
APPROVE = GraphQLRequest(
    """
    mutation($id: ID!) {
      approveRoadmap(runId: $id, comment: "from gql") {
        __typename ... on RoadmapReviewed { version { status current reviewer } }
      }
    }
    """
)
CANCEL = GraphQLRequest(
    """
    mutation($id: ID!) {
      cancelRun(id: $id) {
        __typename
        ... on RunCancelled { cancelRequested closed run { id state closedAt } }
        ... on InvalidState { message }
      }
    }
    """
)


@asynccontextmanager
async def serving(
    api_graph: ApiGraph, temporal: TemporalClient, task_queue: str, **settings: Any
) -> AsyncIterator[str]:
    """The app on real uvicorn (base URL), its runs started on `task_queue`."""
    app = create_app(
        make_services(
            api_graph,
            ApiSettings(mode=ApiMode.DEVELOPMENT, **settings),
            temporal=temporal,
            task_queue=task_queue,
        )
    )
    async with running_server(app) as url:
        yield url


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def worker_queue(api_graph: ApiGraph, temporal_client: TemporalClient) -> AsyncIterator[str]:
    async with running_worker(temporal_client, api_graph.store) as task_queue:
        yield task_queue


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def served(
    api_graph: ApiGraph, temporal_client: TemporalClient, worker_queue: str
) -> AsyncIterator[str]:
    """With the default progress poll and cancel wait."""
    async with serving(api_graph, temporal_client, worker_queue) as url:
        yield url


def ws_url(base: str) -> str:
    return base.replace("http://", "ws://") + "/graphql"


def http_client(base: str, api_graph: ApiGraph, role: Role) -> Client:
    transport = HTTPXAsyncTransport(
        url=base + "/graphql", headers={"Authorization": f"Bearer {api_graph.keys[role]}"}
    )
    return Client(transport=transport)


async def call(session: AsyncClientSession, request: GraphQLRequest, **variables: Any) -> dict[str, Any]:
    """The single field a mutation answers."""
    data = await session.execute(GraphQLRequest(request, variable_values=variables))
    return next(iter(data.values()))


async def start_run(base: str, api_graph: ApiGraph, request: GraphQLRequest, **input_: Any) -> str:
    async with http_client(base, api_graph, Role.PLANNER) as planner:
        started = await call(planner, request, input={"options": OPTIONS, **input_})
    assert started["__typename"] == "RunStarted", started
    assert started["run"]["state"] == "RUNNING"
    return started["run"]["id"]


def collapsed(stages: Sequence[str]) -> list[str]:
    """The stages in order, each once per stretch."""
    return [stage for i, stage in enumerate(stages) if i == 0 or stages[i - 1] != stage]


async def logged_events(temporal: TemporalClient, run_id: str) -> list[ProgressEvent]:
    return (await runs_client.get_progress(temporal, run_id)).events


def assert_saw_the_whole_log(events: Sequence[dict[str, Any]], log: Sequence[ProgressEvent]) -> None:
    """Every event the workflow's log kept was sent, in order; only the last one is `done`."""
    sent = [event["seq"] for event in events]
    assert None not in sent, "every event came from the log, the end included"
    assert sent == sorted(set(sent)), "seq only grows"
    assert {entry.seq for entry in log} <= set(sent), (sent, [entry.seq for entry in log])
    assert collapsed([event["stage"] for event in events]) == collapsed([entry.stage.name for entry in log])
    by_seq = {event["seq"]: event for event in events}
    for entry in log:
        assert by_seq[entry.seq]["message"] == entry.message
        assert by_seq[entry.seq]["percent"] == entry.percent
    assert [event["done"] for event in events] == [False] * (len(events) - 1) + [True]
    assert all(event["state"] == "RUNNING" for event in events[:-1])


async def follow_run_answering_review(
    served: str,
    api_graph: ApiGraph,
    run_id: str,
    transport: WebsocketsTransport,
    role: Role,
    mutation: GraphQLRequest,
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """Every progress event of a run; at its first AWAITING_REVIEW event, `mutation` is sent once as `role`.

    Returns the events and the mutation's answer (None if the run never awaited review)."""
    events: list[dict[str, Any]] = []
    answer: dict[str, Any] | None = None
    async with asyncio.timeout(120):
        async with Client(transport=transport) as viewer:
            async for data in viewer.subscribe(GraphQLRequest(PROGRESS, variable_values={"id": run_id})):
                event = data["runProgress"]
                events.append(event)
                if event["stage"] == "AWAITING_REVIEW" and answer is None:
                    async with http_client(served, api_graph, role) as reviewer:
                        answer = await call(reviewer, mutation, id=run_id)
    return events, answer


@pytest.mark.parametrize(
    "subprotocol", [WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL, WebsocketsTransport.APOLLO_SUBPROTOCOL]
)
async def test_gql_follows_a_roadmap_draft_through_review_to_completion(
    served: str, api_graph: ApiGraph, temporal_client: TemporalClient, subprotocol: str
) -> None:
    run_id = await start_run(served, api_graph, START_ROADMAP, quarters=2)
    transport = WebsocketsTransport(
        url=ws_url(served),
        subprotocols=[subprotocol],
        init_payload={"apiKey": api_graph.keys[Role.VIEWER]},
    )
    events, approved = await follow_run_answering_review(
        served, api_graph, run_id, transport, Role.APPROVER, APPROVE
    )
    assert transport.subprotocol == subprotocol

    assert approved is not None and approved["__typename"] == "RoadmapReviewed", approved
    assert approved["version"] == {"status": "PUBLISHED", "current": True, "reviewer": "test approver"}
    assert all(event["runId"] == run_id and event["kind"] == "ROADMAP_DRAFTING" for event in events)
    assert collapsed([event["stage"] for event in events]) == ROADMAP_STAGES
    final = events[-1]
    assert final["done"] is True
    assert (final["state"], final["stage"], final["percent"]) == ("COMPLETED", "COMPLETED", 100)
    percents = [event["percent"] for event in events]
    assert percents == sorted(percents)
    assert_saw_the_whole_log(events, await logged_events(temporal_client, run_id))


async def test_gql_queries_over_http(served: str, api_graph: ApiGraph) -> None:
    async with http_client(served, api_graph, Role.VIEWER) as viewer:
        data = await viewer.execute(
            GraphQLRequest('{ feature(id: "f-2") { owner { name } demand { requestCount } } }')
        )
    assert data == {"feature": {"owner": {"name": "Core"}, "demand": {"requestCount": 2}}}


async def test_cancel_run_answers_cancelled_for_a_draft_awaiting_review(
    served: str, api_graph: ApiGraph, temporal_client: TemporalClient
) -> None:
    run_id = await start_run(served, api_graph, START_ROADMAP, quarters=2)
    transport = WebsocketsTransport(url=ws_url(served), init_payload={"apiKey": api_graph.keys[Role.VIEWER]})
    events, cancelled = await follow_run_answering_review(
        served, api_graph, run_id, transport, Role.PLANNER, CANCEL
    )

    assert cancelled is not None and cancelled["__typename"] == "RunCancelled", cancelled
    assert cancelled["cancelRequested"] is True and cancelled["closed"] is True
    assert cancelled["run"]["id"] == run_id and cancelled["run"]["state"] == "CANCELLED"
    assert cancelled["run"]["closedAt"] is not None
    final = events[-1]
    assert (final["state"], final["stage"], final["done"]) == ("CANCELLED", "CANCELLED", True)
    assert collapsed([event["stage"] for event in events])[-2:] == ["AWAITING_REVIEW", "CANCELLED"]
    assert_saw_the_whole_log(events, await logged_events(temporal_client, run_id))

    async with http_client(served, api_graph, Role.PLANNER) as planner:
        again = await call(planner, CANCEL, id=run_id)
    assert again["__typename"] == "InvalidState", again


async def follow(base: str, api_graph: ApiGraph, run_id: str) -> list[dict[str, Any]]:
    """Every `runProgress` event of the run, through gql over graphql-transport-ws."""
    transport = WebsocketsTransport(
        url=ws_url(base),
        subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
        init_payload={"apiKey": api_graph.keys[Role.VIEWER]},
    )
    async with asyncio.timeout(120), Client(transport=transport) as viewer:
        request = GraphQLRequest(PROGRESS, variable_values={"id": run_id})
        return [data["runProgress"] async for data in viewer.subscribe(request)]


async def test_a_slow_poll_still_sends_every_stage(
    api_graph: ApiGraph, temporal_client: TemporalClient, worker_queue: str
) -> None:
    async with serving(api_graph, temporal_client, worker_queue, progress_poll_s=1.5) as base:
        run_id = await start_run(base, api_graph, START_RISK)
        events = await follow(base, api_graph, run_id)
    log = await logged_events(temporal_client, run_id)
    # The run takes about as long as one or two polls, and every stage still arrives.
    assert collapsed([event["stage"] for event in events]) == RISK_STAGES
    assert_saw_the_whole_log(events, log)


async def test_cancel_run_says_when_the_run_has_not_stopped_yet(
    api_graph: ApiGraph, temporal_client: TemporalClient
) -> None:
    # No worker polls this queue, so the run cannot act on the cancellation.
    idle_queue = f"no-worker-{uuid.uuid4()}"
    async with serving(api_graph, temporal_client, idle_queue, cancel_wait_s=0.5) as base:
        run_id = await start_run(base, api_graph, START_RISK)
        try:
            async with http_client(base, api_graph, Role.PLANNER) as planner:
                answer = await call(planner, CANCEL, id=run_id)
            assert answer["__typename"] == "RunCancelled", answer
            assert answer["cancelRequested"] is True and answer["closed"] is False
            assert answer["run"] == {"id": run_id, "state": "RUNNING", "closedAt": None}
        finally:
            await temporal_client.get_workflow_handle(run_id).terminate("test cleanup")


async def test_a_handshake_without_a_graphql_subprotocol_is_refused(served: str) -> None:
    for offered in (None, ["graphql-sse"], ["json"]):
        with pytest.raises(InvalidStatus) as refused:
            await connect(ws_url(served), subprotocols=offered)  # pyright: ignore[reportArgumentType]
        assert refused.value.response.status_code == 400
        assert b"graphql-transport-ws or graphql-ws" in refused.value.response.body


@pytest.mark.parametrize("subprotocol", ["graphql-transport-ws", "graphql-ws"])
async def test_every_message_is_a_text_frame(served: str, api_graph: ApiGraph, subprotocol: str) -> None:
    async with connect(ws_url(served), subprotocols=[subprotocol]) as socket:  # pyright: ignore[reportArgumentType]
        assert socket.subprotocol == subprotocol
        await socket.send(
            json.dumps({"type": "connection_init", "payload": {"apiKey": api_graph.keys[Role.VIEWER]}})
        )
        ack = await socket.recv()
        assert isinstance(ack, str) and json.loads(ack) == {"type": "connection_ack"}
        start = "subscribe" if subprotocol == "graphql-transport-ws" else "start"
        await socket.send(
            json.dumps(
                {
                    "id": "1",
                    "type": start,
                    "payload": {"query": 'subscription { runProgress(id: "risk-missing") { done } }'},
                }
            )
        )
        answer = await socket.recv()
        assert isinstance(answer, str), "an answer in a binary frame"
        assert json.loads(answer)["id"] == "1"


# -- the Node client ---------------------------------------------------------------------------------

SCRIPT = Path(__file__).parent / "js" / "run_progress.mjs"


@pytest.fixture(scope="session")
def node_graphql_ws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A folder with `graphql-ws` and `ws` installed from npm and the test script, once per session."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        if os.environ.get("CI"):
            pytest.fail("node and npm must be installed in CI to test the graphql-ws client")
        pytest.skip("node/npm not installed: the graphql-ws client test needs them")
    folder = tmp_path_factory.mktemp("graphql-ws-client")
    subprocess.run(
        [npm, "install", "--no-audit", "--no-fund", "--prefix", str(folder), "graphql-ws@6", "ws@8"],
        check=True,
        capture_output=True,
        timeout=180,
    )
    shutil.copy(SCRIPT, folder / SCRIPT.name)
    yield folder


async def test_the_node_graphql_ws_client_follows_a_run(
    served: str, api_graph: ApiGraph, temporal_client: TemporalClient, node_graphql_ws: Path
) -> None:
    run_id = await start_run(served, api_graph, START_RISK)
    node = shutil.which("node")
    assert node is not None
    process = await asyncio.create_subprocess_exec(
        node,
        str(node_graphql_ws / SCRIPT.name),
        ws_url(served),
        api_graph.keys[Role.VIEWER],
        run_id,
        cwd=node_graphql_ws,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(120):
            stdout, stderr = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, stderr.decode()
    results = [json.loads(line) for line in stdout.decode().splitlines()]
    assert results and all("errors" not in result for result in results), results
    events = [result["data"]["runProgress"] for result in results]
    assert all(event["runId"] == run_id and event["kind"] == "RISK_ASSESSMENT" for event in events)
    assert collapsed([event["stage"] for event in events]) == RISK_STAGES
    assert (events[-1]["state"], events[-1]["percent"], events[-1]["done"]) == ("COMPLETED", 100, True)
    assert_saw_the_whole_log(events, await logged_events(temporal_client, run_id))
