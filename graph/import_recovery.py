"""What a staged import left behind, and putting it right: roll back one that never committed, finish one
that did (`graph.staging_statements` describes the markers and their lease).

`recover_interrupted_import` runs at the start of every import, before it reads the graph, so at most one
import's markers exist at any time. It only touches markers whose holder is dead (`is_stale`): its process
is on this host and gone (so the next import after a `kill -9` recovers at once), or it has not written for
the lease (`LODESTAR_IMPORT_LEASE_S`, default 60 s). A live holder makes it raise `ImportInProgressError`
having written nothing. It records what it did on the revision node, and `read_revision_state` reports it
(as `lodestar summary` does).

Every transaction written under a lease starts with `fence`: when another import took the markers over
(the lease lapsed) it raises `ImportSupersededError` and the transaction writes nothing.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Generator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from neo4j import AsyncManagedTransaction
from pydantic import BaseModel

from graph import staging_statements as staging
from graph.cypher import CypherRunner, Query

DEFAULT_LEASE_SECONDS = 60.0
"""How long a staged import's markers stay its own without a write: longer than any one of its
transactions (a batch, the commit) takes, plus the clock difference between the importing hosts."""
LEASE_ENV = "LODESTAR_IMPORT_LEASE_S"
_CLAIM_ATTEMPTS = 3


class StagedImport(BaseModel):
    """An import in several transactions: the revision token it will set, its number, when it started, its size."""

    revision: str
    sequence: int
    """Its number: what its writes are marked with (`graph.visibility.STAGED`)."""
    since: str
    """When it started writing, ISO 8601 in UTC."""
    rows: int
    """Rows (nodes + relationships) its document held."""


class LeasedImport(StagedImport):
    """A staged import pending or settling, with the lease on its markers (None for each field a
    version of Lodestar without leases left)."""

    lease: str | None = None
    """The id of the import (or the recovery) that holds the markers."""
    owner: str | None = None
    """Its process, `host:pid`."""
    owner_started: int | None = None
    """That process's start time (clock ticks since boot, `/proc/<pid>/stat`), which tells a reused pid apart."""
    heartbeat: str | None = None
    """When the holder last wrote under the lease, ISO 8601 in UTC."""


class RecoveryOutcome(StrEnum):
    ROLLED_BACK = "rolled back"
    """It never committed: what it staged is deleted, what it retired is kept; readers never saw it."""
    FINISHED = "finished"
    """It committed, and readers saw it since; its settling (markers, retired relationships) is completed."""


class ImportRecovery(StagedImport):
    """What the last recovery did to an interrupted import, and when."""

    outcome: RecoveryOutcome
    at: str
    """ISO 8601 in UTC."""


class RevisionState(BaseModel):
    """The revision node: the committed token and any staged import in progress or interrupted."""

    token: str | None = None
    pending: LeasedImport | None = None
    """Writing, or interrupted before its last transaction: readers do not see it."""
    settling: LeasedImport | None = None
    """Committed (its token is `token`), its markers not yet all removed."""
    recovered: ImportRecovery | None = None
    """The last interrupted import the next one rolled back or finished."""


class ImportInProgressError(RuntimeError):
    """Another import holds the staged-import markers and is alive: this one wrote nothing."""

    def __init__(self, running: LeasedImport, *, committed: bool) -> None:
        self.running = running
        self.committed = committed
        owner = running.owner or "an unknown process"
        doing = "has committed and is cleaning up" if committed else "is writing"
        super().__init__(
            f"another import is in progress: revision {running.revision} ({running.rows} rows, started at "
            f"{running.since}) {doing}, by {owner} (last heartbeat {running.heartbeat or 'never'}); this "
            "import wrote nothing: try again when it finishes"
        )


class ImportSupersededError(RuntimeError):
    """The lease of this import's markers was taken over while it wrote (it had lapsed): the other import
    rolled this one back, and this one stopped writing."""

    def __init__(self, revision: str) -> None:
        self.revision = revision
        super().__init__(
            f"the import of revision {revision} was rolled back by another import while it wrote (its lease "
            "lapsed); nothing of it is visible; run it again"
        )


# -- the lease and its holder ------------------------------------------------------------------------


