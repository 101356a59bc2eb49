"""`GraphStore`: the portfolio graph behind an async Neo4j driver — schema, import, clear, read models.

Import semantics (`GraphStore.import_portfolio`):
- The document is checked first: every field against its model's rules again (a model built with
  `model_construct` skipped them), then the integrity rules (`graph.validation.ensure_valid`).
  If anything is invalid, `PortfolioValidationError` lists it all and nothing is written.
- The document is authoritative for the entities it contains and nothing else. Each imported
  node's properties become exactly those of the document (properties it no longer has are
  removed). Each relationship belongs to one endpoint, its *owner* (`graph.vocabulary.RELATIONSHIPS`:
  the entity whose field states it, e.g. Feature.depends_on owns DEPENDS_ON, Feature.team_id owns
  Team-[:OWNS]->Feature, the requests of a customer own its REQUESTS). For every imported owner,
  its relationships of that type become exactly those the document states: missing ones are
  created, changed properties updated, and ones the document no longer states deleted. Entities
  the document does not contain, and the relationships they own, are left as they are; nothing
  is ever deleted because a document leaves it out (use `clear()` for a fresh start).
- Re-importing the same document changes nothing (the summary reports everything unchanged).
- The store reads the current state, diffs it against the document in Python, and writes only
  the difference: new nodes with CREATE, new relationships with plain CREATE after MATCH on the
  indexed `id` (grouped by end node), changed ones with SET, stale relationships with DELETE.
  No MERGE on the write path.
- Atomicity, at any size, as readers see it: a document of up to `single_transaction_rows` rows
  (nodes + relationships; default `SINGLE_TRANSACTION_ROWS`, a million, or
  `LODESTAR_IMPORT_SINGLE_TRANSACTION_ROWS`) is read, diffed and written in ONE write transaction. A
  larger one is staged (`graph.staging_statements`): written in batches of at most `batch_size` rows
  under the revision token it will become, invisible to every reader (`graph.visibility`), then
  switched in one last transaction that applies the node property changes and sets the token; then
  settled (retired relationships deleted) in batches that readers cannot tell apart.
  Readers see the previous portfolio until the switch commits, even if the importing process is
  killed mid-way. The next import first rolls back a staged import that never committed, or finishes
  settling one that did (`graph.import_recovery`; `ImportSummary.interrupted_import_outcome`);
  `interrupted_import()` and `lodestar summary` report it. The last transaction holds one row per
  node whose properties change: a document changing more nodes than one transaction can hold is
  beyond this design.
- Id lists (Feature.depends_on, objective_ids, Customer.product_ids) are relationships, which
  have no order: the snapshot returns them, and every collection, sorted by id; compare it with
  `normalise_portfolio(document)`.
- Imports through one store run one at a time. Staged imports from several processes (API replicas,
  the CLI) exclude each other through a lease on the staging markers (`graph.staging_statements`):
  its holder's process (`host:pid` and start time) and a heartbeat that every one of its transactions
  renews. An import that finds the markers held by a live import raises `ImportInProgressError` and
  writes nothing; it rolls back (or finishes) an import whose process on this host is gone, or whose
  heartbeat is older than `lease_seconds` (`LODESTAR_IMPORT_LEASE_S`, default 60). Every transaction
  of a staged import first checks the lease is still its own (`graph.import_recovery.fence`): if it
  lapsed and another import rolled this one back, it raises `ImportSupersededError` and writes nothing
  more. A single-transaction import refuses (`ImportInProgressError`) while a staged one is pending,
  and a staged import re-plans when a single-transaction one committed between its reads and its
  first write.
- `write_concurrency` > 1 runs the batches of a phase on that many sessions at once. On ArcadeDB
  this was no faster on 2 cores (concurrent edge writes conflict on shared pages and are retried),
  so the default is 1; with the lease, every batch also renews the heartbeat on the revision node, so
  concurrent batches of one import conflict there and are retried one after the other.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Generator, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from typing import Any, TypeVar, cast

from neo4j import AsyncDriver, AsyncManagedTransaction, Record
from neo4j.exceptions import ConstraintError
from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from graph import portfolio_statements as queries
from graph import staging_statements as staging
from graph.cypher import CypherRunner, Query, QueryObserver, UnitOfWork, native_properties
from graph.import_recovery import (
    DEFAULT_LEASE_SECONDS,
    LEASE_ENV,
    ImportInProgressError,
    ImportLease,
    ImportRecovery,
    ImportSupersededError,
    RecoveryOutcome,
    RevisionState,
    fence,
    holding,
    read_revision_state,
    read_revision_state_in,
    recover_interrupted_import,
)
from graph.portfolio import ENTITY_COLLECTIONS, Portfolio
from graph.read_models import ReadModels
from graph.validation import (
    DOCUMENT_SOURCE,
    PortfolioValidationError,
    ValidationIssue,
    ensure_valid,
    integrity_issues,
)
from graph.visibility import STAGED
from graph.vocabulary import (
    NODE_PROPERTIES,
    PORTFOLIO_LABELS,
    RELATIONSHIPS,
    NodeLabel,
    RelationshipSpec,
    RelType,
)

T = TypeVar("T")

SINGLE_TRANSACTION_ROWS = 1_000_000
"""Up to this many rows an import is one transaction, so readers see the old portfolio until it
commits. Measured on ArcadeDB (2 GB heap, 2 cores): the large demo portfolio (955k rows) took 40 s
in one transaction, about as long as in batches. Lower it for a Neo4j server whose transaction
memory limit (`db.memory.transaction.max`) is smaller than such a transaction needs."""
DEFAULT_BATCH_SIZE = 10_000
SINGLE_TRANSACTION_ROWS_ENV = "LODESTAR_IMPORT_SINGLE_TRANSACTION_ROWS"
BATCH_SIZE_ENV = "LODESTAR_IMPORT_BATCH_SIZE"
_STATE_READ_CHUNK = 20_000
_CLEAR_BATCH = 10_000
_CONFLICT_ATTEMPTS = 3


def _count_from_env(name: str, default: int) -> int:
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"{name}={text!r} is not a whole number") from None
    if value < 0:
        raise ValueError(f"{name}={text!r} must not be negative")
    return value


def _seconds_from_env(name: str, default: float) -> float:
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{name}={text!r} is not a number of seconds") from None
    if not value > 0:
        raise ValueError(f"{name}={text!r} must be more than 0")
    return value


def _entity_list_adapter(collection: str) -> TypeAdapter[list[Any]]:
    annotation = Portfolio.model_fields[collection].annotation  # e.g. list[Feature]
    assert annotation is not None
    return TypeAdapter(annotation)


_ENTITY_LIST_ADAPTERS = {collection: _entity_list_adapter(collection) for collection in ENTITY_COLLECTIONS}


_COLLECTION_OF: dict[NodeLabel, str] = {
    NodeLabel.PRODUCT: "products",
    NodeLabel.TEAM: "teams",
    NodeLabel.FEATURE: "features",
    NodeLabel.CUSTOMER: "customers",
    NodeLabel.OBJECTIVE: "objectives",
    NodeLabel.RELEASE: "releases",
    NodeLabel.FEEDBACK: "feedback",
}

Properties = dict[str, Any]
Pair = tuple[str, str]


class GraphImportError(RuntimeError):
    """The graph did not accept a write the way the import planned it (e.g. an endpoint vanished)."""


class _PlanOutdated(Exception):
    """The portfolio's revision changed between a staged import's reads and its first write: plan again."""


class EntityChanges(BaseModel):
    created: int = 0
    updated: int = 0
    deleted: int = 0
    unchanged: int = 0

    @property
    def written(self) -> int:
        return self.created + self.updated + self.deleted


class ImportSummary(BaseModel):
    """What an import did, per node label and per relationship type."""

    nodes: dict[str, EntityChanges] = Field(default_factory=dict[str, EntityChanges])
    relationships: dict[str, EntityChanges] = Field(default_factory=dict[str, EntityChanges])
    transactions: int = 0
    single_transaction: bool = True
    seconds: float = 0.0
    revision: str | None = None
    """The portfolio's new revision token when the import changed anything (`GraphStore.revision`)."""
    finished_interrupted_import: str | None = None
    """The id (revision) of an earlier import that was interrupted part-way (`GraphStore.interrupted_import`),
    which this one rolled back or finished before it read the graph (`interrupted_import_outcome`)."""
    interrupted_import_outcome: RecoveryOutcome | None = None
    """What became of `finished_interrupted_import`: rolled back if it never committed, else finished."""
    phase_seconds: dict[str, float] = Field(default_factory=dict[str, float])
    """Wall time per phase: validate, read_state, plan, delete_relationships, nodes, relationships.
    `seconds` is the whole call, validation included."""

    def total(self, kind: str) -> EntityChanges:
        """Sum over labels (`kind="nodes"`) or relationship types (`kind="relationships"`)."""
        groups: dict[str, EntityChanges] = getattr(self, kind)
        return EntityChanges(
            created=sum(c.created for c in groups.values()),
            updated=sum(c.updated for c in groups.values()),
            deleted=sum(c.deleted for c in groups.values()),
            unchanged=sum(c.unchanged for c in groups.values()),
        )

    @property
    def changed(self) -> bool:
        return self.total("nodes").written + self.total("relationships").written > 0


