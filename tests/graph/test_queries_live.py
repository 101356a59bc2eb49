"""Every Cypher statement in graph.portfolio_statements runs against the live database at least once.

The store reports each statement it runs to its query observer; the test drives every public
operation and then requires that the set of statements run equals `portfolio_statements.STATEMENTS`. A
statement added there without a path that runs it here fails this test.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import TypeVar

import pytest

from graph import portfolio_statements, staging_statements
from graph.portfolio import Customer, Feature, Objective, Portfolio, Product, Release, Team
from graph.store import GraphStore, normalise_portfolio
from tests.conftest import build_tiny_portfolio

pytestmark = pytest.mark.integration


NamedT = TypeVar("NamedT", Product, Team, Feature, Customer, Objective, Release)


def renamed(items: Sequence[NamedT]) -> list[NamedT]:
    return [item.model_copy(update={"name": item.name + " v2"}) for item in items]


def everything_changed() -> Portfolio:
    """The tiny portfolio with one property changed on every label and one relationship of every
    type removed (and REQUESTS re-weighted), so the import runs every update and delete statement."""
    tiny = build_tiny_portfolio()

    features = {f.id: f for f in renamed(tiny.features)}
    features["f-1"] = features["f-1"].model_copy(
        update={"team_id": "t-2", "release_id": None}
    )  # OWNS, PLANNED_FOR
    features["f-2"] = features["f-2"].model_copy(update={"objective_ids": ["o-1"]})  # SUPPORTS
    features["f-3"] = features["f-3"].model_copy(update={"depends_on": ["f-2"]})  # DEPENDS_ON
    features["f-4"] = features["f-4"].model_copy(update={"product_id": "p-1"})  # PART_OF
    customers = [
        c.model_copy(update={"product_ids": ["p-1"]}) if c.id == "c-1" else c for c in renamed(tiny.customers)
    ]  # USES
    releases = [
        r.model_copy(update={"product_id": None}) if r.id == "r-1" else r for r in renamed(tiny.releases)
    ]
    requests = [
        r.model_copy(update={"weight": 4.0}) if (r.customer_id, r.feature_id) == ("c-1", "f-2") else r
        for r in tiny.requests
        if (r.customer_id, r.feature_id) != ("c-2", "f-4")
    ]  # REQUESTS: one updated, one deleted
    feedback = [
        f.model_copy(update={"customer_id": "c-2", "feature_id": None, "text": f.text + "!"})
        if f.id == "fb-1"
        else f.model_copy(update={"text": f.text + "!"})
        for f in tiny.feedback
    ]  # FROM, ABOUT
    return Portfolio(
        products=renamed(tiny.products),
        teams=renamed(tiny.teams),
        features=list(features.values()),
        customers=customers,
        objectives=renamed(tiny.objectives),
        releases=releases,
        requests=requests,
        feedback=feedback,
    )


async def test_every_query_runs_against_the_live_database(graph_store: GraphStore) -> None:
    executed: set[str] = set()
    store = GraphStore(
        graph_store.driver, graph_store.database, query_observer=lambda query: executed.add(query.name)
    )

    await store.ensure_schema()
    assert {
        "feature_id_unique",
        "customer_id_unique",
        "feature_status",
        "customer_segment",
    } <= await store.schema_names()

    tiny = build_tiny_portfolio()
    await store.import_portfolio(tiny)
    changed = everything_changed()
    summary = await store.import_portfolio(changed)
    assert all(summary.nodes[label].updated > 0 for label in summary.nodes)
    assert all(changes.deleted > 0 for changes in summary.relationships.values())
    assert await store.portfolio_snapshot() == normalise_portfolio(changed)

    store.single_transaction_rows = 0  # the batched path also counts what the graph holds first
    assert not (await store.import_portfolio(changed)).changed

    assert (await store.product_features("p-1"))[0].id == "f-1"
    assert (await store.team_capacity("t-1")) is not None
    assert len(await store.feature_demand()) == 4
    assert len(await store.feature_demand(["f-2"])) == 1
    assert [c.id for c in await store.customers_affected(["f-2"])] == ["c-1", "c-2"]
    assert await store.get_nodes(["f-1", "c-1"]) == {"f-1": "Feature", "c-1": "Customer"}
    assert (await store.counts())["Feature"] == 4
    assert await store.revision() is not None
    assert (await store.import_portfolio(tiny)).changed  # batched and changing: recorded as pending first
    assert await store.interrupted_import() is None  # and cleared by its last transaction
    last_change = await store.last_change()
    assert last_change is not None and last_change.nodes["Feature"].updated == len(tiny.features)
    totals = await store.portfolio_totals()
    assert (totals.customers, totals.total_arr) == (len(tiny.customers), sum(c.arr for c in tiny.customers))
    assert totals.revision == await store.revision()
    assert totals.features_by_status == Counter(feature.status.value for feature in tiny.features)

    await store.clear()
    await store.merge_portfolio_naive(tiny)
    assert await store.portfolio_snapshot() == normalise_portfolio(tiny)
    await store.clear()

    defined = {query.name for query in portfolio_statements.STATEMENTS}
    assert defined - executed == set(), "queries never run against the live database"
    staged = {query.name for query in staging_statements.STATEMENTS}  # tests/graph/test_staged_import.py
    assert executed - staged <= defined
