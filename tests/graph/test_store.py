"""GraphStore import: validation before any write, idempotence, update semantics, atomicity, batching."""

from __future__ import annotations

from datetime import date

import pytest

from graph import portfolio_statements as queries
from graph import staging_statements as staging
from graph.cypher import Query
from graph.demo import generate_portfolio
from graph.import_recovery import RecoveryOutcome
from graph.portfolio import Customer, Feature, Portfolio, Request
from graph.store import (
    CurrentState,
    DesiredState,
    EntityChanges,
    GraphStore,
    ImportSummary,
    group_by_end,
    normalise_portfolio,
    plan_import,
)
from graph.validation import PortfolioValidationError
from graph.vocabulary import NodeLabel, RelType
from tests.conftest import TINY_NODE_COUNTS, TINY_RELATIONSHIP_COUNTS, build_tiny_portfolio

ANCHOR = date(2026, 6, 1)
EMPTY_COUNTS = {name: 0 for name in [*(label.value for label in NodeLabel), *(t.value for t in RelType)]}


def changes(summary: ImportSummary, kind: str) -> dict[str, tuple[int, int, int, int]]:
    """(created, updated, deleted, unchanged) per label or type, leaving out the all-zero ones."""
    groups: dict[str, EntityChanges] = getattr(summary, kind)
    return {
        name: (c.created, c.updated, c.deleted, c.unchanged)
        for name, c in groups.items()
        if (c.created, c.updated, c.deleted, c.unchanged) != (0, 0, 0, 0)
    }


def updated_tiny() -> Portfolio:
    """The tiny portfolio, edited: see test_update_reconciles_properties_and_relationships."""
    tiny = build_tiny_portfolio()
    features = {feature.id: feature for feature in tiny.features}
    features["f-1"] = features["f-1"].model_copy(update={"team_id": "t-2"})
    features["f-2"] = features["f-2"].model_copy(update={"effort_likely": 5.0, "target_date": None})
    features["f-3"] = features["f-3"].model_copy(update={"depends_on": ["f-2"]})
    features["f-4"] = features["f-4"].model_copy(update={"team_id": "t-2"})
    features["f-5"] = Feature(
        id="f-5",
        name="Escalations",
        product_id="p-2",
        effort_low=1,
        effort_likely=2,
        effort_high=3,
        depends_on=["f-4"],
    )
    customers = [
        customer.model_copy(update={"product_ids": ["p-1", "p-2"]}) if customer.id == "c-2" else customer
        for customer in tiny.customers
    ]
    requests = [
        request.model_copy(update={"weight": 3.0})
        if (request.customer_id, request.feature_id) == ("c-1", "f-2")
        else request
        for request in tiny.requests
        if (request.customer_id, request.feature_id) != ("c-2", "f-4")
    ]
    requests.append(Request(customer_id="c-3", feature_id="f-2"))
    return tiny.model_copy(
        update={"features": list(features.values()), "customers": customers, "requests": requests}
    )


# -- pure planning ----------------------------------------------------------------------------------


def test_plan_against_an_empty_graph_creates_everything() -> None:
    plan = plan_import(DesiredState.of(build_tiny_portfolio()), CurrentState())
    assert {label: len(rows) for label, rows in plan.node_creates.items()} == {
        NodeLabel(label): count for label, count in TINY_NODE_COUNTS.items()
    }
    assert {t.value: len(rows) for t, rows in plan.relationship_creates.items()} == TINY_RELATIONSHIP_COUNTS
    assert plan.writes == 17 + 28


def test_plan_deletes_parallel_duplicates_and_recreates_one() -> None:
    desired = DesiredState.of(build_tiny_portfolio())
    current = CurrentState(relationships={RelType.OF: {("r-1", "p-1"): [{}, {}]}})
    plan = plan_import(desired, current)
    assert plan.relationship_deletes[RelType.OF] == [{"start": "r-1", "end": "p-1", "copies": 2}]
    assert plan.relationship_creates[RelType.OF] == [{"start": "r-1", "end": "p-1"}]
    assert plan.summary.relationships["OF"] == EntityChanges(updated=1)


