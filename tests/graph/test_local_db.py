"""The local ArcadeDB harness: real server processes, real ports, real passwords."""

from __future__ import annotations

import fcntl
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import neo4j
import pytest
from neo4j.exceptions import AuthError
from pydantic import SecretStr

from graph.connection import GraphSettings, open_graph
from graph.local_db import (
    DataDirectoryLockedError,
    LocalGraphDatabase,
    LocalGraphDatabaseError,
    default_data_dir,
)
from tests.conftest import build_tiny_portfolio


def answers(database: LocalGraphDatabase, auth: tuple[str, str] | None = None) -> int:
    with (
        neo4j.GraphDatabase.driver(database.uri, auth=auth or database.auth) as driver,
        driver.session(database=database.database) as session,
    ):
        record = session.run("RETURN 1 AS one").single(strict=True)
        return int(record["one"])


def processes_using(data_dir: Path) -> list[int]:
    """Pids of live processes whose command line names `data_dir` (the server's argument file does)."""
    found: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
            state = next(
                line.split()[1]
                for line in (entry / "status").read_text().splitlines()
                if line.startswith("State:")
            )
        except (OSError, StopIteration):
            continue
        if str(data_dir) in cmdline and state != "Z":
            found.append(int(entry.name))
    return found


@pytest.mark.integration
def test_the_password_is_private_and_not_on_the_command_line(
    local_graph_database: LocalGraphDatabase,
) -> None:
    password_file = local_graph_database.data_dir / "password"
    assert stat.S_IMODE(password_file.stat().st_mode) == 0o600
    password = local_graph_database.auth[1]
    assert len(password) >= 32 and password_file.read_text().strip() == password
    cmdline = Path(f"/proc/{local_graph_database.pid}/cmdline").read_bytes().decode()
    assert password not in cmdline


@pytest.mark.integration
def test_a_wrong_password_is_rejected(local_graph_database: LocalGraphDatabase) -> None:
    with pytest.raises(AuthError):
        answers(local_graph_database, auth=("neo4j", "not-the-password"))


@pytest.mark.integration
def test_two_instances_at_once_get_their_own_ports_and_a_stop_leaves_no_process(
    local_graph_database: LocalGraphDatabase, tmp_path: Path
) -> None:
    first, second = local_graph_database, LocalGraphDatabase(tmp_path / "second")
    second.start()
    try:
        pid = second.pid
        assert pid is not None and second.running
        assert first.bolt_port is not None and second.bolt_port is not None
        assert {first.bolt_port, first.http_port}.isdisjoint({second.bolt_port, second.http_port})
        assert answers(first) == 1 and answers(second) == 1
        assert first.auth[1] != second.auth[1]
        with pytest.raises(AuthError):
            answers(second, auth=first.auth)
    finally:
        second.stop()
    assert not second.running
    assert processes_using(second.data_dir) == []
    assert not Path(f"/proc/{pid}").exists()
    second.stop()  # a second stop is harmless
    assert answers(first) == 1


@pytest.mark.integration
def test_a_data_directory_in_use_is_refused_with_the_owner_named(
    local_graph_database: LocalGraphDatabase,
) -> None:
    intruder = LocalGraphDatabase(local_graph_database.data_dir)
    with pytest.raises(
        DataDirectoryLockedError, match=rf"in use by another live Lodestar process \(pid {os.getpid()}\)"
    ):
        intruder.start()
    assert not intruder.running
    assert answers(local_graph_database) == 1  # the owner is undisturbed