class PortfolioChangeCounts(BaseModel):
    """What one import changed, per node label and per relationship type (as stored on the revision)."""

    nodes: dict[str, EntityChanges] = Field(default_factory=dict[str, EntityChanges])
    relationships: dict[str, EntityChanges] = Field(default_factory=dict[str, EntityChanges])


class PortfolioChange(PortfolioChangeCounts):
    """The last import that changed the portfolio: when it committed, and its counts."""

    changed_at: datetime


class PortfolioTotals(BaseModel):
    """Headline counts of the portfolio, read in one transaction at `revision`."""

    revision: str | None
    customers: int
    total_arr: float
    features_by_status: dict[str, int]
    """Stored status value (`FeatureStatus`) -> how many features have it; absent statuses are left out."""


class InterruptedImport(BaseModel):
    """An import in several transactions that started writing and never wrote its last one."""

    import_id: str
    since: str
    """When it started writing, ISO 8601 in UTC."""
    rows: int
    """Rows (nodes + relationships) its document held."""


class PhaseTimer:
    """Wall-clock seconds spent per named phase."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def phase(self, name: str) -> Generator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - started


def field_issues(portfolio: Portfolio) -> list[ValidationIssue]:
    """Field rules re-checked on every entity: a model built with `model_construct` skipped them."""
    issues: list[ValidationIssue] = []
    for collection in ENTITY_COLLECTIONS:
        entities: list[BaseModel] = getattr(portfolio, collection)
        try:
            _ENTITY_LIST_ADAPTERS[collection].validate_python([entity.__dict__ for entity in entities])
        except ValidationError as error:
            for details in error.errors(include_url=False):
                row, *path = details["loc"]
                field_name = ".".join(str(part) for part in path) or None
                issues.append(
                    ValidationIssue(
                        source=DOCUMENT_SOURCE,
                        collection=collection,
                        row=int(row),
                        field=field_name,
                        message=f"{field_name or 'item'}: {details['msg']}",
                    )
                )
    return issues


def check_portfolio(portfolio: Portfolio) -> None:
    """Raise `PortfolioValidationError` listing every field and integrity problem, if there is any."""
    issues = field_issues(portfolio)
    if issues:
        raise PortfolioValidationError([*issues, *integrity_issues(portfolio)])
    ensure_valid(portfolio)


# -- desired state: the document as node and relationship rows ------------------------------------


def _property_value(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, list):
        return [_property_value(item) for item in cast(list[Any], value)]
    return value


def node_properties(label: NodeLabel, entity: BaseModel) -> Properties:
    """The properties stored on the node of `entity`; None values are not stored."""
    properties: Properties = {}
    for name in NODE_PROPERTIES[label]:
        value = getattr(entity, name)
        if value is not None:
            properties[name] = _property_value(value)
    return properties


def _relationship_pairs(portfolio: Portfolio) -> dict[RelType, dict[Pair, Properties]]:
    pairs: dict[RelType, dict[Pair, Properties]] = {spec.type: {} for spec in RELATIONSHIPS}
    for feature in portfolio.features:
        pairs[RelType.PART_OF][(feature.id, feature.product_id)] = {}
        if feature.team_id is not None:
            pairs[RelType.OWNS][(feature.team_id, feature.id)] = {}
        for prerequisite in feature.depends_on:
            pairs[RelType.DEPENDS_ON][(feature.id, prerequisite)] = {}
        for objective_id in feature.objective_ids:
            pairs[RelType.SUPPORTS][(feature.id, objective_id)] = {}
        if feature.release_id is not None:
            pairs[RelType.PLANNED_FOR][(feature.id, feature.release_id)] = {}
    for customer in portfolio.customers:
        for product_id in customer.product_ids:
            pairs[RelType.USES][(customer.id, product_id)] = {}
    for request in portfolio.requests:
        properties: Properties = {"weight": request.weight}
        if request.requested_at is not None:
            properties["requested_at"] = request.requested_at
        pairs[RelType.REQUESTS][(request.customer_id, request.feature_id)] = properties
    for item in portfolio.feedback:
        pairs[RelType.FROM][(item.id, item.customer_id)] = {}
        if item.feature_id is not None:
            pairs[RelType.ABOUT][(item.id, item.feature_id)] = {}
    for release in portfolio.releases:
        if release.product_id is not None:
            pairs[RelType.OF][(release.id, release.product_id)] = {}
    return pairs


@dataclass
class DesiredState:
    """The graph a document asks for: node properties by label, relationship properties by type."""

    nodes: dict[NodeLabel, dict[str, Properties]]
    relationships: dict[RelType, dict[Pair, Properties]]

    @classmethod
    def of(cls, portfolio: Portfolio) -> DesiredState:
        nodes = {
            label: {
                entity.id: node_properties(label, entity)
                for entity in getattr(portfolio, _COLLECTION_OF[label])
            }
            for label in PORTFOLIO_LABELS
        }
        return cls(nodes=nodes, relationships=_relationship_pairs(portfolio))

    def owner_ids(self, spec: RelationshipSpec) -> list[str]:
        return list(self.nodes[spec.owner])

    @property
    def rows(self) -> int:
        return sum(map(len, self.nodes.values())) + sum(map(len, self.relationships.values()))


@dataclass
class CurrentState:
    """What the graph holds now for the document's entities (owner side for relationships)."""

    nodes: dict[NodeLabel, dict[str, Properties]] = field(
        default_factory=dict[NodeLabel, dict[str, Properties]]
    )
    relationships: dict[RelType, dict[Pair, list[Properties]]] = field(
        default_factory=dict[RelType, dict[Pair, list[Properties]]]
    )