def test_group_by_end_splits_groups_to_respect_the_batch_size() -> None:
    rows = [{"start": f"s{i}", "end": "b", "w": i} for i in range(5)] + [{"start": "s9", "end": "a", "w": 9}]
    batches = list(group_by_end(rows, batch_size=2))
    # sorted by end id: a(1 row) then b(5 rows) in chunks of 2, 2, 1; batches hold at most 2 rows
    assert [[(group["key"], len(group["rows"])) for group in batch] for batch in batches] == [
        [("a", 1)],
        [("b", 2)],
        [("b", 2)],
        [("b", 1)],
    ]
    assert batches[0][0]["rows"] == [{"start": "s9", "w": 9}]


def test_normalise_sorts_collections_and_id_lists() -> None:
    normalised = normalise_portfolio(build_tiny_portfolio())
    assert [product.id for product in normalised.products] == ["p-1", "p-2"]
    assert next(f for f in normalised.features if f.id == "f-3").depends_on == ["f-1", "f-2"]
    assert next(c for c in normalised.customers if c.id == "c-1").product_ids == ["p-1", "p-2"]


# -- against the live database ---------------------------------------------------------------------


@pytest.mark.integration
async def test_import_writes_every_node_and_relationship(graph_store: GraphStore) -> None:
    tiny = build_tiny_portfolio()
    summary = await graph_store.import_portfolio(tiny)

    assert summary.single_transaction and summary.transactions == 1
    assert changes(summary, "nodes") == {label: (n, 0, 0, 0) for label, n in TINY_NODE_COUNTS.items()}
    assert changes(summary, "relationships") == {t: (n, 0, 0, 0) for t, n in TINY_RELATIONSHIP_COUNTS.items()}
    assert await graph_store.counts() == {**EMPTY_COUNTS, **TINY_NODE_COUNTS, **TINY_RELATIONSHIP_COUNTS}
    assert await graph_store.portfolio_snapshot() == normalise_portfolio(tiny)


@pytest.mark.integration
async def test_reimporting_the_same_document_changes_nothing(graph_store: GraphStore) -> None:
    tiny = build_tiny_portfolio()
    await graph_store.import_portfolio(tiny)
    counts_before = await graph_store.counts()
    snapshot_before = await graph_store.portfolio_snapshot()

    again = await graph_store.import_portfolio(tiny)

    assert not again.changed
    assert changes(again, "nodes") == {label: (0, 0, 0, n) for label, n in TINY_NODE_COUNTS.items()}
    assert changes(again, "relationships") == {t: (0, 0, 0, n) for t, n in TINY_RELATIONSHIP_COUNTS.items()}
    assert await graph_store.counts() == counts_before
    assert await graph_store.portfolio_snapshot() == snapshot_before


@pytest.mark.integration
async def test_update_reconciles_properties_and_relationships(graph_store: GraphStore) -> None:
    await graph_store.import_portfolio(build_tiny_portfolio())
    edited = updated_tiny()

    summary = await graph_store.import_portfolio(edited)

    # Features: f-5 new; f-2's effort and target date changed (the others changed relationships only).
    assert changes(summary, "nodes")["Feature"] == (1, 1, 0, 3)
    assert changes(summary, "nodes")["Customer"] == (0, 0, 0, 3)
    assert changes(summary, "relationships") == {
        "PART_OF": (1, 0, 0, 4),  # + f-5 -> p-2
        "DEPENDS_ON": (1, 0, 1, 2),  # + f-5 -> f-4, - f-3 -> f-1
        "OWNS": (2, 0, 1, 2),  # + t-2 -> f-1, + t-2 -> f-4, - t-1 -> f-1
        "SUPPORTS": (0, 0, 0, 3),
        "PLANNED_FOR": (0, 0, 0, 2),
        "USES": (1, 0, 0, 4),  # + c-2 -> p-2
        "REQUESTS": (1, 1, 1, 3),  # + c-3 -> f-2, weight of c-1 -> f-2, - c-2 -> f-4
        "FROM": (0, 0, 0, 2),
        "ABOUT": (0, 0, 0, 1),
        "OF": (0, 0, 0, 1),
    }
    snapshot = await graph_store.portfolio_snapshot()
    assert snapshot == normalise_portfolio(edited)
    assert next(f for f in snapshot.features if f.id == "f-2").target_date is None  # the property was removed


