"""The Cypher of staged imports: the writes that stage, commit and settle them, and roll them back.

An import larger than one transaction (`graph.store.GraphStore.single_transaction_rows`) is staged.
Staged imports are numbered: the revision node's `committed` holds the number of the last one that
committed, `C`, and the next one is `P = C + 1` (`MARK_STAGING`).
- the nodes and relationships it creates carry `staged_in: P`; the relationships it removes (or
  replaces, when their properties change) are kept, with `retired_in: P`;
- readers see an element when `staged_in` is absent or at most `C`, and a relationship only while
  `retired_in` is absent or above `C` (`graph.visibility`), so until the import commits they see exactly
  the previous portfolio;
- the last transaction applies the node property changes and sets `committed` to `P` with the new
  revision token (`COMMIT`): from that commit on, readers see the new portfolio;
- settling then deletes the retired relationships, in batches; readers cannot tell. `staged_in` stays
  (a number at most `committed` means "visible" forever), so settling costs nothing per created row.
Only one import's markers are unsettled at a time: every import first finishes settling a committed one,
or rolls back one that never committed (`ROLLBACK_SWEEPS`), and records which (`RECORD_RECOVERY`).

The markers are leased, so that importers in several processes (API replicas, the CLI) cannot break each
other's import: the revision node names the import that holds them (`import_lease`, a fresh id per import),
its process (`import_owner`, `host:pid`, and `import_owner_started`, the process's start time) and when it
last wrote (`import_heartbeat`, ISO 8601 UTC). `MARK_STAGING` only succeeds when no import is pending or
settling; every later transaction of the import begins with `FENCE`, which checks the lease is still its
own and renews the heartbeat — a write on the revision node, so a transaction racing a takeover conflicts
and is retried, and then sees it; `COMMIT` and `SETTLED` are compare-and-sets on the lease. Another
import takes the markers over (`CLAIM`) only when their holder is dead (`graph.import_recovery`), and
then holds the lease itself while it rolls back or finishes.
"""

from __future__ import annotations

from graph.cypher import Query, Statements
from graph.portfolio_statements import RELATIONSHIP_PROPERTIES
from graph.visibility import COMMITTED, RETIRED, STAGED
from graph.vocabulary import (
    NODE_PROPERTIES,
    PORTFOLIO_LABELS,
    PORTFOLIO_REVISION_LABEL,
    RELATIONSHIPS,
    NodeLabel,
    RelationshipSpec,
    RelType,
)

STATEMENTS = Statements()
_define = STATEMENTS.define

# -- staged writes (the batched import) --------------------------------------------------------------
# $sequence: the import's number, `P`.


def _staged_node_creation(label: NodeLabel) -> Query:
    properties = ", ".join(f"{name}: row.{name}" for name in NODE_PROPERTIES[label])
    return _define(
        f"staging.create_nodes.{label.value}",
        f"UNWIND $rows AS row CREATE (n:{label.value} {{{properties}, {STAGED}: $sequence}})",
    )


def _relationship_properties(spec: RelationshipSpec) -> str:
    return "".join(f", {name}: row.{name}" for name in RELATIONSHIP_PROPERTIES.get(spec.type, ()))


def _staged_relationship_creation(spec: RelationshipSpec) -> Query:
    """$groups as `graph.portfolio_statements.CREATE_RELATIONSHIPS` has them."""
    return _define(
        f"staging.create_relationships.{spec.type.value}",
        f"UNWIND $groups AS g MATCH (b:{spec.end.value} {{id: g.key}}) "
        f"UNWIND g.rows AS row MATCH (a:{spec.start.value} {{id: row.start}}) "
        f"CREATE (a)-[:{spec.type.value} {{{STAGED}: $sequence{_relationship_properties(spec)}}}]->(b)",
    )


def _pair(spec: RelationshipSpec) -> str:
    return (
        f"UNWIND $rows AS row MATCH (a:{spec.start.value} {{id: row.start}})"
        f"-[r:{spec.type.value}]->(b:{spec.end.value} {{id: row.end}}) "
    )


