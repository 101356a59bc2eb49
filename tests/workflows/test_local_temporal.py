"""The local Temporal harness against the real `temporal` dev server and time-skipping test server."""

from __future__ import annotations

import asyncio
import fcntl
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio import activity, workflow
from temporalio.api.enums.v1 import EventType
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker

from workflows.local_temporal import (
    LocalTemporalServer,
    TemporalDataDirLockedError,
    TemporalEndpoint,
    TemporalServerStartError,
    TemporalSettings,
    default_temporal_data_dir,
    temporal_cli_path,
    temporal_endpoint,
    temporal_test_server_path,
    time_skipping_env,
)

pytestmark = pytest.mark.integration


@activity.defn
async def greet(name: str) -> str:
    return f"hello {name}"


@workflow.defn
class GreetWorkflow:
    @workflow.run
    async def run(self, name: str) -> str:
        return await workflow.execute_activity(greet, name, start_to_close_timeout=timedelta(seconds=30))


@workflow.defn
class SleepOneHourWorkflow:
    @workflow.run
    async def run(self) -> float:
        started = workflow.now()
        await workflow.sleep(timedelta(hours=1))
        return (workflow.now() - started).total_seconds()


def _fresh_task_queue() -> str:
    return f"test-{uuid.uuid4()}"


async def _run_greeting(client: Client, name: str) -> str:
    task_queue = _fresh_task_queue()
    workflow_id = f"greet-{uuid.uuid4()}"
    async with Worker(client, task_queue=task_queue, workflows=[GreetWorkflow], activities=[greet]):
        result = await client.execute_workflow(GreetWorkflow.run, name, id=workflow_id, task_queue=task_queue)
    assert result == f"hello {name}"
    return workflow_id