@pytest.mark.integration
async def test_a_partial_document_governs_only_the_entities_it_contains(graph_store: GraphStore) -> None:
    tiny = build_tiny_portfolio()
    await graph_store.import_portfolio(tiny)
    renamed_atlas = next(p for p in tiny.products if p.id == "p-1").model_copy(update={"name": "Atlas One"})
    cobalt = next(c for c in tiny.customers if c.id == "c-3").model_copy(update={"product_ids": ["p-1"]})

    summary = await graph_store.import_portfolio(Portfolio(products=[renamed_atlas], customers=[cobalt]))

    assert changes(summary, "nodes") == {"Product": (0, 1, 0, 0), "Customer": (0, 0, 0, 1)}
    # c-3 now uses p-1 instead of p-2, and (the document listing none) requests nothing any more.
    assert changes(summary, "relationships") == {"USES": (1, 0, 1, 0), "REQUESTS": (0, 0, 1, 0)}
    expected = tiny.model_copy(
        update={
            "products": [renamed_atlas, *(p for p in tiny.products if p.id != "p-1")],
            "customers": [cobalt, *(c for c in tiny.customers if c.id != "c-3")],
            "requests": [r for r in tiny.requests if r.customer_id != "c-3"],
        }
    )
    assert await graph_store.portfolio_snapshot() == normalise_portfolio(expected)


def _unknown_reference() -> Portfolio:
    tiny = build_tiny_portfolio()
    features = [f.model_copy(update={"product_id": "p-9"}) if f.id == "f-4" else f for f in tiny.features]
    return tiny.model_copy(update={"features": features})


def _cycle() -> Portfolio:
    tiny = build_tiny_portfolio()
    features = [f.model_copy(update={"depends_on": ["f-3"]}) if f.id == "f-1" else f for f in tiny.features]
    return tiny.model_copy(update={"features": features})


def _negative_effort() -> Portfolio:
    tiny = build_tiny_portfolio()
    # model_construct skips the field rules, as a careless caller could; the store must still refuse.
    broken = Feature.model_construct(**{**tiny.features[3].__dict__, "effort_low": -1.0})
    return tiny.model_copy(update={"features": [*tiny.features[:3], broken]})


def _negative_arr() -> Portfolio:
    tiny = build_tiny_portfolio()
    broken = Customer.model_construct(**{**tiny.customers[2].__dict__, "arr": -5.0})
    return tiny.model_copy(update={"customers": [*tiny.customers[:2], broken]})


def _duplicate_ids() -> Portfolio:
    tiny = build_tiny_portfolio()
    return tiny.model_copy(
        update={"customers": [*tiny.customers, tiny.customers[0].model_copy(update={"name": "Twin"})]}
    )


INVALID_DOCUMENTS = {
    "unknown reference": (_unknown_reference, "references unknown product 'p-9'"),
    "cycle": (_cycle, "dependency cycle"),
    "negative effort": (_negative_effort, "effort_low"),
    "negative ARR": (_negative_arr, "arr"),
    "duplicate ids": (_duplicate_ids, "duplicate customer id 'c-1'"),
}


@pytest.mark.integration
@pytest.mark.parametrize("case", INVALID_DOCUMENTS)
async def test_an_invalid_document_writes_nothing_to_an_empty_graph(
    graph_store: GraphStore, case: str
) -> None:
    build, message = INVALID_DOCUMENTS[case]
    with pytest.raises(PortfolioValidationError, match=message):
        await graph_store.import_portfolio(build())
    assert await graph_store.counts() == EMPTY_COUNTS


@pytest.mark.integration
@pytest.mark.parametrize("case", INVALID_DOCUMENTS)
async def test_an_invalid_document_leaves_the_graph_unchanged(graph_store: GraphStore, case: str) -> None:
    build, message = INVALID_DOCUMENTS[case]
    await graph_store.import_portfolio(updated_tiny())
    before = await graph_store.portfolio_snapshot()
    with pytest.raises(PortfolioValidationError, match=message):
        await graph_store.import_portfolio(build())
    assert await graph_store.portfolio_snapshot() == before