CREATE_NODES: dict[NodeLabel, Query] = {label: _staged_node_creation(label) for label in PORTFOLIO_LABELS}
CREATE_RELATIONSHIPS: dict[RelType, Query] = {
    spec.type: _staged_relationship_creation(spec) for spec in RELATIONSHIPS
}
RETIRE_RELATIONSHIPS: dict[RelType, Query] = {
    spec.type: _define(
        f"staging.retire_relationships.{spec.type.value}",
        _pair(spec) + f"WHERE r.{RETIRED} IS NULL SET r.{RETIRED} = $sequence",
    )
    for spec in RELATIONSHIPS
}
"""$rows: [{start, end}]: every relationship of the pair (parallel copies too) is retired. Runs before
the import creates any relationship, so it never retires one of its own."""
PURGE_RETIRED: dict[RelType, Query] = {
    spec.type: _define(
        f"staging.purge_retired.{spec.type.value}", _pair(spec) + f"WHERE r.{RETIRED} = $sequence DELETE r"
    )
    for spec in RELATIONSHIPS
}
"""Settling, after the commit: the retired relationships of $rows deleted."""

# -- recovery: whatever an interrupted import left, found by scanning, $limit at a time -------------------
# Each returns `done`, the number of elements it changed; run until it is 0.


def _node_sweep(kind: str, label: NodeLabel, action: str) -> Query:
    return _define(
        f"staging.{kind}.nodes.{label.value}",
        f"MATCH (n:{label.value}) WHERE n.{STAGED} = $sequence WITH n LIMIT $limit {action} "
        "RETURN count(*) AS done",
    )


def _relationship_sweep(kind: str, rel_type: RelType, marker: str, action: str) -> Query:
    return _define(
        f"staging.{kind}.{marker}.{rel_type.value}",
        f"MATCH ()-[r:{rel_type.value}]->() WHERE r.{marker} = $sequence WITH r LIMIT $limit {action} "
        "RETURN count(*) AS done",
    )


ROLLBACK_SWEEPS: tuple[Query, ...] = (
    *(_relationship_sweep("rollback", spec.type, STAGED, "DELETE r") for spec in RELATIONSHIPS),
    *(_relationship_sweep("rollback", spec.type, RETIRED, f"REMOVE r.{RETIRED}") for spec in RELATIONSHIPS),
    *(_node_sweep("rollback", label, "DETACH DELETE n") for label in PORTFOLIO_LABELS),
)
"""Undo an import that never committed: what it staged deleted, its retirements cancelled."""
SETTLE_SWEEPS: tuple[Query, ...] = tuple(
    _relationship_sweep("finish", spec.type, RETIRED, "DELETE r") for spec in RELATIONSHIPS
)
"""Finish settling an import that committed: the retired relationships `PURGE_RETIRED` did not get to."""

# -- the revision node -----------------------------------------------------------------------------------

_REVISION = f"MERGE (r:{PORTFOLIO_REVISION_LABEL} {{id: 'portfolio'}}) "

_MATCH_REVISION = f"MATCH (r:{PORTFOLIO_REVISION_LABEL} {{id: 'portfolio'}}) "
_NO_LEASE = (
    "r.import_lease = null, r.import_owner = null, r.import_owner_started = null, r.import_heartbeat = null"
)
_NO_PENDING = (
    "r.pending_import = null, r.pending_sequence = null, r.pending_since = null, r.pending_rows = null"
)
_NO_SETTLING = (
    "r.settling = null, r.settling_sequence = null, r.settling_since = null, r.settling_rows = null"
)
_TAKE_LEASE = (
    "r.import_lease = $lease, r.import_owner = $owner, r.import_owner_started = $owner_started, "
    "r.import_heartbeat = $heartbeat"
)
"""$lease, $owner, $owner_started, $heartbeat: the lease of the import writing (`graph.import_recovery.ImportLease`)."""

