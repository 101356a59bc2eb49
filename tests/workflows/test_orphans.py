"""A local Temporal dev server never outlives the process that started it, and one that did anyway
(started without the parent-death signal) is found by the next start and stopped."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from graph.processes import pid_alive
from tests.graph.test_local_db import processes_using
from workflows.local_temporal import LocalTemporalServer, TemporalDataDirLockedError

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]


def owner_script(data_dir: Path, *, bound: bool) -> str:
    """A program that starts a server on `data_dir`, prints its pid, and waits to be killed."""
    unbind = (
        ""
        if bound
        else textwrap.dedent(
            """
            import subprocess
            import workflows.local_temporal
            workflows.local_temporal.spawn_bound_to_this_process = (
                lambda command, **options: subprocess.Popen(command, start_new_session=True, **options)
            )
            """
        )
    )
    return unbind + textwrap.dedent(
        f"""
        import asyncio, time
        from pathlib import Path
        from workflows.local_temporal import LocalTemporalServer

        async def main() -> None:
            server = LocalTemporalServer(Path({str(data_dir)!r}))
            await server.start()
            print(server.pid, flush=True)
            time.sleep(600)

        asyncio.run(main())
        """
    )


def start_owner(data_dir: Path, *, bound: bool) -> tuple[subprocess.Popen[str], int]:
    owner = subprocess.Popen(
        [sys.executable, "-c", owner_script(data_dir, bound=bound)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO_ROOT,
    )
    assert owner.stdout is not None
    line = owner.stdout.readline()
    assert line.strip().isdigit(), f"the owner did not start a server (exit code {owner.poll()})"
    return owner, int(line)


def wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while pid_alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def cleanup(owner: subprocess.Popen[str], data_dir: Path) -> None:
    owner.kill()
    owner.wait()
    if owner.stdout is not None:
        owner.stdout.close()
    for pid in processes_using(data_dir):  # only if a test failed: leave nothing behind
        os.killpg(pid, signal.SIGKILL)


async def test_kill_9_of_the_owner_takes_its_server_along(tmp_path: Path) -> None:
    data_dir = tmp_path / "temporal"
    owner, server_pid = start_owner(data_dir, bound=True)
    try:
        os.kill(owner.pid, signal.SIGKILL)
        owner.wait()
        assert wait_gone(server_pid, 5), "the dev server outlived its killed owner"
        assert processes_using(data_dir) == []
        async with LocalTemporalServer(data_dir) as successor:
            assert successor.running
    finally:
        cleanup(owner, data_dir)


async def test_a_server_that_outlived_its_owner_is_stopped_by_the_next_start(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data_dir = tmp_path / "temporal"
    owner, server_pid = start_owner(data_dir, bound=False)
    try:
        os.kill(owner.pid, signal.SIGKILL)
        owner.wait()
        await asyncio.sleep(0.5)
        assert pid_alive(server_pid), "the unbound server should have survived its owner"
        with caplog.at_level(logging.WARNING, logger="workflows.local_temporal"):
            async with LocalTemporalServer(data_dir) as successor:
                assert successor.running and successor.pid != server_pid
                assert not pid_alive(server_pid)
        messages = [record.getMessage() for record in caplog.records]
        assert messages == [
            f"stopping the Temporal dev server (pid {server_pid}) left running on "
            f"{data_dir.resolve() / 'temporal.sqlite'} by a process that died"
        ]
        assert processes_using(data_dir) == []
    finally:
        cleanup(owner, data_dir)


async def test_a_server_whose_owner_lives_is_not_touched(tmp_path: Path) -> None:
    data_dir = tmp_path / "temporal"
    owner, server_pid = start_owner(data_dir, bound=True)
    try:
        with pytest.raises(
            TemporalDataDirLockedError, match=f"python pid {owner.pid}, temporal pid {server_pid}"
        ):
            await LocalTemporalServer(data_dir).start()
        assert pid_alive(server_pid)
    finally:
        cleanup(owner, data_dir)
    assert wait_gone(server_pid, 5)


async def test_a_database_whose_creation_was_killed_is_created_afresh(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # What a server killed while creating its schema leaves: a SQLite file without Temporal's tables.
    data_dir = tmp_path / "temporal"
    data_dir.mkdir()
    with contextlib.closing(sqlite3.connect(data_dir / "temporal.sqlite")) as half_created:
        half_created.execute("CREATE TABLE schema_version (version TEXT)")
        half_created.commit()
    (data_dir / "temporal.sqlite.creating").touch()
    with caplog.at_level(logging.WARNING, logger="workflows.local_temporal"):
        async with LocalTemporalServer(data_dir) as server:
            assert server.running
    assert [record.getMessage() for record in caplog.records] == [
        f"removing {data_dir.resolve() / 'temporal.sqlite'}: the server creating it was stopped before it was ready"
    ]
    assert not (data_dir / "temporal.sqlite.creating").exists()
    assert (data_dir / "temporal.sqlite").exists()