class FailOn:
    """Fault injection through the store's query observer: raise when `name` is about to run."""

    def __init__(self, name: str, after: int = 0) -> None:
        self.name = name
        self.remaining = after
        self.armed = True

    def __call__(self, query: Query) -> None:
        if self.armed and query.name == self.name:
            if self.remaining == 0:
                self.armed = False
                raise RuntimeError(f"injected failure before {query.name}")
            self.remaining -= 1


@pytest.mark.integration
async def test_a_failure_in_the_single_transaction_leaves_nothing(graph_store: GraphStore) -> None:
    fail = FailOn(queries.CREATE_RELATIONSHIPS[RelType.REQUESTS].name)
    store = GraphStore(graph_store.driver, graph_store.database, query_observer=fail)
    with pytest.raises(RuntimeError, match="injected failure"):
        await store.import_portfolio(build_tiny_portfolio())
    # Nodes and the relationships written before the failure were rolled back with it.
    assert await graph_store.counts() == EMPTY_COUNTS


@pytest.mark.integration
async def test_batched_import_matches_the_document_and_a_rerun_rolls_back_an_interrupted_one(
    graph_store: GraphStore,
) -> None:
    portfolio = generate_portfolio(seed=11, scale="small", anchor=ANCHOR)
    # 120 features, 400 customers, 1,500 requests...: far above 500 rows, so batches of 400 rows.
    fail = FailOn(staging.CREATE_RELATIONSHIPS[RelType.REQUESTS].name, after=1)
    store = GraphStore(
        graph_store.driver,
        graph_store.database,
        batch_size=400,
        single_transaction_rows=500,
        query_observer=fail,
    )
    with pytest.raises(RuntimeError, match="injected failure"):
        await store.import_portfolio(portfolio)
    stored = await graph_store.physical_counts()
    assert stored["Customer"] == len(portfolio.customers)
    assert 0 < stored["REQUESTS"] < len(portfolio.requests)  # one batch of requests went in, staged
    assert await graph_store.counts() == EMPTY_COUNTS  # which readers do not see
    assert await graph_store.portfolio_snapshot() == Portfolio()
    interrupted = await graph_store.interrupted_import()
    assert interrupted is not None

    resumed = await store.import_portfolio(portfolio)

    assert not resumed.single_transaction and resumed.transactions > 1
    assert resumed.finished_interrupted_import == interrupted.import_id
    assert resumed.interrupted_import_outcome == RecoveryOutcome.ROLLED_BACK
    nodes = sum(count for collection, count in portfolio.counts().items() if collection != "requests")
    assert resumed.total("nodes") == EntityChanges(created=nodes)
    assert resumed.relationships["REQUESTS"] == EntityChanges(created=len(portfolio.requests))
    assert await graph_store.portfolio_snapshot() == normalise_portfolio(portfolio)
    assert await graph_store.physical_counts() == {
        name: count for name, count in (await graph_store.counts()).items() if name in stored
    }
    assert not (await store.import_portfolio(portfolio)).changed


@pytest.mark.integration
async def test_batched_updates_with_small_batches_and_two_writers(graph_store: GraphStore) -> None:
    store = GraphStore(
        graph_store.driver,
        graph_store.database,
        batch_size=3,
        single_transaction_rows=10,
        write_concurrency=2,
    )
    first = await store.import_portfolio(build_tiny_portfolio())
    assert not first.single_transaction
    summary = await store.import_portfolio(updated_tiny())
    assert changes(summary, "relationships")["REQUESTS"] == (1, 1, 1, 3)
    assert await graph_store.portfolio_snapshot() == normalise_portfolio(updated_tiny())


@pytest.mark.integration
async def test_clear_empties_the_graph(graph_store: GraphStore) -> None:
    await graph_store.import_portfolio(build_tiny_portfolio())
    await graph_store.clear()
    assert await graph_store.counts() == EMPTY_COUNTS