@dataclass(frozen=True)
class _Staged:
    """A staged import being written: the revision it will set, its number, the lease it writes under."""

    revision: str
    sequence: int
    lease: ImportLease


@dataclass
class ImportPlan:
    """The writes that turn the current state into the desired one."""

    node_creates: dict[NodeLabel, list[Properties]] = field(default_factory=dict[NodeLabel, list[Properties]])
    node_updates: dict[NodeLabel, list[Properties]] = field(default_factory=dict[NodeLabel, list[Properties]])
    relationship_creates: dict[RelType, list[Properties]] = field(
        default_factory=dict[RelType, list[Properties]]
    )
    relationship_updates: dict[RelType, list[Properties]] = field(
        default_factory=dict[RelType, list[Properties]]
    )
    relationship_deletes: dict[RelType, list[Properties]] = field(
        default_factory=dict[RelType, list[Properties]]
    )
    summary: ImportSummary = field(default_factory=ImportSummary)

    @property
    def writes(self) -> int:
        return sum(
            len(rows)
            for group in (
                self.node_creates,
                self.node_updates,
                self.relationship_creates,
                self.relationship_updates,
                self.relationship_deletes,
            )
            for rows in group.values()
        )


def plan_import(desired: DesiredState, current: CurrentState) -> ImportPlan:
    """Diff the document against the graph.

    Relationship rows are `{start, end, <properties>}`; delete rows also carry `copies`, the number
    of parallel relationships the pattern deletes (parallel duplicates are deleted and created once).
    """
    plan = ImportPlan()
    for label in PORTFOLIO_LABELS:
        node_changes = EntityChanges()
        existing = current.nodes.get(label, {})
        node_creates: list[Properties] = []
        node_updates: list[Properties] = []
        for node_id, properties in desired.nodes[label].items():
            if node_id not in existing:
                node_creates.append(properties)
            elif existing[node_id] != properties:
                node_updates.append(properties)
            else:
                node_changes.unchanged += 1
        node_changes.created, node_changes.updated = len(node_creates), len(node_updates)
        plan.node_creates[label], plan.node_updates[label] = node_creates, node_updates
        plan.summary.nodes[label.value] = node_changes
    for spec in RELATIONSHIPS:
        changes = EntityChanges()
        existing_pairs = current.relationships.get(spec.type, {})
        wanted = desired.relationships[spec.type]
        creates: list[Properties] = []
        updates: list[Properties] = []
        deletes: list[Properties] = []
        for (start, end), properties in wanted.items():
            row = {"start": start, "end": end, **properties}
            found = existing_pairs.get((start, end), [])
            if not found:
                creates.append(row)
                changes.created += 1
            elif len(found) > 1:
                deletes.append({"start": start, "end": end, "copies": len(found)})
                creates.append(row)
                changes.updated += 1
            elif found[0] != properties:
                updates.append(row)
                changes.updated += 1
            else:
                changes.unchanged += 1
        for (start, end), found in existing_pairs.items():
            if (start, end) not in wanted:
                deletes.append({"start": start, "end": end, "copies": len(found)})
                changes.deleted += len(found)
        plan.relationship_creates[spec.type] = creates
        plan.relationship_updates[spec.type] = updates
        plan.relationship_deletes[spec.type] = deletes
        plan.summary.relationships[spec.type.value] = changes
    return plan


