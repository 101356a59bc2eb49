"""Running the API: open the graph and Temporal, build the services and serve them with uvicorn.

`lodestar serve` calls `serve()`. The graph is `NEO4J_URI` or the local database; Temporal is
`TEMPORAL_ADDRESS`/`TEMPORAL_NAMESPACE` or a local dev server (see `workflows.local_temporal`). With
`with_worker=True` a Temporal worker runs in the same process and event loop: the local default,
where one process serves the API and does the work.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager

import uvicorn
from starlette.types import ASGIApp

from agents.model_config import model_spec
from api.app import create_app
from api.auth import ApiKeyAuthenticator
from api.context import ApiServices
from api.result_reader import ResultReader
from api.settings import ApiSettings
from api.telemetry import configure_tracing, record_graph_query
from graph.connection import GraphSettings, open_graph
from graph.entity_reads import EntityReads
from graph.processes import freeze_startup_objects
from graph.store import GraphStore
from workflows.client import connect
from workflows.local_temporal import TemporalSettings, temporal_endpoint
from workflows.worker import build_worker

logger = logging.getLogger("lodestar.api")


async def services_for(store: GraphStore, settings: ApiSettings, **extra: object) -> ApiServices:
    """Services on an open graph (the API-key constraint is created if missing)."""
    queries = EntityReads(store.driver, store.database)
    await queries.ensure_schema()
    return ApiServices(
        queries=queries,
        store=store,
        settings=settings,
        authenticator=ApiKeyAuthenticator(
            queries,
            cache_seconds=settings.api_key_cache_s,
            outage_grace_seconds=settings.api_key_outage_grace_s,
            max_entries=settings.api_key_cache_size,
        ),
        results=ResultReader(store, queries),
        **extra,  # pyright: ignore[reportArgumentType]
    )


@asynccontextmanager
async def open_services(
    settings: ApiSettings,
    *,
    graph_settings: GraphSettings | None = None,
    temporal_settings: TemporalSettings | None = None,
    with_worker: bool = False,
) -> AsyncIterator[ApiServices]:
    async with AsyncExitStack() as stack:
        store = await stack.enter_async_context(open_graph(graph_settings))
        endpoint = await stack.enter_async_context(temporal_endpoint(temporal_settings))
        client = await connect(endpoint)
        services = await services_for(store, settings, temporal=client, task_queue=endpoint.task_queue)
        if with_worker:
            # The worker's own store reports each statement as a span, so traces reach the graph.
            worker_store = GraphStore(store.driver, store.database, query_observer=record_graph_query)
            await stack.enter_async_context(
                build_worker(client, worker_store, task_queue=endpoint.task_queue)
            )
            logger.info("worker polling task queue %s at %s", endpoint.task_queue, endpoint.address)
        yield services


@asynccontextmanager
async def running_server(
    app: ASGIApp,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    log_level: str = "warning",
    keep_alive_s: float = ApiSettings.model_fields["keep_alive_s"].default,
) -> AsyncIterator[str]:
    """Serve `app` with uvicorn in this event loop; yields the base URL (port 0 picks a free port)."""
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        lifespan="off",
        log_level=log_level,
        access_log=False,
        ws_ping_interval=None,
        timeout_keep_alive=round(keep_alive_s),
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("uvicorn stopped before it started")
            await asyncio.sleep(0.01)
        bound = server.servers[0].sockets[0].getsockname()
        yield f"http://{bound[0]}:{bound[1]}"
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await task


class PortInUseError(OSError):
    """The port asked for is taken; `free_port` is one that was free when this was raised."""

    def __init__(self, host: str, port: int, free_port: int) -> None:
        super().__init__(errno.EADDRINUSE, f"port {port} on {host} is already in use")
        self.host = host
        self.port = port
        self.free_port = free_port


def _listening_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        # As uvicorn binds: a port left in TIME_WAIT by a stopped server is reusable, a listening one is not.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except BaseException:
        sock.close()
        raise
    return sock


def reserve_port(host: str, port: int, *, fall_back: bool) -> socket.socket:
    """A socket listening on `host:port`, held until the server takes it over, so nothing can take the
    port in between (e.g. while `lodestar demo` runs its analyses).

    When the port is taken: with `fall_back`, a socket on a free port instead; otherwise
    `PortInUseError` naming a free port. Other failures (a host that is not local) raise as they are.
    """
    try:
        return _listening_socket(host, port)
    except OSError as error:
        if error.errno != errno.EADDRINUSE:
            raise
    free = _listening_socket(host, 0)
    if fall_back:
        return free
    free_port = int(free.getsockname()[1])
    free.close()
    raise PortInUseError(host, port, free_port)


def socket_url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://{f'[{host}]' if ':' in host else host}:{port}/graphql"


async def serve(
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    sock: socket.socket | None = None,
    settings: ApiSettings | None = None,
    with_worker: bool = False,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Run the API until interrupted (uvicorn handles SIGINT/SIGTERM).

    On `sock` (from `reserve_port`) when given, else on `host:port`, bound before the graph and
    Temporal are opened so that a taken port fails at once.
    """
    settings = settings or ApiSettings.from_env()
    model_spec()  # a mistyped LODESTAR_MODEL fails the start-up, not each run the API starts
    configure_tracing(development=settings.development)
    listening = sock if sock is not None else reserve_port(host, port, fall_back=False)
    with listening:
        async with open_services(settings, with_worker=with_worker) as services:
            config = uvicorn.Config(
                create_app(services),
                lifespan="off",
                log_level="info",
                access_log=False,
                timeout_keep_alive=round(settings.keep_alive_s),
            )
            server = uvicorn.Server(config)
            logger.info("froze %d start-up objects", freeze_startup_objects())
            if on_ready is not None:
                on_ready(socket_url(listening))
            await server.serve(sockets=[listening])
