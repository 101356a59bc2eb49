"""Importers in several processes (API replicas, the CLI) on the real database: the lease on the staging
markers keeps each staged import all-or-nothing (issue #16).

"The other replica" is a second `GraphStore` on a driver of its own, importing in a thread with its own
event loop, paused at a chosen transaction by its query observer; a marker of a foreign host is made by
rewriting the lease on the revision node."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import subprocess
import sys
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import neo4j
import pytest

from api.auth import ApiKeyAuthenticator, Principal, Role
from api.context import ApiServices, Loaders, RequestContext
from api.result_reader import ResultReader
from api.schema import build_schema
from api.settings import ApiMode, ApiSettings
from graph.cypher import Query
from graph.demo import generate_portfolio
from graph.entity_reads import EntityReads
from graph.import_recovery import (
    ImportInProgressError,
    ImportSupersededError,
    LeasedImport,
    RecoveryOutcome,
    RevisionState,
    is_stale,
    process_start_time,
)
from graph.local_db import LocalGraphDatabase
from graph.portfolio import Portfolio
from graph.portfolio_files import dump_json
from graph.store import GraphStore, ImportSummary, normalise_portfolio
from graph.vocabulary import PORTFOLIO_REVISION_LABEL
from lodestar import render
from tests.conftest import build_tiny_portfolio
from tests.graph.test_kill_safety import REPO_ROOT, graph_environment
from tests.graph.test_staged_import import FailAt, staged_store

pytestmark = pytest.mark.integration

ANCHOR = date(2026, 1, 5)
FOREIGN_OWNER = "another-host.example:4242"


class PauseAt:
    """A query observer that, before the `at`-th statement named `name`, signals `reached` and blocks
    its thread until `resume` is set (the importer runs in a thread of its own)."""

    def __init__(self, name: str, at: int) -> None:
        self.name, self.at, self.seen = name, at, 0
        self.reached, self.resume = threading.Event(), threading.Event()

    def __call__(self, query: Query) -> None:
        if query.name == self.name:
            self.seen += 1
            if self.seen == self.at:
                self.reached.set()
                if not self.resume.wait(60):
                    raise RuntimeError("never resumed")


@asynccontextmanager
async def replica_importing(
    database: LocalGraphDatabase, portfolio: Portfolio, pause: PauseAt
) -> AsyncIterator[asyncio.Future[ImportSummary]]:
    """The other replica: a staged import (batches of 100 rows) on its own driver and event loop, in a
    thread; yields once it is paused, and resumes it and waits for it on the way out."""

    def run() -> ImportSummary:
        async def main() -> ImportSummary:
            async with neo4j.AsyncGraphDatabase.driver(database.uri, auth=database.auth) as driver:
                store = GraphStore(
                    driver,
                    database.database,
                    batch_size=100,
                    single_transaction_rows=0,
                    query_observer=pause,
                )
                return await store.import_portfolio(portfolio)

        return asyncio.run(main())

    importing = asyncio.ensure_future(asyncio.to_thread(run))
    try:
        reached = await asyncio.to_thread(pause.reached.wait, 60)
        if not reached:
            raise AssertionError(f"the replica's import never reached {pause.name} #{pause.at}")
        yield importing
    finally:
        pause.resume.set()
        await asyncio.wait([importing], timeout=60)


async def set_lease(store: GraphStore, owner: str, heartbeat: datetime) -> None:
    """Rewrite who holds the staging markers and when it last wrote, as another host would have left them."""

    async def work(tx: neo4j.AsyncManagedTransaction) -> None:
        await tx.run(
            f"MATCH (r:{PORTFOLIO_REVISION_LABEL} {{id: 'portfolio'}}) "
            "SET r.import_owner = $owner, r.import_owner_started = null, r.import_heartbeat = $heartbeat",
            owner=owner,
            heartbeat=heartbeat.isoformat(timespec="milliseconds"),
        )

    await store.cypher.write(work)


async def no_residue(store: GraphStore) -> None:
    stored = await store.physical_counts()
    assert stored == {name: count for name, count in (await store.counts()).items() if name in stored}


async def test_an_import_while_another_replica_stages_one_is_refused_and_writes_nothing(
    graph_store: GraphStore, local_graph_database: LocalGraphDatabase
) -> None:
    first = generate_portfolio(seed=11, scale="small", anchor=ANCHOR)
    other = GraphStore(graph_store.driver, graph_store.database, batch_size=10, single_transaction_rows=0)
    single = GraphStore(graph_store.driver, graph_store.database)  # one transaction: refused the same way
    pause = PauseAt("staging.fence", at=8)  # some node batches staged, more to come
    async with replica_importing(local_graph_database, first, pause) as importing:
        pending = (await graph_store.revision_state()).pending
        assert pending is not None and pending.owner == f"{socket.gethostname()}:{os.getpid()}"
        stored = await graph_store.physical_counts()
        assert sum(stored.values()) > 0  # it has staged batches
        for store in (other, single):
            with pytest.raises(ImportInProgressError) as refused:
                await store.import_portfolio(build_tiny_portfolio())
            message = str(refused.value)
            assert f"revision {pending.revision} ({pending.rows} rows, started at {pending.since})" in message
            assert f"by {pending.owner} (last heartbeat {pending.heartbeat})" in message
            assert message.endswith("try again when it finishes")
            assert await graph_store.physical_counts() == stored  # nothing written
            assert (await graph_store.revision_state()).pending == pending  # its markers untouched
        pause.resume.set()
        summary = await importing
    assert not summary.single_transaction and summary.transactions > 30
    assert summary.finished_interrupted_import is None
    assert await graph_store.portfolio_snapshot() == normalise_portfolio(first)
    assert await graph_store.revision() == summary.revision
    state = await graph_store.revision_state()
    assert state.pending is None and state.settling is None and state.recovered is None
    await no_residue(graph_store)


async def interrupted_marker(store: GraphStore) -> LeasedImport:
    """A staged import of the tiny portfolio that stopped before its commit: its markers stay."""
    observer = FailAt()
    observer.arm("staging.commit")
    with pytest.raises(RuntimeError, match="injected failure"):
        await staged_store(store, observer, batch_size=10).import_portfolio(build_tiny_portfolio())
    pending = (await store.revision_state()).pending
    assert pending is not None
    return pending


async def test_a_foreign_import_is_refused_while_its_heartbeat_is_fresh_and_rolled_back_once_stale(
    graph_store: GraphStore, local_graph_database: LocalGraphDatabase, tmp_path: Path
) -> None:
    pending = await interrupted_marker(graph_store)
    stored = await graph_store.physical_counts()
    await set_lease(graph_store, FOREIGN_OWNER, datetime.now(UTC))
    wanted = generate_portfolio(seed=3, scale="small", anchor=ANCHOR)
    store = GraphStore(graph_store.driver, graph_store.database, batch_size=500, single_transaction_rows=0)

    with pytest.raises(ImportInProgressError, match=re.escape(f"by {FOREIGN_OWNER} (last heartbeat")):
        await store.import_portfolio(wanted)
    assert await graph_store.physical_counts() == stored
    assert await graph_store.portfolio_snapshot() == Portfolio()
    document = tmp_path / "wanted.json"
    dump_json(wanted, document)
    cli = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "lodestar.cli", "import", str(document)],
        cwd=REPO_ROOT,
        env=graph_environment(local_graph_database, tmp_path / "data"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert cli.returncode == 1 and cli.stdout == "", cli.stdout + cli.stderr
    [line] = cli.stderr.splitlines()
    assert line.startswith(f"error: another import is in progress: revision {pending.revision} ")
    assert line.endswith("try again when it finishes")
    assert await graph_store.physical_counts() == stored

    await set_lease(
        graph_store, FOREIGN_OWNER, datetime.now(UTC) - timedelta(seconds=store.lease_seconds + 5)
    )
    summary = await store.import_portfolio(wanted)
    assert summary.finished_interrupted_import == pending.revision
    assert summary.interrupted_import_outcome == RecoveryOutcome.ROLLED_BACK
    assert await graph_store.portfolio_snapshot() == normalise_portfolio(wanted)
    await no_residue(graph_store)


async def test_an_import_whose_lease_lapsed_is_rolled_back_and_stops_at_its_next_write(
    graph_store: GraphStore, local_graph_database: LocalGraphDatabase
) -> None:
    first, second = generate_portfolio(seed=11, scale="small", anchor=ANCHOR), build_tiny_portfolio()
    other = GraphStore(graph_store.driver, graph_store.database, batch_size=10, single_transaction_rows=0)
    pause = PauseAt("staging.fence", at=25)  # nodes staged, relationships being staged
    async with replica_importing(local_graph_database, first, pause) as importing:
        staged = await graph_store.physical_counts()
        assert staged["Customer"] == len(first.customers) and staged["REQUESTS"] > 0
        pending = (await graph_store.revision_state()).pending
        assert pending is not None
        # The replica stalls past its lease (as if its host froze): it looks dead.
        await set_lease(
            graph_store, FOREIGN_OWNER, datetime.now(UTC) - timedelta(seconds=other.lease_seconds + 5)
        )
        summary = await other.import_portfolio(second)
        assert summary.finished_interrupted_import == pending.revision
        assert summary.interrupted_import_outcome == RecoveryOutcome.ROLLED_BACK
        pause.resume.set()
        with pytest.raises(
            ImportSupersededError, match=re.escape(f"revision {pending.revision} was rolled back")
        ):
            await importing
    assert await graph_store.portfolio_snapshot() == normalise_portfolio(second)
    assert await graph_store.revision() == summary.revision
    state = await graph_store.revision_state()
    assert state.pending is None and state.settling is None
    await no_residue(graph_store)  # nothing of the first import's writes remains, visible or not
    counts = await graph_store.physical_counts()
    assert counts["Customer"] == len(second.customers) and counts["REQUESTS"] == len(second.requests)


def test_a_holder_on_this_host_is_alive_while_its_process_runs() -> None:
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        now = datetime.now(UTC)
        marker = LeasedImport(
            revision="r",
            sequence=1,
            since=now.isoformat(),
            rows=10,
            lease="l",
            owner=f"{socket.gethostname()}:{sleeper.pid}",
            owner_started=process_start_time(sleeper.pid),
            heartbeat=now.isoformat(),
        )
        assert not is_stale(marker, 60)
        assert is_stale(
            marker.model_copy(update={"owner_started": (marker.owner_started or 0) + 1}), 60
        )  # pid reused
        assert is_stale(marker, 60, now=now + timedelta(seconds=61))  # alive, but silent past its lease
        foreign = marker.model_copy(update={"owner": FOREIGN_OWNER})
        assert not is_stale(foreign, 60) and is_stale(foreign, 60, now=now + timedelta(seconds=61))
    finally:
        sleeper.kill()
        sleeper.wait()
    assert is_stale(marker, 60)  # its process is gone
    assert is_stale(marker.model_copy(update={"owner": None, "heartbeat": None, "lease": None}), 60)


IMPORT_MUTATION = """
mutation($document: String!) {
  importPortfolio(document: $document) {
    __typename
    ... on ImportInProgress { message revision since rows committed lastHeartbeat }
  }
}
"""


async def test_the_api_answers_a_typed_import_in_progress(graph_store: GraphStore) -> None:
    pending = await interrupted_marker(graph_store)
    beat = datetime.now(UTC)
    await set_lease(graph_store, FOREIGN_OWNER, beat)
    queries = EntityReads(graph_store.driver, graph_store.database)
    services = ApiServices(
        queries=queries,
        store=graph_store,
        settings=ApiSettings(mode=ApiMode.DEVELOPMENT),
        authenticator=ApiKeyAuthenticator(queries),
        results=ResultReader(graph_store, queries),
    )
    context = RequestContext(
        services=services,
        loaders=Loaders(queries),
        principal=Principal(key_id="k", name="admin", role=Role.ADMIN),
    )
    document = generate_portfolio(seed=3, scale="small", anchor=ANCHOR).model_dump_json()
    result = await build_schema(services.settings, tracing=False).execute(
        IMPORT_MUTATION, variable_values={"document": document}, context_value=context
    )
    assert result.errors is None, result.errors
    assert result.data is not None
    answer: dict[str, Any] = result.data["importPortfolio"]
    assert answer["__typename"] == "ImportInProgress"
    assert (answer["revision"], answer["rows"], answer["committed"]) == (
        pending.revision,
        pending.rows,
        False,
    )
    assert datetime.fromisoformat(answer["since"]) == datetime.fromisoformat(pending.since)
    assert datetime.fromisoformat(answer["lastHeartbeat"]) == beat.replace(
        microsecond=beat.microsecond // 1000 * 1000
    )
    assert FOREIGN_OWNER in answer["message"] and "try again when it finishes" in answer["message"]
    assert await graph_store.portfolio_snapshot() == Portfolio()  # nothing written


def test_lodestar_summary_names_the_holder_of_a_pending_import_and_whether_it_runs() -> None:
    now = datetime.now(UTC)
    pending = LeasedImport(
        revision="rev-1",
        sequence=1,
        since="2026-01-05T09:00:00+00:00",
        rows=5000,
        lease="l",
        owner=FOREIGN_OWNER,
        heartbeat=now.isoformat(timespec="milliseconds"),
    )
    [running] = render.staged_import_lines(RevisionState(pending=pending), lease_seconds=60)
    assert (
        f"started at 2026-01-05T09:00:00+00:00 has not committed (by {FOREIGN_OWNER}, last heartbeat "
        f"{pending.heartbeat}): it is still running." in running
    )
    silent = pending.model_copy(update={"heartbeat": (now - timedelta(seconds=90)).isoformat()})
    [interrupted] = render.staged_import_lines(RevisionState(settling=silent), lease_seconds=60)
    assert "has not finished: it was interrupted (no heartbeat for 90 s)" in interrupted