@pytest.mark.integration
def test_a_server_orphaned_by_a_killed_owner_is_stopped_and_its_data_kept(tmp_path: Path) -> None:
    """A server that outlived its owner (one started without the parent-death signal, as on another
    system or by an older Lodestar) is found by the next start and stopped."""
    data_dir = tmp_path / "graph"
    script = textwrap.dedent(
        f"""
        import subprocess
        import time
        from pathlib import Path
        import neo4j
        import graph.local_db
        from graph.local_db import LocalGraphDatabase
        graph.local_db.spawn_bound_to_this_process = (
            lambda command, **options: subprocess.Popen(command, start_new_session=True, **options)
        )
        database = LocalGraphDatabase(Path({str(data_dir)!r})).start()
        with neo4j.GraphDatabase.driver(database.uri, auth=database.auth) as driver:
            driver.execute_query("CREATE (:Product {{id: 'kept', name: 'Kept'}})", database_="neo4j")
        print(database.pid, flush=True)
        time.sleep(600)
        """
    )
    repository = Path(__file__).resolve().parents[2]
    with subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=repository
    ) as owner:
        try:
            assert owner.stdout is not None
            orphan_pid = int(owner.stdout.readline())
            owner.kill()  # SIGKILL: no atexit, no stop(); the unbound server runs on in its own session
            owner.wait()
            assert processes_using(data_dir) == [orphan_pid]

            password = (data_dir / "password").read_text().strip()
            with LocalGraphDatabase(data_dir) as successor:
                assert orphan_pid not in processes_using(data_dir)
                # The same data directory: the password generated once, and the data, are kept.
                assert successor.auth[1] == password
                with neo4j.GraphDatabase.driver(successor.uri, auth=successor.auth) as driver:
                    records, _, _ = driver.execute_query(
                        "MATCH (p:Product) RETURN p.id AS id", database_="neo4j"
                    )
                assert [record["id"] for record in records] == ["kept"]
            assert processes_using(data_dir) == []
        finally:
            owner.kill()
            for pid in processes_using(data_dir):  # only if the test failed before the successor's start
                os.killpg(pid, signal.SIGKILL)


@pytest.mark.integration
def test_a_failed_start_reports_the_server_log_and_releases_the_directory(tmp_path: Path) -> None:
    database = LocalGraphDatabase(tmp_path / "graph", heap="not-a-size", startup_timeout=60)
    started = time.monotonic()
    with pytest.raises(
        LocalGraphDatabaseError, match=r"exited with code \d+ during start-up(.|\n)*heap size"
    ):
        database.start()
    assert time.monotonic() - started < 30
    assert not database.running
    with (database.data_dir / "server.lock").open("a") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)  # free again: raises if still held


def test_the_default_data_directory_follows_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("LODESTAR_DATA_DIR", str(tmp_path / "project"))
    assert default_data_dir() == tmp_path / "project" / "graph"
    monkeypatch.delenv("LODESTAR_DATA_DIR")
    monkeypatch.chdir(tmp_path)
    assert default_data_dir() == tmp_path / ".lodestar" / "graph"


def test_graph_settings_from_the_environment() -> None:
    settings = GraphSettings.from_env(
        {"NEO4J_URI": "neo4j://db.example:7687", "NEO4J_PASSWORD": "s3cret", "NEO4J_DATABASE": "portfolio"}
    )
    assert (settings.uri, settings.user, settings.database) == (
        "neo4j://db.example:7687",
        "neo4j",
        "portfolio",
    )
    assert settings.password is not None and settings.password.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(settings)
    assert GraphSettings.from_env({"NEO4J_URI": ""}) == GraphSettings()  # unset: a local database


@pytest.mark.integration
async def test_open_graph_uses_a_configured_server(local_graph_database: LocalGraphDatabase) -> None:
    user, password = local_graph_database.auth
    settings = GraphSettings(uri=local_graph_database.uri, user=user, password=SecretStr(password))
    async with open_graph(settings) as store:
        assert "feature_id_unique" in await store.schema_names()
        assert (await store.counts())["Feature"] >= 0


@pytest.mark.integration
async def test_open_graph_starts_and_stops_a_local_database(tmp_path: Path) -> None:
    async with open_graph(GraphSettings(), data_dir=tmp_path / "graph") as store:
        assert {"feature_id_unique", "customer_segment"} <= await store.schema_names()
        await store.import_portfolio(build_tiny_portfolio())
        assert (await store.counts())["REQUESTS"] == 5
        assert len(processes_using(tmp_path / "graph")) == 1
    assert processes_using(tmp_path / "graph") == []
