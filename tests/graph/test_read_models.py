"""Read models against the live database, with the tiny portfolio of tests/conftest.py checked by hand."""

from __future__ import annotations

from datetime import date

import pytest

from graph.portfolio import FeatureStatus, Segment
from graph.read_models import AffectedCustomer, FeatureDemand
from graph.store import GraphStore, normalise_portfolio
from tests.conftest import TINY_NODE_COUNTS, TINY_RELATIONSHIP_COUNTS, build_tiny_portfolio

pytestmark = pytest.mark.integration


@pytest.fixture
async def tiny_store(graph_store: GraphStore) -> GraphStore:
    await graph_store.import_portfolio(build_tiny_portfolio())
    return graph_store


async def test_product_features_carry_dependencies_owner_objectives_and_release(
    tiny_store: GraphStore,
) -> None:
    features = await tiny_store.product_features("p-1")

    assert [feature.id for feature in features] == ["f-1", "f-2", "f-3"]
    sso = features[1]
    assert (sso.name, sso.status, sso.effort_likely, sso.progress) == (
        "SSO",
        FeatureStatus.IN_PROGRESS,
        4.0,
        0.25,
    )
    assert (sso.target_date, sso.priority, sso.reach, sso.impact, sso.confidence) == (
        date(2026, 9, 30),
        1,
        500.0,
        2.0,
        0.8,
    )
    assert (sso.product_id, sso.team_id, sso.team_name, sso.release_id) == ("p-1", "t-1", "Core", "r-1")
    assert sso.depends_on == ["f-1"]
    assert sso.objective_ids == ["o-1", "o-2"]  # stored as given (o-2, o-1), returned sorted
    assert features[2].depends_on == ["f-1", "f-2"]
    assert features[2].release_id is None and features[2].objective_ids == []

    unowned = await tiny_store.product_features("p-2")
    assert [(f.id, f.team_id, f.team_name) for f in unowned] == [("f-4", None, None)]
    assert await tiny_store.product_features("p-404") == []


async def test_team_capacity_and_open_work(tiny_store: GraphStore) -> None:
    core = await tiny_store.team_capacity("t-1")

    assert core is not None
    assert (core.team.name, core.team.headcount, core.team.capacity) == ("Core", 4, 3.0)
    assert core.team.throughput_history == [2.0, 3.0, 4.0]
    assert core.owned_feature_ids == ["f-1", "f-2", "f-3"]
    assert core.open_feature_ids == ["f-2", "f-3"]  # f-1 is done
    # f-2: 4.0 * (1 - 0.25) = 3.0; f-3: 5.0 * (1 - 0) = 5.0; total 8.0 person-weeks
    assert core.remaining_effort_likely == pytest.approx(8.0)
    assert core.mean_throughput == pytest.approx(3.0)  # (2 + 3 + 4) / 3
    assert core.weeks_of_work == pytest.approx(8.0 / 3.0)

    edge = await tiny_store.team_capacity("t-2")
    assert edge is not None
    assert (edge.owned_feature_ids, edge.remaining_effort_likely) == ([], 0.0)
    assert (edge.mean_throughput, edge.weeks_of_work) == (None, None)  # no history; capacity 0

    assert await tiny_store.team_capacity("t-404") is None


async def test_feature_demand_counts_and_weights_by_arr(tiny_store: GraphStore) -> None:
    # f-2: c-1 200,000 x 2.0 + c-2 50,000 x 0.5 = 425,000 (2 requests)
    # f-3: c-1 200,000 x 1.0 = 200,000 (1 request)
    # f-4: c-2 50,000 x 3.0 + c-3 10,000 x 1.0 = 160,000 (2 requests)
    # f-1: no requests
    expected = [
        FeatureDemand(feature_id="f-2", name="SSO", request_count=2, arr_weighted_demand=425_000.0),
        FeatureDemand(feature_id="f-3", name="Audit log", request_count=1, arr_weighted_demand=200_000.0),
        FeatureDemand(feature_id="f-4", name="Alert rules", request_count=2, arr_weighted_demand=160_000.0),
        FeatureDemand(feature_id="f-1", name="Login", request_count=0, arr_weighted_demand=0.0),
    ]
    assert await tiny_store.feature_demand() == expected
    assert await tiny_store.feature_demand(["f-4", "f-1", "f-404", "f-4"]) == [expected[2], expected[3]]
    assert await tiny_store.feature_demand([]) == []


async def test_customers_affected_by_a_set_of_features(tiny_store: GraphStore) -> None:
    affected = await tiny_store.customers_affected(["f-2", "f-4"])

    # c-1 requested f-2; c-2 requested f-2 and f-4; c-3 requested f-4. Sorted by ARR, largest first.
    assert [(c.id, c.requested_feature_ids) for c in affected] == [
        ("c-1", ["f-2"]),
        ("c-2", ["f-2", "f-4"]),
        ("c-3", ["f-4"]),
    ]
    acme = affected[0]
    assert acme == AffectedCustomer(
        id="c-1",
        name="Acme",
        arr=200_000.0,
        segment=Segment.ENTERPRISE,
        renewal_date=date(2026, 12, 31),
        health=0.4,
        product_ids=["p-1", "p-2"],
        requested_feature_ids=["f-2"],
    )
    assert [c.id for c in await tiny_store.customers_affected(["f-3"])] == ["c-1"]
    assert await tiny_store.customers_affected(["f-1"]) == []


async def test_snapshot_equals_the_normalised_document(tiny_store: GraphStore) -> None:
    snapshot = await tiny_store.portfolio_snapshot()

    assert snapshot == normalise_portfolio(build_tiny_portfolio())
    assert [p.id for p in snapshot.products] == ["p-1", "p-2"]
    assert [(r.customer_id, r.feature_id) for r in snapshot.requests] == [
        ("c-1", "f-2"),
        ("c-1", "f-3"),
        ("c-2", "f-2"),
        ("c-2", "f-4"),
        ("c-3", "f-4"),
    ]
    release_two = next(r for r in snapshot.releases if r.id == "r-2")
    assert release_two.product_id is None
    feedback_two = next(f for f in snapshot.feedback if f.id == "fb-2")
    assert (feedback_two.customer_id, feedback_two.feature_id, feedback_two.created_at) == (
        "c-3",
        None,
        date(2026, 3, 1),
    )


async def test_counts_cover_every_label_and_type(tiny_store: GraphStore) -> None:
    counts = await tiny_store.counts()
    assert {name: counts[name] for name in TINY_NODE_COUNTS} == TINY_NODE_COUNTS
    assert {name: counts[name] for name in TINY_RELATIONSHIP_COUNTS} == TINY_RELATIONSHIP_COUNTS
    assert sum(counts.values()) == 17 + 28  # nothing else: result labels and types are all zero


async def test_get_nodes_reports_the_label_of_each_id_found(tiny_store: GraphStore) -> None:
    found = await tiny_store.get_nodes(["f-2", "c-3", "t-1", "o-2", "r-1", "fb-1", "p-2", "ghost", "f-2"])
    assert found == {
        "f-2": "Feature",
        "c-3": "Customer",
        "t-1": "Team",
        "o-2": "Objective",
        "r-1": "Release",
        "fb-1": "Feedback",
        "p-2": "Product",
    }
    assert await tiny_store.get_nodes([]) == {}
    assert await tiny_store.get_nodes(["ghost"]) == {}