MARK_STAGING = _define(
    "staging.mark",
    _REVISION + "WITH r WHERE r.pending_import IS NULL AND r.settling IS NULL "
    "AND coalesce(r.token, '') = $token "
    f"SET r.pending_import = $revision, r.pending_sequence = coalesce(r.{COMMITTED}, 0) + 1, "
    f"r.pending_since = $since, r.pending_rows = $rows, {_TAKE_LEASE} "
    "RETURN r.pending_sequence AS sequence",
)
"""The first write of a staged import: `pending_import` is the revision token it will set, and
`pending_sequence` its number; the lease is its own. No row when another import is pending or settling,
or when the portfolio's token is no longer $token ('' for none), the one it planned against."""
FENCE = _define(
    "staging.fence",
    _MATCH_REVISION
    + "WHERE r.import_lease = $lease AND (r.pending_import = $revision OR r.settling = $revision) "
    "SET r.import_heartbeat = $heartbeat RETURN r.import_lease AS lease",
)
"""The first statement of every transaction that writes under a lease: no row when the lease on
$revision's markers is no longer $lease (that transaction must then write nothing)."""
COMMIT = _define(
    "staging.commit",
    _MATCH_REVISION + "WHERE r.pending_import = $revision AND r.import_lease = $lease "
    f"SET r.token = $revision, r.{COMMITTED} = $sequence, r.changed_at = $changed_at, "
    "r.changes = $changes, r.settling = $revision, r.settling_sequence = $sequence, "
    "r.settling_since = r.pending_since, r.settling_rows = r.pending_rows, "
    f"r.import_heartbeat = $heartbeat, {_NO_PENDING} RETURN r.token AS token",
)
"""The switch: the new token and number (and what `graph.portfolio_statements.MARK_REVISION` records),
in the transaction that applies the node property changes; settling follows, under the same lease.
No row (and the transaction must be rolled back) when the lease is no longer $lease."""
SETTLED = _define(
    "staging.settled",
    _MATCH_REVISION
    + f"WHERE r.settling = $revision AND r.import_lease = $lease SET {_NO_SETTLING}, {_NO_LEASE} "
    "RETURN r.token AS token",
)
CLAIM = _define(
    "staging.claim",
    _MATCH_REVISION + "WHERE (r.pending_import = $revision OR r.settling = $revision) "
    "AND coalesce(r.import_lease, '') = $seen_lease AND coalesce(r.import_heartbeat, '') = $seen_heartbeat "
    f"SET {_TAKE_LEASE} RETURN r.import_lease AS lease",
)
"""A recovery takes over the markers of a dead import ($revision), if they are still as it read them
($seen_lease, $seen_heartbeat; '' for none): no row when their holder wrote meanwhile."""
READ_STATE = _define(
    "staging.read_state",
    f"OPTIONAL MATCH (r:{PORTFOLIO_REVISION_LABEL} {{id: 'portfolio'}}) "
    "RETURN r.token AS token, r.pending_import AS pending_import, r.pending_sequence AS pending_sequence, "
    "r.pending_since AS pending_since, r.pending_rows AS pending_rows, r.settling AS settling, "
    "r.settling_sequence AS settling_sequence, r.settling_since AS settling_since, "
    "r.settling_rows AS settling_rows, r.recovered_import AS recovered_import, "
    "r.recovered_outcome AS recovered_outcome, r.recovered_at AS recovered_at, "
    "r.recovered_since AS recovered_since, r.recovered_rows AS recovered_rows, "
    "r.recovered_sequence AS recovered_sequence, r.import_lease AS import_lease, "
    "r.import_owner AS import_owner, r.import_owner_started AS import_owner_started, "
    "r.import_heartbeat AS import_heartbeat",
)
RECORD_RECOVERY = _define(
    "staging.record_recovery",
    _MATCH_REVISION + "WHERE r.import_lease = $lease "
    "SET r.recovered_import = $revision, r.recovered_outcome = $outcome, r.recovered_at = $at, "
    "r.recovered_since = $since, r.recovered_rows = $rows, r.recovered_sequence = $sequence, "
    f"{_NO_PENDING}, {_NO_SETTLING}, {_NO_LEASE} RETURN r.recovered_import AS recovered",
)
"""The last write of a recovery, under the lease it claimed: what it did to which import, and no import
pending or settling. No row when the lease was taken from it meanwhile."""

PHYSICAL_NODE_COUNT: dict[NodeLabel, Query] = {
    label: _define(
        f"staging.physical_count.{label.value}", f"MATCH (n:{label.value}) RETURN count(n) AS count"
    )
    for label in PORTFOLIO_LABELS
}
"""Every node of a label, visible or not: the import's own bookkeeping, never a reader's answer."""
PHYSICAL_RELATIONSHIP_COUNT: dict[RelType, Query] = {
    spec.type: _define(
        f"staging.physical_count.{spec.type.value}",
        f"MATCH ()-[r:{spec.type.value}]->() RETURN count(r) AS count",
    )
    for spec in RELATIONSHIPS
}
