"""`kill -9` of Lodestar commands on the real servers: no server outlives `lodestar demo`, and an
import killed part-way leaves readers the previous portfolio, is reported by `lodestar summary` and
rolled back by the next import, which completes."""

from __future__ import annotations

import asyncio
import fcntl
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import date
from pathlib import Path

import pytest

from graph.demo import generate_portfolio
from graph.import_recovery import RecoveryOutcome
from graph.local_db import LocalGraphDatabase
from graph.portfolio_files import dump_json
from graph.store import GraphStore, normalise_portfolio
from graph.vocabulary import RelType
from tests.graph.test_local_db import processes_using
from tests.graph.test_staged_import import clean_import_counts, portfolio_part, what_readers_see
from workflows.local_temporal import LocalTemporalServer

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]
ANCHOR = date(2026, 1, 5)
_UNSET = ("NEO4J_URI", "NEO4J_USER", "NEO4J_PASSWORD", "NEO4J_DATABASE", "TEMPORAL_ADDRESS", "LODESTAR_MODEL")


def cli_environment(**settings: str) -> dict[str, str]:
    environment = {key: value for key, value in os.environ.items() if key not in _UNSET}
    return {**environment, "COLUMNS": "160", **settings}


def graph_environment(database: LocalGraphDatabase, data_dir: Path) -> dict[str, str]:
    user, password = database.auth
    return cli_environment(
        NEO4J_URI=database.uri, NEO4J_USER=user, NEO4J_PASSWORD=password, LODESTAR_DATA_DIR=str(data_dir)
    )


def start_cli(*arguments: str, environment: Mapping[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "lodestar.cli", *arguments],
        cwd=REPO_ROOT,
        env=dict(environment),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


@asynccontextmanager
async def running_import(
    script: str, document: Path, environment: Mapping[str, str]
) -> AsyncIterator[subprocess.Popen[str]]:
    """`python -c script document` in a subprocess (output as text), killed if still running and reaped on exit."""
    importer = await asyncio.to_thread(
        subprocess.Popen,
        [sys.executable, "-c", script, str(document)],
        cwd=REPO_ROOT,
        env=dict(environment),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
    )
    try:
        yield importer
    finally:
        await kill_9(importer)
        if importer.stdout is not None:
            importer.stdout.close()


async def kill_9(process: subprocess.Popen[str]) -> None:
    """SIGKILL, then wait for the process to be gone."""
    process.kill()
    await asyncio.to_thread(process.wait)


def commands_of(pids: list[int]) -> list[str]:
    commands: list[str] = []
    for pid in pids:
        try:
            commands.append(Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode())
        except OSError:
            continue
    return commands


def wait_until(condition: object, timeout: float, what: str) -> None:
    assert callable(condition)
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.1)