def process_start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (`/proc/<pid>/stat` field 22); None without /proc."""
    fields = _stat_fields(pid)
    try:
        return int(fields[19])
    except (IndexError, ValueError):
        return None


def _stat_fields(pid: int) -> list[str]:
    """The fields of `/proc/<pid>/stat` after the command name (the first is field 3, the state); [] without it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return []
    return stat.rpartition(")")[2].split()


def _process_state(pid: int) -> str | None:
    fields = _stat_fields(pid)
    return fields[0] if fields else None


@dataclass(frozen=True)
class ImportLease:
    """The lease one import (or recovery) writes under: a fresh id, and the process that holds it."""

    id: str
    owner: str
    owner_started: int | None

    @classmethod
    def new(cls) -> ImportLease:
        return cls(
            id=uuid.uuid4().hex,
            owner=f"{socket.gethostname()}:{os.getpid()}",
            owner_started=process_start_time(os.getpid()),
        )

    def params(self) -> dict[str, Any]:
        """$lease, $owner, $owner_started and a fresh $heartbeat (`graph.staging_statements`)."""
        return {
            "lease": self.id,
            "owner": self.owner,
            "owner_started": self.owner_started,
            "heartbeat": heartbeat_now(),
        }


def heartbeat_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


_held: set[str] = set()
"""The leases an import of this process is working under right now."""


@contextmanager
def holding(lease: ImportLease) -> Generator[ImportLease]:
    """While the block runs, `is_stale` counts markers under `lease` as alive, in this process."""
    _held.add(lease.id)
    try:
        yield lease
    finally:
        _held.discard(lease.id)


def _owner_gone(marker: LeasedImport) -> bool:
    """True when the holder's process is known to be gone: on this host, and no longer running (or its
    pid now belongs to another process); in this process, not importing under that lease any more."""
    if marker.owner is None:
        return True  # markers of a Lodestar without leases: no one holds them
    host, _, pid_text = marker.owner.rpartition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return False  # another host: only the heartbeat tells
    pid = int(pid_text)
    if pid == os.getpid() and marker.owner_started == process_start_time(pid):
        return marker.lease not in _held
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass  # it exists, under another user
    if _process_state(pid) == "Z":
        return True  # killed, not yet reaped
    started = process_start_time(pid)
    return marker.owner_started is not None and started is not None and started != marker.owner_started


def heartbeat_age(marker: LeasedImport, now: datetime | None = None) -> float | None:
    """Seconds since the holder last wrote; None when no heartbeat was recorded (or it cannot be read)."""
    if marker.heartbeat is None:
        return None
    try:
        beat = datetime.fromisoformat(marker.heartbeat)
    except ValueError:
        return None
    if beat.tzinfo is None:
        beat = beat.replace(tzinfo=UTC)
    return ((now or datetime.now(UTC)) - beat).total_seconds()


def is_stale(marker: LeasedImport, lease_seconds: float, now: datetime | None = None) -> bool:
    """Whether the import holding `marker` is dead: its process is gone, or it has not written for
    `lease_seconds` (markers without a heartbeat, from a Lodestar without leases, are stale)."""
    if _owner_gone(marker):
        return True
    age = heartbeat_age(marker, now)
    return age is None or age > lease_seconds


# -- reading and writing the markers -------------------------------------------------------------------


def _leased(
    record: Any, prefix: str, sequence_key: str, since_key: str, rows_key: str
) -> LeasedImport | None:
    revision, sequence, rows = record[prefix], record[sequence_key], record[rows_key]
    if revision is None or not isinstance(sequence, int):
        return None
    started = record["import_owner_started"]
    return LeasedImport(
        revision=str(revision),
        sequence=sequence,
        since=str(record[since_key]),
        rows=rows if isinstance(rows, int) else 0,
        lease=record["import_lease"],
        owner=record["import_owner"],
        owner_started=started if isinstance(started, int) else None,
        heartbeat=record["import_heartbeat"],
    )


async def read_revision_state_in(cypher: CypherRunner, tx: AsyncManagedTransaction) -> RevisionState:
    """The revision node's state, read in the caller's transaction."""
    records = await cypher.records(tx, staging.READ_STATE)
    if not records:
        return RevisionState()
    record = records[0]
    recovered: ImportRecovery | None = None
    if record["recovered_import"] is not None:
        recovered = ImportRecovery(
            revision=record["recovered_import"],
            sequence=int(record["recovered_sequence"] or 0),
            since=str(record["recovered_since"]),
            rows=int(record["recovered_rows"] or 0),
            outcome=RecoveryOutcome(record["recovered_outcome"]),
            at=str(record["recovered_at"]),
        )
    return RevisionState(
        token=record["token"],
        pending=_leased(record, "pending_import", "pending_sequence", "pending_since", "pending_rows"),
        settling=_leased(record, "settling", "settling_sequence", "settling_since", "settling_rows"),
        recovered=recovered,
    )