async def _describe_namespace(client: Client, namespace: str) -> None:
    await client.workflow_service.describe_namespace(DescribeNamespaceRequest(namespace=namespace))


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _port_accepts_connections(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _lock_is_free(lock_path: Path) -> bool:
    with lock_path.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        fcntl.flock(handle, fcntl.LOCK_UN)
        return True


@pytest.fixture
def occupied_port() -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield int(listener.getsockname()[1])


def test_binaries_come_from_this_interpreters_scripts_dir() -> None:
    import sysconfig

    scripts = Path(sysconfig.get_path("scripts")).resolve()
    assert temporal_cli_path().parent == scripts
    assert temporal_test_server_path().parent == scripts
    assert os.access(temporal_cli_path(), os.X_OK)


def test_settings_from_env_defaults_and_overrides(tmp_path: Path) -> None:
    assert TemporalSettings.from_env({}) == TemporalSettings(None, "default", "lodestar")
    assert TemporalSettings.from_env({"TEMPORAL_ADDRESS": "  "}).address is None
    configured = TemporalSettings.from_env(
        {"TEMPORAL_ADDRESS": "temporal:7233", "TEMPORAL_NAMESPACE": "prod", "LODESTAR_TASK_QUEUE": "q1"}
    )
    assert configured == TemporalSettings("temporal:7233", "prod", "q1")
    assert default_temporal_data_dir({"LODESTAR_DATA_DIR": str(tmp_path)}) == tmp_path / "temporal"
    assert default_temporal_data_dir({}) == Path.cwd() / ".lodestar" / "temporal"


async def test_start_serve_and_stop_leaves_no_process(tmp_path: Path) -> None:
    server = LocalTemporalServer(tmp_path / "temporal")
    async with server:
        pid = server.pid
        assert pid is not None and _process_exists(pid)
        assert server.address == f"127.0.0.1:{server.port}"
        assert server.db_path == tmp_path / "temporal" / "temporal.sqlite"
        assert not _lock_is_free(server.lock_path)
        client = await server.endpoint().connect()
        await _run_greeting(client, "world")
        port = server.port
    assert not server.running
    assert not _process_exists(pid)
    assert not _port_accepts_connections(port)
    assert _lock_is_free(server.lock_path)
    assert server.db_path.is_file()
    await server.stop()  # a second stop is harmless


_FORGETFUL_PROGRAM = """
import asyncio, sys
from pathlib import Path
from workflows.local_temporal import LocalTemporalServer

async def main() -> None:
    server = LocalTemporalServer(Path(sys.argv[1]))
    await server.start()
    print(server.pid, flush=True)

asyncio.run(main())
"""


def test_a_server_the_program_forgot_to_stop_is_killed_at_exit(tmp_path: Path) -> None:
    finished = subprocess.run(
        [sys.executable, "-c", _FORGETFUL_PROGRAM, str(tmp_path / "temporal")],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    server_pid = int(finished.stdout.strip())
    # The child reaped nothing it did not start, so a vanished pid means the atexit hook killed it.
    assert not _process_exists(server_pid)
    assert _lock_is_free(tmp_path / "temporal" / "temporal.sqlite.lock")


async def test_completed_workflow_survives_a_restart_on_the_same_sqlite_file(tmp_path: Path) -> None:
    data_dir = tmp_path / "temporal"
    async with LocalTemporalServer(data_dir) as first:
        workflow_id = await _run_greeting(await first.endpoint().connect(), "persisted")
    async with LocalTemporalServer(data_dir) as second:
        client = await second.endpoint().connect()
        handle = client.get_workflow_handle(workflow_id)
        assert (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED
        assert await handle.result() == "hello persisted"
        event_types = [event.event_type async for event in handle.fetch_history_events()]
    assert event_types[0] == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED
    assert EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED in event_types
    assert event_types[-1] == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED


async def test_two_servers_run_side_by_side_with_separate_state(tmp_path: Path) -> None:
    server_a = LocalTemporalServer(tmp_path / "a")
    server_b = LocalTemporalServer(tmp_path / "b", namespaces=["extra"])
    await asyncio.gather(server_a.start(), server_b.start())
    try:
        assert server_a.port != server_b.port
        client_a = await server_a.endpoint().connect()
        client_b = await server_b.endpoint().connect()
        workflow_id = await _run_greeting(client_a, "a")
        await _describe_namespace(client_b, "default")
        with pytest.raises(RPCError) as unknown:
            await client_b.get_workflow_handle(workflow_id).describe()
        assert unknown.value.status == RPCStatusCode.NOT_FOUND
        await _describe_namespace(await server_b.endpoint(namespace="extra").connect(), "extra")
        with pytest.raises(RPCError) as missing_namespace:
            await _describe_namespace(client_a, "extra")
        assert missing_namespace.value.status == RPCStatusCode.NOT_FOUND
    finally:
        await asyncio.gather(server_a.stop(), server_b.stop())
    assert not server_a.running and not server_b.running


async def test_a_second_server_on_a_locked_sqlite_file_is_refused(tmp_path: Path) -> None:
    data_dir = tmp_path / "temporal"
    async with LocalTemporalServer(data_dir) as owner:
        intruder = LocalTemporalServer(data_dir)
        with pytest.raises(TemporalDataDirLockedError, match=f"temporal pid {owner.pid}"):
            await intruder.start()
        assert intruder.pid is None
        await _describe_namespace(await owner.endpoint().connect(), "default")
    async with intruder:
        await _describe_namespace(await intruder.endpoint().connect(), "default")


async def test_a_failed_start_reports_the_log_tail_and_releases_the_lock(
    tmp_path: Path, occupied_port: int
) -> None:
    data_dir = tmp_path / "temporal"
    blocked = LocalTemporalServer(data_dir, port=occupied_port, startup_timeout=20)
    with pytest.raises(TemporalServerStartError, match="address already in use") as failure:
        await blocked.start()
    assert "temporal-server.log" in str(failure.value)
    assert blocked.pid is None
    assert _lock_is_free(data_dir / "temporal.sqlite.lock")


async def test_endpoint_uses_the_configured_address_without_starting_a_server(tmp_path: Path) -> None:
    async with LocalTemporalServer(tmp_path / "real") as server:
        settings = TemporalSettings(address=server.address, task_queue="configured")
        unused_dir = tmp_path / "unused"
        async with temporal_endpoint(settings, data_dir=unused_dir) as endpoint:
            assert endpoint == TemporalEndpoint(server.address, "default", "configured")
            await _describe_namespace(await endpoint.connect(), "default")
        assert not unused_dir.exists()


async def test_endpoint_starts_a_local_server_for_the_block(tmp_path: Path) -> None:
    settings = TemporalSettings(address=None, namespace="lodestar-test", task_queue=_fresh_task_queue())
    async with temporal_endpoint(settings, data_dir=tmp_path / "temporal") as endpoint:
        assert endpoint.namespace == "lodestar-test"
        client = await endpoint.connect()
        assert client.namespace == "lodestar-test"
        await _run_greeting(client, "local")
        port = int(endpoint.address.rsplit(":", 1)[1])
    assert not _port_accepts_connections(port)
    assert (tmp_path / "temporal" / "temporal.sqlite").is_file()


async def test_time_skipping_env_completes_a_one_hour_sleep_at_once() -> None:
    async with time_skipping_env() as env:
        task_queue = _fresh_task_queue()
        async with Worker(env.client, task_queue=task_queue, workflows=[SleepOneHourWorkflow]):
            wall_start = time.monotonic()
            workflow_seconds = await env.client.execute_workflow(
                SleepOneHourWorkflow.run, id=f"sleep-{uuid.uuid4()}", task_queue=task_queue
            )
            wall_seconds = time.monotonic() - wall_start
    assert workflow_seconds >= 3600
    assert wall_seconds < 10
