"""One trace from the HTTP request through the workflow and its activity down to a graph statement."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import ProxyTracerProvider
from temporalio.client import Client
from temporalio.contrib.opentelemetry import create_tracer_provider

from api.app import create_app
from api.auth import Role
from api.telemetry import record_graph_query
from graph.store import GraphStore
from tests.api.conftest import AS_OF, ApiGraph, make_services, running_worker
from workflows.client import get_result

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


class Recording(SpanProcessor):
    """Exports ended spans to memory, only while a test records."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.enabled = False

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        pass

    def on_end(self, span: ReadableSpan) -> None:
        if self.enabled:
            self.exporter.export([span])


_recording = Recording()


@pytest.fixture
def recorded_spans() -> Iterator[InMemorySpanExporter]:
    """The process's tracer provider (installed here if none is) with a recording processor."""
    provider = trace.get_tracer_provider()
    if isinstance(provider, ProxyTracerProvider):
        provider = create_tracer_provider()
        trace.set_tracer_provider(provider)
    add = getattr(provider, "add_span_processor", None)
    assert add is not None, f"cannot record spans of {provider!r}"
    if not getattr(provider, "_lodestar_recording", False):
        add(_recording)
        provider._lodestar_recording = True  # type: ignore[attr-defined]
    _recording.exporter.clear()
    _recording.enabled = True
    try:
        yield _recording.exporter
    finally:
        _recording.enabled = False
        _recording.exporter.clear()


def chain_to_root(span: ReadableSpan, by_id: dict[int, ReadableSpan]) -> list[str]:
    names = [span.name]
    while span.parent is not None and span.parent.span_id in by_id:
        span = by_id[span.parent.span_id]
        names.append(span.name)
    return names


async def test_one_trace_from_http_to_a_graph_query(
    recorded_spans: InMemorySpanExporter, api_graph: ApiGraph, temporal_client: Client
) -> None:
    worker_store = GraphStore(
        api_graph.store.driver, api_graph.store.database, query_observer=record_graph_query
    )
    async with running_worker(temporal_client, worker_store) as task_queue:
        app = create_app(make_services(api_graph, temporal=temporal_client, task_queue=task_queue))
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://lodestar.test"
        ) as http:
            response = await http.post(
                "/graphql",
                json={
                    "query": "mutation Start($o: AnalysisOptions) { startRiskAssessment(input: {options: $o}) "
                    "{ ... on RunStarted { run { id } } } }",
                    "variables": {"o": {"asOf": AS_OF.isoformat(), "trials": 300}},
                    "operationName": "Start",
                },
                headers={"Authorization": f"Bearer {api_graph.keys[Role.PLANNER]}"},
            )
            run_id = response.json()["data"]["startRiskAssessment"]["run"]["id"]
            await asyncio.wait_for(get_result(temporal_client, run_id), timeout=120)

    spans = list(recorded_spans.get_finished_spans())
    [http_span] = [s for s in spans if s.name == "POST /graphql"]
    assert http_span.context is not None
    trace_id = http_span.context.trace_id
    in_trace = [s for s in spans if s.context is not None and s.context.trace_id == trace_id]
    by_id = {s.context.span_id: s for s in in_trace if s.context is not None}
    names = {s.name for s in in_trace}
    assert {
        "GraphQL Query: Start",
        "GraphQL Resolving: startRiskAssessment",
        "StartWorkflow:RiskAssessmentWorkflow",
        "RunWorkflow:RiskAssessmentWorkflow",
        "RunActivity:load_snapshot",
    } <= names, sorted(names)

    graph_in_activity = [
        chain_to_root(s, by_id)
        for s in in_trace
        if s.name.startswith("graph.query ") and "RunActivity:load_snapshot" in chain_to_root(s, by_id)
    ]
    assert graph_in_activity, "a graph statement of the load_snapshot activity is in the request's trace"
    chain = graph_in_activity[0]
    # graph statement -> activity run -> activity scheduled by the workflow -> workflow started by the
    # resolver -> GraphQL operation -> HTTP request. (Temporal's TracingInterceptor parents the workflow's
    # spans, RunWorkflow included, on the StartWorkflow span: they are all in this one trace.)
    order = [
        "RunActivity:load_snapshot",
        "StartActivity:load_snapshot",
        "StartWorkflow:RiskAssessmentWorkflow",
        "GraphQL Resolving: startRiskAssessment",
        "POST /graphql",
    ]
    positions = [chain.index(name) for name in order]
    assert positions == sorted(positions), chain
    assert chain[-1] == "POST /graphql"
    # The API's own statements trace too (here: reading the caller's API key).
    assert any(s.name == "graph.query api.api_key.by_id" for s in in_trace)