async def read_revision_state(cypher: CypherRunner) -> RevisionState:
    async def work(tx: AsyncManagedTransaction) -> RevisionState:
        return await read_revision_state_in(cypher, tx)

    return await cypher.read(work)


async def fence(cypher: CypherRunner, tx: AsyncManagedTransaction, lease: ImportLease, revision: str) -> None:
    """The first statement of a transaction under `lease`: renews the heartbeat, or raises
    `ImportSupersededError` when `revision`'s markers are no longer held under it."""
    records = await cypher.records(tx, staging.FENCE, revision=revision, **lease.params())
    if not records:
        raise ImportSupersededError(revision)


async def _claim(cypher: CypherRunner, marker: LeasedImport, lease: ImportLease) -> bool:
    async def work(tx: AsyncManagedTransaction) -> bool:
        params = {
            **lease.params(),
            "revision": marker.revision,
            "seen_lease": marker.lease or "",
            "seen_heartbeat": marker.heartbeat or "",
        }
        return bool(await cypher.records(tx, staging.CLAIM, **params))

    return await cypher.write(work, conflict_attempts=1)


async def _sweep(
    cypher: CypherRunner, sweep: Query, marker: LeasedImport, lease: ImportLease, limit: int
) -> None:
    async def work(tx: AsyncManagedTransaction) -> int:
        await fence(cypher, tx, lease, marker.revision)
        records = await cypher.records(tx, sweep, sequence=marker.sequence, limit=limit)
        return int(records[0]["done"]) if records else 0

    while await cypher.write(work, conflict_attempts=1) > 0:
        pass


async def recover_interrupted_import(
    cypher: CypherRunner, limit: int, lease: ImportLease, lease_seconds: float = DEFAULT_LEASE_SECONDS
) -> ImportRecovery | None:
    """Roll back the pending staged import, or finish settling a committed one, if its holder is dead
    (`is_stale`); None if there is neither. Raises `ImportInProgressError`, having written nothing, when
    its holder is alive. `lease` must be held (`holding`) by the caller.

    Idempotent: killed part-way, the next call carries on (the revision node is written last)."""
    for _ in range(_CLAIM_ATTEMPTS):
        state = await read_revision_state(cypher)
        if state.pending is not None:
            interrupted, sweeps, outcome = state.pending, staging.ROLLBACK_SWEEPS, RecoveryOutcome.ROLLED_BACK
        elif state.settling is not None:
            interrupted, sweeps, outcome = state.settling, staging.SETTLE_SWEEPS, RecoveryOutcome.FINISHED
        else:
            return None
        if not is_stale(interrupted, lease_seconds):
            raise ImportInProgressError(interrupted, committed=state.pending is None)
        if not await _claim(cypher, interrupted, lease):
            continue  # its holder (or another recovery) wrote meanwhile: look again
        try:
            for sweep in sweeps:
                await _sweep(cypher, sweep, interrupted, lease, limit)
        except ImportSupersededError:
            continue  # another recovery took it over from this one: look again
        recovery = ImportRecovery(
            **interrupted.model_dump(include=set(StagedImport.model_fields)),
            outcome=outcome,
            at=datetime.now(UTC).isoformat(timespec="seconds"),
        )

        async def record(tx: AsyncManagedTransaction, recovery: ImportRecovery = recovery) -> bool:
            params = {
                "lease": lease.id,
                "revision": recovery.revision,
                "sequence": recovery.sequence,
                "outcome": recovery.outcome.value,
                "at": recovery.at,
                "since": recovery.since,
                "rows": recovery.rows,
            }
            return bool(await cypher.records(tx, staging.RECORD_RECOVERY, **params))

        if await cypher.write(record, conflict_attempts=1):
            return recovery
    state = await read_revision_state(cypher)
    running = state.pending or state.settling
    if running is None:
        return None  # another recovery finished it
    raise ImportInProgressError(running, committed=state.pending is None)
