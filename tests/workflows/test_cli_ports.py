"""`lodestar serve` and `lodestar demo` take their port before anything else: a taken default port gives
way to a free one, a taken port asked for explicitly ends the command at once with a one-line error
naming a free port."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import re
import signal
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest

from graph.local_db import LocalGraphDatabase
from lodestar.cli import DEFAULT_PORT
from workflows.local_temporal import LocalTemporalServer

from .support import cli_environment, start_cli

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

URL_PATTERN = re.compile(r"Lodestar API\S* \(production\) at (http://127\.0\.0\.1:(\d+)/graphql)")
START_TIMEOUT_S = 120.0


@contextlib.contextmanager
def default_port_taken() -> Iterator[None]:
    """The default port held by this test for the block (unless something else holds it already)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        try:
            holder.bind(("127.0.0.1", DEFAULT_PORT))
            holder.listen()
        except OSError as error:
            if error.errno != errno.EADDRINUSE:
                raise
        yield


@pytest.fixture
def serve_environment(
    temporal_server: LocalTemporalServer, local_graph_database: LocalGraphDatabase, tmp_path: Path
) -> dict[str, str]:
    """The session's graph and Temporal server, so that `serve` starts neither of its own."""
    environment = cli_environment(
        temporal_server.address, local_graph_database, tmp_path / "data", COLUMNS="200"
    )
    environment.pop("LODESTAR_API_MODE", None)
    return environment


@asynccontextmanager
async def lodestar(environment: dict[str, str], *args: str) -> AsyncIterator[asyncio.subprocess.Process]:
    """`lodestar ARGS` as a subprocess, stopped with SIGTERM (then SIGKILL) and waited for on exit."""
    process = await start_cli(environment, *args)
    try:
        yield process
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.communicate(), timeout=30)
            except TimeoutError:
                process.kill()
                await process.communicate()


async def served_url(process: asyncio.subprocess.Process) -> tuple[str, str]:
    """The URL the serving process prints, and everything it printed until then."""
    assert process.stdout is not None
    printed: list[str] = []
    async with asyncio.timeout(START_TIMEOUT_S):
        while line := (await process.stdout.readline()).decode(errors="replace"):
            printed.append(line)
            if match := URL_PATTERN.search(line):
                return match.group(1), "".join(printed)
    raise AssertionError(f"exited with {await process.wait()} before printing its URL:\n{''.join(printed)}")


async def test_two_servers_on_the_default_port_both_come_up(serve_environment: dict[str, str]) -> None:
    with default_port_taken():
        async with (
            lodestar(serve_environment, "serve") as first,
            lodestar(serve_environment, "serve") as second,
        ):
            (first_url, first_output), (second_url, second_output) = await asyncio.gather(
                served_url(first), served_url(second)
            )
            assert first_url != second_url
            for url, output in ((first_url, first_output), (second_url, second_output)):
                assert f":{DEFAULT_PORT}/" not in url
                assert f"Port {DEFAULT_PORT} is in use; using port" in output
                async with httpx.AsyncClient(timeout=30) as http:
                    health = await http.get(url.removesuffix("/graphql") + "/healthz")
                assert health.status_code == 200 and health.json()["status"] == "ok"

            taken_port = first_url.rsplit(":", 1)[1].removesuffix("/graphql")
            async with lodestar(serve_environment, "serve", "--port", taken_port) as refused:
                output = (await asyncio.wait_for(refused.communicate(), timeout=60))[0].decode()
            assert refused.returncode == 1, output
            lines = output.strip().splitlines()
            assert len(lines) == 1, output
            named = re.fullmatch(
                rf"error: port {taken_port} on 127\.0\.0\.1 is already in use; pass a free one, e\.g\. --port (\d+)",
                lines[0],
            )
            assert named is not None, output
            assert named.group(1) != taken_port


async def test_demo_checks_its_port_before_running_the_analyses(serve_environment: dict[str, str]) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken_port = str(holder.getsockname()[1])
        async with lodestar(serve_environment, "demo", "--serve", "--port", taken_port) as refused:
            output = (await asyncio.wait_for(refused.communicate(), timeout=60))[0].decode()
    assert refused.returncode == 1, output
    assert output.startswith(f"error: port {taken_port} on 127.0.0.1 is already in use; pass a free one")
    assert "Demo portfolio loaded" not in output