def _stored_properties(properties: Properties) -> Properties:
    """A node's or relationship's properties as the document states them: without its staging number."""
    stored = native_properties(properties)
    stored.pop(STAGED, None)
    return stored


def _staged_relationships(plan: ImportPlan) -> dict[RelType, tuple[list[Properties], list[Properties]]]:
    """Per type, (relationships to create, pairs to retire) for a staged import: a relationship whose
    properties change is retired and created anew, so readers of the old revision keep the old one."""
    staged: dict[RelType, tuple[list[Properties], list[Properties]]] = {}
    for spec in RELATIONSHIPS:
        updates = plan.relationship_updates[spec.type]
        retires = [*plan.relationship_deletes[spec.type]]
        retires += [{"start": row["start"], "end": row["end"], "copies": 1} for row in updates]
        staged[spec.type] = ([*plan.relationship_creates[spec.type], *updates], retires)
    return staged


def group_by_end(rows: Sequence[Properties], batch_size: int) -> Iterator[list[Properties]]:
    """Relationship rows as batches of `{key: end id, rows: [...]}` groups, at most `batch_size` rows each.

    Grouping lets the CREATE look up each end node once per group instead of once per row. Groups
    come in end-id order and rows in start-id order, so the index lookups walk the keys in order.
    """
    by_end: defaultdict[str, list[Properties]] = defaultdict(list)
    for row in sorted(rows, key=lambda row: (row["end"], row["start"])):
        by_end[row["end"]].append({key: value for key, value in row.items() if key != "end"})
    batch: list[Properties] = []
    size = 0
    for end_id in sorted(by_end):
        members = by_end[end_id]
        for start in range(0, len(members), batch_size):
            chunk = members[start : start + batch_size]
            if size + len(chunk) > batch_size and batch:
                yield batch
                batch, size = [], 0
            batch.append({"key": end_id, "rows": chunk})
            size += len(chunk)
    if batch:
        yield batch