def test_kill_9_of_lodestar_demo_leaves_no_server_and_the_next_start_succeeds(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    demo = start_cli(
        "demo", "--no-serve", "--trials", "100", environment=cli_environment(LODESTAR_DATA_DIR=str(data_dir))
    )
    try:

        def both_servers_run() -> bool:
            if demo.poll() is not None:
                output = demo.stdout.read().decode(errors="replace") if demo.stdout else ""
                raise AssertionError(f"lodestar demo ended before both servers ran:\n{output[-3000:]}")
            commands = commands_of(processes_using(data_dir))
            return any("ArcadeDBServer" in command for command in commands) and any(
                "start-dev" in command for command in commands
            )

        wait_until(both_servers_run, 120, "the demo's ArcadeDB and Temporal servers")
        os.kill(demo.pid, signal.SIGKILL)
        demo.wait()
        started = time.monotonic()
        wait_until(lambda: not processes_using(data_dir), 5, "the servers to die with their parent")
        assert time.monotonic() - started < 5
    finally:
        demo.kill()
        demo.wait()
        if demo.stdout is not None:
            demo.stdout.close()
        for pid in processes_using(data_dir):  # only if the test failed: leave nothing behind
            os.killpg(pid, signal.SIGKILL)

    # The next start on the same data folder finds nothing in its way.
    with LocalGraphDatabase(data_dir / "graph") as database:
        assert database.running

    async def start_temporal() -> None:
        async with LocalTemporalServer(data_dir / "temporal") as server:
            assert server.running

    asyncio.run(start_temporal())
    assert processes_using(data_dir) == []


IMPORT_SAYING_WHEN_IT_WRITES = """
import asyncio, os, sys
from pathlib import Path
import neo4j
from graph.portfolio_files import load_portfolio
from graph.store import GraphStore

def observe(query) -> None:
    if query.name.startswith("import.create_relationships."):
        print("writing relationships", flush=True)

async def main() -> None:
    auth = (os.environ["NEO4J_USER"], os.environ["NEO4J_PASSWORD"])
    async with neo4j.AsyncGraphDatabase.driver(os.environ["NEO4J_URI"], auth=auth) as driver:
        store = GraphStore(driver, query_observer=observe)
        summary = await store.import_portfolio(load_portfolio(Path(sys.argv[1])))
        print("done", summary.single_transaction, flush=True)

asyncio.run(main())
"""
"""`lodestar import` with the default store, saying when it has written nodes and starts on relationships."""


async def test_a_large_import_killed_mid_way_leaves_readers_the_previous_portfolio(
    graph_store: GraphStore, local_graph_database: LocalGraphDatabase, tmp_path: Path
) -> None:
    await graph_store.import_portfolio(generate_portfolio(seed=3, scale="small", anchor=ANCHOR))
    previous = await graph_store.portfolio_snapshot()
    previous_revision, previous_counts = await graph_store.revision(), await graph_store.counts()

    large = generate_portfolio(seed=11, scale="medium", anchor=ANCHOR)
    document = tmp_path / "medium.json"
    dump_json(large, document)
    environment = graph_environment(local_graph_database, tmp_path / "data")
    async with running_import(IMPORT_SAYING_WHEN_IT_WRITES, document, environment) as importer:
        assert importer.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(importer.stdout.readline), timeout=120)
        assert line == "writing relationships\n", line + importer.stdout.read()[-3000:]
        await asyncio.sleep(0.5)  # some relationship batches in: well inside its transaction
        assert importer.poll() is None, "the import finished before it could be killed"
        await kill_9(importer)

    # Readers see exactly the previous portfolio: the transaction never committed.
    assert await graph_store.counts() == previous_counts
    assert await graph_store.revision() == previous_revision
    assert await graph_store.interrupted_import() is None
    assert await graph_store.portfolio_snapshot() == previous

    completed = await graph_store.import_portfolio(large)
    assert completed.single_transaction and completed.revision not in (None, previous_revision)
    snapshot = await graph_store.portfolio_snapshot()
    wanted = normalise_portfolio(large)
    feature_ids, customer_ids = {f.id for f in large.features}, {c.id for c in large.customers}
    assert [f for f in snapshot.features if f.id in feature_ids] == wanted.features
    assert [r for r in snapshot.requests if r.customer_id in customer_ids] == wanted.requests


async def lodestar_summary(environment: Mapping[str, str]) -> tuple[int, str]:
    finished = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "lodestar.cli", "summary"],
        cwd=REPO_ROOT,
        env=dict(environment),
        capture_output=True,
        text=True,
        timeout=120,
    )
    return finished.returncode, " ".join((finished.stdout + finished.stderr).split())


