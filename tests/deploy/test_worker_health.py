"""The worker's health signal: `GET /healthz` on `--health-port` while the worker polls its task queue."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from graph.connection import GraphSettings
from graph.local_db import LocalGraphDatabase, free_port
from lodestar.cli import app
from workflows.local_temporal import LocalTemporalServer, TemporalEndpoint, TemporalSettings
from workflows.worker import health_port_from_env, run_worker

pytestmark = pytest.mark.integration


def _graph_settings(database: LocalGraphDatabase) -> GraphSettings:
    user, password = database.auth
    return GraphSettings.model_validate(
        {"uri": database.uri, "user": user, "password": password, "database": database.database}
    )


async def test_healthz_answers_while_the_worker_polls_and_stops_with_it(
    local_graph_database: LocalGraphDatabase, tmp_path: Path
) -> None:
    async with LocalTemporalServer(tmp_path / "temporal") as temporal:
        port = free_port()
        ready = asyncio.Event()
        stop = asyncio.Event()

        def on_ready(endpoint: TemporalEndpoint) -> None:
            ready.set()

        settings = TemporalSettings(address=temporal.address, task_queue="health-test")
        worker = asyncio.create_task(
            run_worker(
                settings,
                graph_settings=_graph_settings(local_graph_database),
                on_ready=on_ready,
                stop=stop,
                health_port=port,
                health_host="127.0.0.1",
            )
        )
        try:
            await asyncio.wait_for(ready.wait(), 60)
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
                # 503 until the worker has validated its namespace and started polling.
                for _ in range(300):
                    healthy = await http.get("/healthz")
                    if healthy.status_code == 200:
                        break
                    assert (healthy.status_code, healthy.json()) == (503, {"status": "not polling"})
                    await asyncio.sleep(0.1)
                assert (healthy.status_code, healthy.json()) == (200, {"status": "ok"})
                assert (await http.get("/metrics")).status_code == 404
                assert (await http.post("/healthz")).status_code == 404
        finally:
            stop.set()
            await asyncio.wait_for(worker, 60)
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", port)) != 0, "the health port outlived the worker"


def test_health_port_from_the_environment() -> None:
    assert health_port_from_env({}) is None
    assert health_port_from_env({"LODESTAR_WORKER_HEALTH_PORT": " "}) is None
    assert health_port_from_env({"LODESTAR_WORKER_HEALTH_PORT": "8081"}) == 8081
    with pytest.raises(ValueError, match="LODESTAR_WORKER_HEALTH_PORT"):
        health_port_from_env({"LODESTAR_WORKER_HEALTH_PORT": "http"})


def test_the_cli_refuses_a_bad_health_port_before_starting_anything() -> None:
    result = CliRunner().invoke(app, ["worker", "--health-port", "70000"])
    assert result.exit_code == 2
    assert "health-port" in result.output