def _chunks(rows: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def normalise_portfolio(portfolio: Portfolio) -> Portfolio:
    """The portfolio with every collection sorted by id (requests by customer, then feature) and
    every id list sorted: the order `portfolio_snapshot()` returns, so the two compare equal."""

    def by_id(items: Sequence[Any]) -> list[Any]:
        return sorted(items, key=lambda item: item.id)

    return Portfolio(
        products=by_id(portfolio.products),
        teams=by_id(portfolio.teams),
        features=[
            f.model_copy(
                update={"depends_on": sorted(f.depends_on), "objective_ids": sorted(f.objective_ids)}
            )
            for f in by_id(portfolio.features)
        ],
        customers=[
            c.model_copy(update={"product_ids": sorted(c.product_ids)}) for c in by_id(portfolio.customers)
        ],
        objectives=by_id(portfolio.objectives),
        releases=by_id(portfolio.releases),
        requests=sorted(portfolio.requests, key=lambda r: (r.customer_id, r.feature_id)),
        feedback=by_id(portfolio.feedback),
    )


# -- the store ------------------------------------------------------------------------------------


class GraphStore(ReadModels):
    """The portfolio graph on one database of an async driver. Managed transactions only."""

    def __init__(
        self,
        driver: AsyncDriver,
        database: str = "neo4j",
        *,
        batch_size: int | None = None,
        single_transaction_rows: int | None = None,
        write_concurrency: int = 1,
        query_observer: QueryObserver | None = None,
        lease_seconds: float | None = None,
    ) -> None:
        """`batch_size` and `single_transaction_rows` default to `LODESTAR_IMPORT_BATCH_SIZE` and
        `LODESTAR_IMPORT_SINGLE_TRANSACTION_ROWS`, else `DEFAULT_BATCH_SIZE` and `SINGLE_TRANSACTION_ROWS`;
        `lease_seconds`, how long a staged import's markers stay its own without a write (see the module
        docstring), to `LODESTAR_IMPORT_LEASE_S`, else `DEFAULT_LEASE_SECONDS`."""
        if lease_seconds is None:
            lease_seconds = _seconds_from_env(LEASE_ENV, DEFAULT_LEASE_SECONDS)
        if not lease_seconds > 0:
            raise ValueError("lease_seconds must be more than 0")
        if batch_size is None:
            batch_size = _count_from_env(BATCH_SIZE_ENV, DEFAULT_BATCH_SIZE)
        if single_transaction_rows is None:
            single_transaction_rows = _count_from_env(SINGLE_TRANSACTION_ROWS_ENV, SINGLE_TRANSACTION_ROWS)
        if batch_size < 1 or write_concurrency < 1:
            raise ValueError("batch_size and write_concurrency must be at least 1")
        super().__init__(CypherRunner(driver, database, observer=query_observer))
        self.batch_size = batch_size
        self.single_transaction_rows = single_transaction_rows
        self.write_concurrency = write_concurrency
        self.lease_seconds = lease_seconds
        self._import_lock = asyncio.Lock()

    # -- schema -----------------------------------------------------------------------------------

    async def ensure_schema(self) -> None:
        """Create the uniqueness constraints and indexes that are missing, and the portfolio's revision
        token if there is none yet (idempotent)."""
        for statement in queries.SCHEMA_STATEMENTS:

            async def work(tx: AsyncManagedTransaction, statement: Query = statement) -> None:
                await (await self.cypher.run(tx, statement)).consume()

            await self._write(work)

        async def ensure_revision(tx: AsyncManagedTransaction) -> None:
            await (await self.cypher.run(tx, queries.ENSURE_REVISION, token=uuid.uuid4().hex)).consume()

        await self._write(ensure_revision)

    async def _write(self, work: UnitOfWork[T]) -> T:
        """A write transaction; an import re-plans after a `ConstraintError` itself, so it is not re-run here."""
        return await self.cypher.write(work, conflict_attempts=1)

    async def schema_names(self) -> set[str]:
        """Names of the constraints and indexes the database reports."""
        constraints = await self._fetch(queries.SHOW_CONSTRAINTS)
        indexes = await self._fetch(queries.SHOW_INDEXES)
        return {record["name"] for record in constraints} | {record["name"] for record in indexes}

    # -- import -----------------------------------------------------------------------------------

    async def import_portfolio(self, portfolio: Portfolio) -> ImportSummary:
        """Validate, diff against the graph and write the difference; see the module docstring.

        Raises `PortfolioValidationError` (and writes nothing) if a field breaks its model's rules
        (possible with `model_construct`) or an integrity rule is broken (`ensure_valid`). Raises
        `ImportInProgressError` (and writes nothing) while another process's staged import is alive, and
        `ImportSupersededError` when this one's lease lapsed and another import rolled it back.
        """
        started = time.perf_counter()
        check_portfolio(portfolio)
        desired = DesiredState.of(portfolio)
        validated = time.perf_counter() - started
        async with self._import_lock:
            recovery: ImportRecovery | None = None
            attempt = 1
            while True:
                # A fresh lease per attempt: an attempt that failed part-way is the next one's to roll back.
                with holding(ImportLease.new()) as lease:
                    try:
                        recovered = await recover_interrupted_import(
                            self.cypher, _CLEAR_BATCH, lease, self.lease_seconds
                        )
                        if attempt == 1:
                            recovery = recovered
                        if desired.rows <= self.single_transaction_rows:
                            summary = await self._import_in_one_transaction(desired)
                        else:
                            summary = await self._import_in_batches(desired, lease)
                    except (ConstraintError, _PlanOutdated) as conflict:
                        # A node this import planned to create appeared meanwhile, or the portfolio
                        # changed before its first write (a concurrent writer): nothing of a failed
                        # transaction stays, and the next attempt's recovery rolls back what this one
                        # staged; re-read the state and plan again.
                        if attempt == _CONFLICT_ATTEMPTS:
                            if isinstance(conflict, _PlanOutdated):
                                raise GraphImportError(
                                    "the portfolio kept changing while this import read it; run it again"
                                ) from None
                            raise
                        attempt += 1
                        continue
                if recovery is not None:
                    summary.finished_interrupted_import = recovery.revision
                    summary.interrupted_import_outcome = recovery.outcome
                summary.phase_seconds = {"validate": validated, **summary.phase_seconds}
                summary.seconds = time.perf_counter() - started
                return summary

    async def _import_in_one_transaction(self, desired: DesiredState) -> ImportSummary:
        async def work(tx: AsyncManagedTransaction) -> ImportPlan:
            timer = PhaseTimer()  # a fresh one per attempt: execute_write may retry
            with timer.phase("read_state"):
                current = await self._read_state(tx, desired, self.cypher.records)
            with timer.phase("plan"):
                plan = plan_import(desired, current)

            async def in_this_transaction(units: Sequence[UnitOfWork[None]]) -> None:
                for unit in units:
                    await unit(tx)

            running = await read_revision_state_in(self.cypher, tx)
            if (staged := running.pending or running.settling) is not None:
                # A staged import started after this one's recovery: it is alive. (One that starts
                # later writes the revision node, so this transaction's commit, which writes it too,
                # conflicts and is retried here, where it sees the marker.)
                raise ImportInProgressError(staged, committed=running.pending is None)
            await self._apply(plan, in_this_transaction, timer)
            if plan.summary.changed:
                plan.summary.revision = await self._mark_revision(tx, plan.summary)
            plan.summary.phase_seconds = timer.seconds
            return plan

        plan = await self._write(work)
        plan.summary.transactions = 1
        plan.summary.single_transaction = True
        return plan.summary

    async def _import_in_batches(self, desired: DesiredState, lease: ImportLease) -> ImportSummary:
        """Staged under the revision it will become, switched in its last transaction (`graph.staging_statements`),
        every transaction fenced by `lease`."""
        timer = PhaseTimer()
        with timer.phase("read_state"):
            planned_against = await self.revision()
            nonempty = await self._nonempty_types()

            async def fetch(_: AsyncManagedTransaction | None, query: Query, **params: Any) -> list[Record]:
                return await self._fetch(query, **params)

            current = await self._read_state(None, desired, fetch, nonempty)
        with timer.phase("plan"):
            plan = plan_import(desired, current)
        transactions = 0
        if plan.summary.changed:
            revision = uuid.uuid4().hex
            marked = await self._write(self._staging_marker(revision, desired.rows, lease, planned_against))
            if marked is None:
                state = await self.revision_state()
                if (running := state.pending or state.settling) is not None:
                    raise ImportInProgressError(running, committed=state.pending is None)
                raise _PlanOutdated  # a single-transaction import committed since the state was read
            sequence = marked
            staged = _Staged(revision=revision, sequence=sequence, lease=lease)
            transactions = 1 + await self._stage(plan, staged, timer)
            with timer.phase("commit"):
                await self._write(self._commit(plan, staged))
            with timer.phase("settle"):
                transactions += 1 + await self._settle(plan, staged)
            plan.summary.revision = revision
        plan.summary.phase_seconds = timer.seconds
        plan.summary.transactions = transactions
        plan.summary.single_transaction = False
        return plan.summary

    async def _in_own_transactions(self, units: Sequence[UnitOfWork[None]]) -> None:
        """Independent units, each in a transaction of its own, `write_concurrency` at a time."""
        pending = iter(units)

        async def worker() -> None:
            for unit in pending:
                await self._write(unit)

        workers = min(self.write_concurrency, len(units))
        if workers <= 1:
            await worker()
            return
        try:
            async with asyncio.TaskGroup() as group:
                for _ in range(workers):
                    group.create_task(worker())
        except BaseExceptionGroup as failures:
            raise failures.exceptions[0] from None  # the others were cancelled because of it

    def _staging_marker(
        self, revision: str, rows: int, lease: ImportLease, planned_against: str | None
    ) -> UnitOfWork[int | None]:
        """Records the staged import as pending under `lease`; returns its number (`graph.staging_statements`),
        or None when another import is pending or settling, or the revision is no longer `planned_against`."""

        async def work(tx: AsyncManagedTransaction) -> int | None:
            since = datetime.now(UTC).isoformat(timespec="seconds")
            params = {
                "revision": revision,
                "since": since,
                "rows": rows,
                "token": planned_against or "",
                **lease.params(),
            }
            records = await self.cypher.records(tx, staging.MARK_STAGING, **params)
            return int(records[0]["sequence"]) if records else None

        return work

    def _fenced(self, staged: _Staged, unit: UnitOfWork[None]) -> UnitOfWork[None]:
        """`unit` after the fence: in a transaction that writes nothing once the lease is another's."""

        async def work(tx: AsyncManagedTransaction) -> None:
            await fence(self.cypher, tx, staged.lease, staged.revision)
            await unit(tx)

        return work

    async def _stage(self, plan: ImportPlan, staged_import: _Staged, timer: PhaseTimer) -> int:
        """Write what readers must not see yet: retirements, then new nodes, then new relationships.
        Returns the number of transactions.

        A relationship whose properties change is retired and created anew; node property changes wait
        for the commit (`_commit`)."""
        size = self.batch_size
        staged = _staged_relationships(plan)
        sequence = staged_import.sequence
        transactions = 0

        async def execute(units: Sequence[UnitOfWork[None]]) -> None:
            nonlocal transactions
            await self._in_own_transactions([self._fenced(staged_import, unit) for unit in units])
            transactions += len(units)

        with timer.phase("delete_relationships"):
            units: list[UnitOfWork[None]] = []
            for spec in RELATIONSHIPS:
                for chunk in _chunks(staged[spec.type][1], size):
                    expected = sum(row["copies"] for row in chunk)
                    units.append(
                        self._checked_write(
                            staging.RETIRE_RELATIONSHIPS[spec.type],
                            "properties_set",
                            expected,
                            rows=list(chunk),
                            sequence=sequence,
                        )
                    )
            await execute(units)
        with timer.phase("nodes"):
            for label in PORTFOLIO_LABELS:
                await execute(
                    [
                        self._checked_write(
                            staging.CREATE_NODES[label],
                            "nodes_created",
                            len(chunk),
                            rows=list(chunk),
                            sequence=sequence,
                        )
                        for chunk in _chunks(plan.node_creates[label], size)
                    ]
                )
        with timer.phase("relationships"):
            for spec in RELATIONSHIPS:
                await execute(
                    [
                        self._checked_write(
                            staging.CREATE_RELATIONSHIPS[spec.type],
                            "relationships_created",
                            sum(len(group["rows"]) for group in groups),
                            groups=groups,
                            sequence=sequence,
                        )
                        for groups in group_by_end(staged[spec.type][0], size)
                    ]
                )
        return transactions

    def _commit(self, plan: ImportPlan, staged: _Staged) -> UnitOfWork[None]:
        """The switch: node property changes, the new token and number, in one transaction, if the lease
        is still this import's (else `ImportSupersededError`, and the transaction is rolled back)."""

        async def work(tx: AsyncManagedTransaction) -> None:
            for label in PORTFOLIO_LABELS:
                for chunk in _chunks(plan.node_updates[label], self.batch_size):
                    await self._checked_write(queries.UPDATE_NODES[label], None, 0, rows=list(chunk))(tx)
            summary = plan.summary
            changes = PortfolioChangeCounts(nodes=summary.nodes, relationships=summary.relationships)
            params = {
                "revision": staged.revision,
                "sequence": staged.sequence,
                "changed_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "changes": changes.model_dump_json(),
                "lease": staged.lease.id,
                "heartbeat": staged.lease.params()["heartbeat"],
            }
            if not await self.cypher.records(tx, staging.COMMIT, **params):
                raise ImportSupersededError(staged.revision)

        return work

    async def _settle(self, plan: ImportPlan, staged_import: _Staged) -> int:
        """After the commit: the retired relationships deleted; readers see no change.
        Returns the number of transactions. Should the lease lapse meanwhile, the import that took it
        over finishes settling, and this one stops."""
        staged = _staged_relationships(plan)
        units: list[UnitOfWork[None]] = []
        for spec in RELATIONSHIPS:
            pairs = [{"start": row["start"], "end": row["end"]} for row in staged[spec.type][1]]
            for chunk in _chunks(pairs, self.batch_size):
                query = staging.PURGE_RETIRED[spec.type]
                unit = self._checked_write(query, None, 0, rows=list(chunk), sequence=staged_import.sequence)
                units.append(self._fenced(staged_import, unit))

        async def settled(tx: AsyncManagedTransaction) -> None:
            params = {"revision": staged_import.revision, "lease": staged_import.lease.id}
            await (await self.cypher.run(tx, staging.SETTLED, **params)).consume()

        try:
            await self._in_own_transactions(units)
        except ImportSupersededError:
            return len(units)  # committed, and visible; the import that took the lease over settles it
        await self._write(settled)
        return len(units) + 1

    async def _mark_revision(self, tx: AsyncManagedTransaction, summary: ImportSummary) -> str:
        """A fresh revision token for the portfolio (`graph.vocabulary.PORTFOLIO_REVISION_LABEL`), with
        when this import committed and what it changed (`last_change`)."""
        token = uuid.uuid4().hex
        changes = PortfolioChangeCounts(nodes=summary.nodes, relationships=summary.relationships)
        params = {
            "token": token,
            "changed_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "changes": changes.model_dump_json(),
        }
        await (await self.cypher.run(tx, queries.MARK_REVISION, **params)).consume()
        return token

    async def last_change(self) -> PortfolioChange | None:
        """When the last import that changed the portfolio committed and what it changed; None before
        any did (or when the graph was written by a version that did not record it)."""

        async def work(tx: AsyncManagedTransaction) -> PortfolioChange | None:
            records = await self.cypher.records(tx, queries.READ_LAST_CHANGE)
            if not records or records[0]["changed_at"] is None or records[0]["changes"] is None:
                return None
            counts = PortfolioChangeCounts.model_validate_json(records[0]["changes"])
            changed_at = datetime.fromisoformat(records[0]["changed_at"])
            return PortfolioChange(
                changed_at=changed_at, nodes=counts.nodes, relationships=counts.relationships
            )

        return await self.cypher.read(work)

    async def portfolio_totals(self) -> PortfolioTotals:
        """How many customers and their total ARR, features per status, and the revision they were
        read at (all in one transaction)."""

        async def work(tx: AsyncManagedTransaction) -> PortfolioTotals:
            revision = await self.cypher.records(tx, queries.READ_REVISION)
            customers = (await self.cypher.records(tx, queries.TOTAL_CUSTOMER_ARR))[0]
            statuses = await self.cypher.records(tx, queries.FEATURES_BY_STATUS)
            return PortfolioTotals(
                revision=revision[0]["token"] if revision else None,
                customers=int(customers["customers"]),
                total_arr=float(customers["total_arr"]),
                features_by_status={str(record["status"]): int(record["count"]) for record in statuses},
            )

        return await self.cypher.read(work)

    async def interrupted_import(self) -> InterruptedImport | None:
        """The import in several transactions that started writing and did not commit, if any (its
        `import_id` is the revision it writes under). Readers do not see it; the next import rolls it back
        once its holder is dead (`graph.import_recovery.is_stale`).

        While one runs this reports it too; a store runs one import at a time, so from this store's
        side any import reported here outside `import_portfolio` was interrupted.
        """
        pending = (await self.revision_state()).pending
        if pending is None:
            return None
        return InterruptedImport(import_id=pending.revision, since=pending.since, rows=pending.rows)

    async def revision_state(self) -> RevisionState:
        """The committed token, a staged import pending or settling, and the last recovery (`ImportRecovery`)."""
        return await read_revision_state(self.cypher)

    async def last_recovery(self) -> ImportRecovery | None:
        """The last interrupted import that a later one rolled back or finished, and when."""
        return (await self.revision_state()).recovered

    async def revision(self) -> str | None:
        """The portfolio's revision token; None before any import changed it."""

        async def work(tx: AsyncManagedTransaction) -> str | None:
            records = [record async for record in await self.cypher.run(tx, queries.READ_REVISION)]
            return records[0]["token"] if records else None

        return await self.cypher.read(work)

    async def _nonempty_types(self) -> set[str]:
        """Labels and relationship types present in the graph: the state of the others need not be read."""
        counts = await self.physical_counts()
        return {name for name, count in counts.items() if count > 0}

    async def physical_counts(self) -> dict[str, int]:
        """Portfolio nodes per label and relationships per type as stored, visible to readers or not
        (`counts()` is what readers see): after a completed import the two are equal."""

        async def work(tx: AsyncManagedTransaction) -> dict[str, int]:
            counts: dict[str, int] = {}
            for label, query in staging.PHYSICAL_NODE_COUNT.items():
                counts[label.value] = int((await self.cypher.records(tx, query))[0]["count"])
            for rel_type, query in staging.PHYSICAL_RELATIONSHIP_COUNT.items():
                counts[rel_type.value] = int((await self.cypher.records(tx, query))[0]["count"])
            return counts

        return await self.cypher.read(work)

    async def _read_state(
        self,
        tx: AsyncManagedTransaction | None,
        desired: DesiredState,
        fetch: Callable[..., Awaitable[list[Record]]],
        nonempty: set[str] | None = None,
    ) -> CurrentState:
        state = CurrentState()
        for label in PORTFOLIO_LABELS:
            ids = list(desired.nodes[label])
            found: dict[str, Properties] = {}
            if ids and (nonempty is None or label.value in nonempty):
                for chunk in _chunks(ids, _STATE_READ_CHUNK):
                    for record in await fetch(tx, queries.NODE_STATE[label], ids=list(chunk)):
                        found[record["id"]] = _stored_properties(record["props"])
            state.nodes[label] = found
        for spec in RELATIONSHIPS:
            ids = desired.owner_ids(spec)
            pairs: dict[Pair, list[Properties]] = defaultdict(list)
            if ids and (nonempty is None or spec.type.value in nonempty):
                for chunk in _chunks(ids, _STATE_READ_CHUNK):
                    for record in await fetch(tx, queries.RELATIONSHIP_STATE[spec.type], ids=list(chunk)):
                        owner = record["owner"]
                        for other, properties in record["links"]:
                            pair = (owner, other) if spec.owner_is_start else (other, owner)
                            pairs[pair].append(_stored_properties(properties))
            state.relationships[spec.type] = dict(pairs)
        return state

    async def _apply(
        self,
        plan: ImportPlan,
        execute: Callable[[Sequence[UnitOfWork[None]]], Awaitable[None]],
        timer: PhaseTimer,
    ) -> None:
        """Run the plan's writes phase by phase: stale relationships, nodes, then new relationships.

        `execute` runs a list of independent units of work, in the caller's transaction or each in
        a transaction of its own. Units within a phase touch disjoint rows; phases run in order.
        """
        size = self.batch_size
        with timer.phase("delete_relationships"):
            units: list[UnitOfWork[None]] = []
            for spec in RELATIONSHIPS:
                query = queries.DELETE_RELATIONSHIPS[spec.type]
                for chunk in _chunks(plan.relationship_deletes[spec.type], size):
                    expected = sum(row["copies"] for row in chunk)
                    units.append(
                        self._checked_write(query, "relationships_deleted", expected, rows=list(chunk))
                    )
            await execute(units)
        with timer.phase("nodes"):
            for label in PORTFOLIO_LABELS:
                units = [
                    self._checked_write(
                        queries.CREATE_NODES[label], "nodes_created", len(chunk), rows=list(chunk)
                    )
                    for chunk in _chunks(plan.node_creates[label], size)
                ]
                units += [
                    self._checked_write(queries.UPDATE_NODES[label], None, 0, rows=list(chunk))
                    for chunk in _chunks(plan.node_updates[label], size)
                ]
                await execute(units)
        with timer.phase("relationships"):
            for spec in RELATIONSHIPS:
                query = queries.CREATE_RELATIONSHIPS[spec.type]
                units = [
                    self._checked_write(
                        query,
                        "relationships_created",
                        sum(len(group["rows"]) for group in groups),
                        groups=groups,
                    )
                    for groups in group_by_end(plan.relationship_creates[spec.type], size)
                ]
                updates = plan.relationship_updates[spec.type]
                if updates:
                    update = queries.UPDATE_RELATIONSHIPS[spec.type]
                    units += [
                        self._checked_write(update, None, 0, rows=list(chunk))
                        for chunk in _chunks(updates, size)
                    ]
                await execute(units)

    def _checked_write(
        self, query: Query, counter: str | None, expected: int, **params: Any
    ) -> UnitOfWork[None]:
        """A unit of work running `query` and checking that the graph reports `expected` `counter`s."""

        async def work(tx: AsyncManagedTransaction) -> None:
            summary = await (await self.cypher.run(tx, query, **params)).consume()
            if counter is not None and (done := getattr(summary.counters, counter)) != expected:
                raise GraphImportError(
                    f"{query.name}: planned {expected} {counter}, the graph reports {done}"
                )

        return work

    # -- maintenance ------------------------------------------------------------------------------

    async def clear(self) -> None:
        """Delete every relationship, then every node, in batches (one transaction per batch)."""
        for query in (queries.DELETE_RELATIONSHIP_BATCH, queries.DELETE_NODE_BATCH):
            while True:

                async def work(tx: AsyncManagedTransaction, query: Query = query) -> int:
                    record = await (await self.cypher.run(tx, query, limit=_CLEAR_BATCH)).single(strict=True)
                    return int(record["deleted"])

                if await self._write(work) == 0:
                    break

    async def merge_portfolio_naive(self, portfolio: Portfolio) -> dict[str, float]:
        """The baseline the benchmark compares against: MERGE every node and relationship, no diff.

        Returns the wall seconds spent on nodes and on relationships.
        """
        check_portfolio(portfolio)
        desired = DesiredState.of(portfolio)
        size = self.batch_size
        timer = PhaseTimer()
        with timer.phase("nodes"):
            for label in PORTFOLIO_LABELS:
                for chunk in _chunks(list(desired.nodes[label].values()), size):
                    await self._write(
                        self._checked_write(queries.MERGE_NODES[label], None, 0, rows=list(chunk))
                    )
        with timer.phase("relationships"):
            for spec in RELATIONSHIPS:
                rows = [
                    {"start": s, "end": e, **props}
                    for (s, e), props in desired.relationships[spec.type].items()
                ]
                for chunk in _chunks(rows, size):
                    query = queries.MERGE_RELATIONSHIPS[spec.type]
                    await self._write(self._checked_write(query, None, 0, rows=list(chunk)))
        return timer.seconds