@pytest.mark.timeout(600)  # a subprocess import, two summaries, a clean re-import: slow on a busy machine
async def test_kill_9_of_a_staged_import_leaves_readers_the_previous_portfolio_and_the_next_completes(
    graph_store: GraphStore, local_graph_database: LocalGraphDatabase, tmp_path: Path
) -> None:
    previous_portfolio = generate_portfolio(seed=3, scale="small", anchor=ANCHOR)
    await graph_store.import_portfolio(previous_portfolio)
    previous, previous_revision = await what_readers_see(graph_store), await graph_store.revision()

    larger = generate_portfolio(seed=11, scale="small", anchor=ANCHOR)
    document = tmp_path / "larger.json"
    dump_json(larger, document)
    # A large import in miniature: a few thousand rows, staged in transactions of 3.
    environment = {
        **graph_environment(local_graph_database, tmp_path / "data"),
        "LODESTAR_IMPORT_SINGLE_TRANSACTION_ROWS": "100",
        "LODESTAR_IMPORT_BATCH_SIZE": "3",
    }
    importer = start_cli("import", str(document), environment=environment)
    try:
        deadline = time.monotonic() + 120
        while True:
            if importer.poll() is not None:
                output = importer.stdout.read().decode(errors="replace") if importer.stdout else ""
                raise AssertionError(f"the import ended before it could be killed:\n{output[-3000:]}")
            pending = await graph_store.interrupted_import()
            stored = await graph_store.physical_counts()
            if (
                pending is not None
                and stored[RelType.REQUESTS.value] > previous["counts"][RelType.REQUESTS.value]
            ):
                break  # it has staged new nodes and is writing relationships
            assert time.monotonic() < deadline, "the import never staged a batch of relationships"
            await asyncio.sleep(0.05)
        seen_while_writing = await what_readers_see(graph_store)
        assert await graph_store.interrupted_import() == pending, (
            "it committed while being read: use more rows"
        )
        assert seen_while_writing == previous
        os.kill(importer.pid, signal.SIGKILL)
        await asyncio.to_thread(importer.wait)
    finally:
        importer.kill()
        importer.wait()
        if importer.stdout is not None:
            importer.stdout.close()

    assert await what_readers_see(graph_store) == previous  # and after the kill
    assert await graph_store.revision() == previous_revision
    assert await graph_store.physical_counts() != portfolio_part(previous["counts"], stored)
    interrupted = await graph_store.interrupted_import()
    assert interrupted is not None and interrupted == pending and interrupted.rows > 3_000
    code, output = await lodestar_summary(environment)
    assert code == 0 and "Traceback" not in output, output
    assert (
        f"An import of {interrupted.rows} rows (revision {interrupted.import_id}) started at {interrupted.since} "
        "has not committed" in output
    )

    completed = await graph_store.import_portfolio(larger)
    assert completed.finished_interrupted_import == interrupted.import_id
    assert completed.interrupted_import_outcome == RecoveryOutcome.ROLLED_BACK
    assert completed.revision not in (None, previous_revision)
    assert await graph_store.interrupted_import() is None
    snapshot = await graph_store.portfolio_snapshot()
    wanted = normalise_portfolio(larger)
    feature_ids, customer_ids = {f.id for f in larger.features}, {c.id for c in larger.customers}
    # The document's entities are exactly as it states; the previous portfolio's others are kept.
    assert [c for c in snapshot.customers if c.id in customer_ids] == wanted.customers
    assert [r for r in snapshot.requests if r.customer_id in customer_ids] == wanted.requests
    assert [f for f in snapshot.features if f.id in feature_ids] == wanted.features
    code, output = await lodestar_summary(environment)
    assert code == 0, output
    assert f"An interrupted import of revision {interrupted.import_id} ({interrupted.rows} rows" in output
    assert "was rolled back at" in output

    stored = await graph_store.physical_counts()
    assert stored == portfolio_part(await graph_store.counts(), stored)  # no residue
    assert stored == await clean_import_counts(graph_store, previous_portfolio, larger)


def test_a_data_folder_in_use_is_one_line_and_exit_1_not_a_traceback(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    (data_dir / "graph").mkdir(parents=True)
    with (data_dir / "graph" / "server.lock").open("a+") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        lock.write(f"{os.getpid()}\n")
        lock.flush()
        finished = subprocess.run(
            [sys.executable, "-m", "lodestar.cli", "summary"],
            cwd=REPO_ROOT,
            env=cli_environment(LODESTAR_DATA_DIR=str(data_dir)),
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert finished.returncode == 1
    assert finished.stdout == ""
    assert finished.stderr.splitlines() == [
        f"error: the graph data directory {(data_dir / 'graph').resolve()} is in use by another live Lodestar "
        f"process (pid {os.getpid()}); stop it, or give this run its own directory via LODESTAR_DATA_DIR or data_dir="
    ]
