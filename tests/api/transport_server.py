"""The API on uvicorn in a process of its own, for tests that measure the server (memory, latency).

`python -m tests.api.transport_server` connects to the graph in `NEO4J_URI` (with `NEO4J_USER`,
`NEO4J_PASSWORD`, `NEO4J_DATABASE`), reads `LODESTAR_API_*`, serves on a free loopback port, prints
`READY <base url>` on stdout and runs until SIGTERM or SIGINT. No Temporal: run fields say so.
"""

from __future__ import annotations

import asyncio
import signal

from api.app import create_app
from api.server import running_server, services_for
from api.settings import ApiSettings
from graph.connection import GraphSettings, open_graph


async def main() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    graph_settings = GraphSettings.from_env()
    assert graph_settings.uri, "NEO4J_URI must name the test graph"
    async with open_graph(graph_settings) as store:
        services = await services_for(store, ApiSettings.from_env())
        async with running_server(create_app(services)) as base_url:
            print(f"READY {base_url}", flush=True)
            await stop.wait()


if __name__ == "__main__":
    asyncio.run(main())
