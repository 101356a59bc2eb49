"""The Lodestar worker: all workflows, our activities and the agents' activities on one task queue.

`build_worker` wires a worker to a connected client and an open `GraphStore`: it points the snapshot
registry's loader at the graph (so a worker that has not seen a snapshot reloads it), registers the
workflows and `LodestarActivities`, and runs workflows in Temporal's sandbox with our packages and the
numeric libraries passed through (imported once, not re-imported on every workflow task). The client's
`PydanticAIPlugin` registers the agents' model/tool activities and its `TracingInterceptor` traces the
worker.

`run_worker` (what `lodestar worker` and `python -m workflows.worker` run) opens the graph
(`NEO4J_URI`, or the local database), connects to `TEMPORAL_ADDRESS`/`TEMPORAL_NAMESPACE` or starts a
local dev server (SQLite in the project data dir), and serves `LODESTAR_TASK_QUEUE` until SIGINT/SIGTERM.
With a health port (`lodestar worker --health-port`, or `LODESTAR_WORKER_HEALTH_PORT`), `GET /healthz` on
it answers 200 while the worker polls and 503 once it stops, for a liveness or readiness probe.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from pydantic_ai import Agent
from pydantic_ai.models.instrumented import InstrumentationSettings
from temporalio.client import Client
from temporalio.contrib.opentelemetry import create_tracer_provider
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from agents.model_config import model_spec, preload_provider_sdks
from agents.snapshots import SnapshotRegistry, snapshots
from graph.connection import GraphSettings, open_graph
from graph.processes import freeze_startup_objects
from graph.store import GraphStore
from workflows.activities import LodestarActivities
from workflows.client import connect
from workflows.insight_activities import InsightActivities
from workflows.local_temporal import TemporalEndpoint, TemporalSettings, temporal_endpoint
from workflows.workflows import ALL_WORKFLOWS

PASSTHROUGH_MODULES: tuple[str, ...] = (
    "agents",
    "engines",
    "graph",
    "workflows.payloads",
    "workflows.activities",
    "workflows.durable_agents",
    "workflows.insight_activities",
    "workflows.insight_durable",
    "workflows.insight_payloads",
    "workflows.local_temporal",
    "networkx",
    "scipy",
    "numpy",
    "neo4j",
    "opentelemetry",
)
"""Deterministic or side-effect-free at import; shared with the sandbox instead of re-imported per task."""

OTLP_ENDPOINT_ENV = "OTEL_EXPORTER_OTLP_ENDPOINT"
HEALTH_PORT_ENV = "LODESTAR_WORKER_HEALTH_PORT"


def workflow_runner() -> SandboxedWorkflowRunner:
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH_MODULES)
    )


def build_worker(
    client: Client,
    store: GraphStore,
    *,
    task_queue: str,
    max_cached_workflows: int = 1000,
    registry: SnapshotRegistry = snapshots,
    max_concurrent_activities: int = 16,
    activities: LodestarActivities | None = None,
) -> Worker:
    """A worker for every Lodestar workflow; `client` must come from `workflows.client.connect`.

    `activities` defaults to `LodestarActivities(store, registry=registry)`. The model providers' SDKs are
    imported here, before any workflow task could need one (`preload_provider_sdks`).
    """
    preload_provider_sdks([spec] if (spec := model_spec()) else [])
    registry.set_loader(store.portfolio_snapshot)
    activities = activities or LodestarActivities(store, registry=registry)
    return Worker(
        client,
        task_queue=task_queue,
        workflows=list(ALL_WORKFLOWS),
        activities=[*activities.all(), *InsightActivities(store, registry=registry).all()],
        workflow_runner=workflow_runner(),
        max_cached_workflows=max_cached_workflows,
        max_concurrent_activities=max_concurrent_activities,
        # Sync activities (none today, but agent tools may gain some) need an executor.
        activity_executor=ThreadPoolExecutor(max_workers=max_concurrent_activities),
    )


def configure_tracing(environ: Mapping[str, str] | None = None) -> bool:
    """Export spans over OTLP/HTTP when `OTEL_EXPORTER_OTLP_ENDPOINT` is set; True if configured.

    The global provider becomes Temporal's replay-safe one (replaying a workflow emits no duplicate
    spans); `TracingInterceptor` and pydantic-ai's agent instrumentation (without message content, which
    can quote customers) both use it.
    """
    env = os.environ if environ is None else environ
    if not env.get(OTLP_ENDPOINT_ENV, "").strip():
        return False
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    provider = create_tracer_provider(resource=Resource.create({"service.name": "lodestar-worker"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    Agent.instrument_all(InstrumentationSettings(tracer_provider=provider, include_content=False))
    return True


@contextlib.asynccontextmanager
async def health_server(worker: Worker, host: str, port: int) -> AsyncIterator[asyncio.Server]:
    """A minimal HTTP server on `host:port`: `GET /healthz` is 200 while `worker` polls, else 503
    (before it has validated its namespace and started, and once it shuts down)."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request_line = await asyncio.wait_for(reader.readline(), timeout=5)
            while (await asyncio.wait_for(reader.readline(), timeout=5)) not in (b"\r\n", b"\n", b""):
                pass
            parts = request_line.split()
            if len(parts) < 2 or parts[0] != b"GET" or parts[1].split(b"?")[0] != b"/healthz":
                status, body = "404 Not Found", b'{"status":"not found"}'
            elif worker.is_running:
                status, body = "200 OK", b'{"status":"ok"}'
            else:
                status, body = "503 Service Unavailable", b'{"status":"not polling"}'
            writer.write(
                f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                + body
            )
            await writer.drain()
        except (TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    server = await asyncio.start_server(answer, host, port)
    try:
        yield server
    finally:
        server.close()
        await server.wait_closed()


async def run_worker(
    settings: TemporalSettings | None = None,
    *,
    graph_settings: GraphSettings | None = None,
    on_ready: Callable[[TemporalEndpoint], None] | None = None,
    stop: asyncio.Event | None = None,
    health_port: int | None = None,
    health_host: str = "0.0.0.0",  # the kubelet probes from outside the pod
) -> None:
    """Serve the task queue until `stop` is set (or the task is cancelled); see the module docstring.

    `health_port` (0 picks a free one) serves `GET /healthz` from this process while the worker runs.
    The objects alive once the worker is built are frozen out of the garbage collector's full
    collections (`freeze_startup_objects`), as the API server's are.
    """
    model_spec()  # a mistyped LODESTAR_MODEL fails before the servers are opened
    stop = stop or asyncio.Event()
    async with (
        open_graph(graph_settings) as store,
        temporal_endpoint(settings) as endpoint,
        contextlib.AsyncExitStack() as stack,
    ):
        client = await connect(endpoint)
        worker = build_worker(client, store, task_queue=endpoint.task_queue)
        freeze_startup_objects()
        async with worker:
            if health_port is not None:
                await stack.enter_async_context(health_server(worker, health_host, health_port))
            if on_ready is not None:
                on_ready(endpoint)
            await stop.wait()


def health_port_from_env(environ: Mapping[str, str] | None = None) -> int | None:
    """`LODESTAR_WORKER_HEALTH_PORT` as a port number, or None when unset or blank."""
    env = os.environ if environ is None else environ
    raw = env.get(HEALTH_PORT_ENV, "").strip()
    if not raw:
        return None
    if not raw.isdigit() or not 0 <= int(raw) <= 65535:
        raise ValueError(f"{HEALTH_PORT_ENV} must be a port number (0-65535), got {raw!r}")
    return int(raw)


def run_worker_until_stopped(
    settings: TemporalSettings | None = None,
    *,
    health_port: int | None = None,
    health_host: str = "0.0.0.0",  # the kubelet probes from outside the pod
) -> None:
    """Run a worker until SIGINT or SIGTERM; prints one `worker ready ...` line once it polls."""
    configure_tracing()

    def ready(endpoint: TemporalEndpoint) -> None:
        print(
            f"worker ready: address={endpoint.address} namespace={endpoint.namespace} "
            f"task_queue={endpoint.task_queue} pid={os.getpid()}",
            flush=True,
        )

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await run_worker(
            settings, on_ready=ready, stop=stop, health_port=health_port, health_host=health_host
        )

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())
    sys.stdout.flush()


if __name__ == "__main__":
    run_worker_until_stopped(health_port=health_port_from_env())
