"""What a staged import left behind, and putting it right: roll back one that never committed, finish one
that did (`graph.staging_statements` describes the markers).

`recover_interrupted_import` runs at the start of every import, before it reads the graph, so at most one
import's markers exist at any time. It records what it did on the revision node, and
`read_revision_state` reports it (as `lodestar summary` does).
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from neo4j import AsyncManagedTransaction
from pydantic import BaseModel

from graph import staging_statements as staging
from graph.cypher import CypherRunner, Query


class StagedImport(BaseModel):
    """An import in several transactions: the revision token it will set, its number, when it started, its size."""

    revision: str
    sequence: int
    """Its number: what its writes are marked with (`graph.visibility.STAGED`)."""
    since: str
    """When it started writing, ISO 8601 in UTC."""
    rows: int
    """Rows (nodes + relationships) its document held."""


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
    pending: StagedImport | None = None
    """Writing, or interrupted before its last transaction: readers do not see it."""
    settling: StagedImport | None = None
    """Committed (its token is `token`), its markers not yet all removed."""
    recovered: ImportRecovery | None = None
    """The last interrupted import the next one rolled back or finished."""


def _staged(revision: object, sequence: object, since: object, rows: object) -> StagedImport | None:
    if revision is None or not isinstance(sequence, int):
        return None
    return StagedImport(
        revision=str(revision), sequence=sequence, since=str(since), rows=rows if isinstance(rows, int) else 0
    )


async def read_revision_state(cypher: CypherRunner) -> RevisionState:
    async def work(tx: AsyncManagedTransaction) -> RevisionState:
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
            pending=_staged(
                record["pending_import"],
                record["pending_sequence"],
                record["pending_since"],
                record["pending_rows"],
            ),
            settling=_staged(
                record["settling"],
                record["settling_sequence"],
                record["settling_since"],
                record["settling_rows"],
            ),
            recovered=recovered,
        )

    return await cypher.read(work)


async def _sweep(cypher: CypherRunner, sweep: Query, sequence: int, limit: int) -> None:
    async def work(tx: AsyncManagedTransaction) -> int:
        records = await cypher.records(tx, sweep, sequence=sequence, limit=limit)
        return int(records[0]["done"]) if records else 0

    while await cypher.write(work, conflict_attempts=1) > 0:
        pass


async def recover_interrupted_import(cypher: CypherRunner, limit: int) -> ImportRecovery | None:
    """Roll back the pending staged import, or finish settling a committed one; None if there is neither.

    Idempotent: killed part-way, the next call carries on (the revision node is written last)."""
    state = await read_revision_state(cypher)
    if state.pending is not None:
        interrupted, sweeps, outcome = state.pending, staging.ROLLBACK_SWEEPS, RecoveryOutcome.ROLLED_BACK
    elif state.settling is not None:
        interrupted, sweeps, outcome = state.settling, staging.SETTLE_SWEEPS, RecoveryOutcome.FINISHED
    else:
        return None
    for sweep in sweeps:
        await _sweep(cypher, sweep, interrupted.sequence, limit)
    recovery = ImportRecovery(
        **interrupted.model_dump(), outcome=outcome, at=datetime.now(UTC).isoformat(timespec="seconds")
    )

    async def record(tx: AsyncManagedTransaction) -> None:
        params = {
            "revision": recovery.revision,
            "sequence": recovery.sequence,
            "outcome": recovery.outcome.value,
            "at": recovery.at,
            "since": recovery.since,
            "rows": recovery.rows,
        }
        await (await cypher.run(tx, staging.RECORD_RECOVERY, **params)).consume()

    await cypher.write(record, conflict_attempts=1)
    return recovery
