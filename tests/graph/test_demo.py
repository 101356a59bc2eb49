"""The seeded demo generator: deterministic, valid, believable, and the right size."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta

import networkx as nx
import numpy as np
import pytest

from graph.demo import (
    ENTERPRISE_MIN_ARR,
    MID_MARKET_MIN_ARR,
    SCALES,
    VERBS,
    generate_portfolio,
    generate_portfolio_with_feedback_truth,
)
from graph.demo_feedback import split_feature_name
from graph.portfolio import FeatureStatus, Portfolio, Segment
from graph.validation import integrity_issues

ANCHOR = date(2025, 6, 15)


@pytest.fixture(scope="module")
def small() -> Portfolio:
    return generate_portfolio(seed=7, scale="small", anchor=ANCHOR)


@pytest.fixture(scope="module")
def medium() -> Portfolio:
    return generate_portfolio(seed=7, scale="medium", anchor=ANCHOR)


def test_same_arguments_give_the_same_portfolio(small: Portfolio) -> None:
    assert generate_portfolio(seed=7, scale="small", anchor=ANCHOR) == small
    other_seed = generate_portfolio(seed=8, scale="small", anchor=ANCHOR)
    assert other_seed != small
    assert [f.effort_likely for f in other_seed.features] != [f.effort_likely for f in small.features]


def test_anchor_moves_every_date_and_defaults_to_today(small: Portfolio) -> None:
    later = generate_portfolio(seed=7, scale="small", anchor=ANCHOR + timedelta(days=7))
    shifted = [c.renewal_date + timedelta(days=7) for c in small.customers if c.renewal_date is not None]
    assert [c.renewal_date for c in later.customers] == shifted
    assert [r.requested_at for r in later.requests] == [
        r.requested_at + timedelta(days=7) for r in small.requests if r.requested_at is not None
    ]
    before = date.today()
    default = generate_portfolio(seed=7, scale="small")
    after = date.today()
    assert default in (
        generate_portfolio(seed=7, scale="small", anchor=before),
        generate_portfolio(seed=7, scale="small", anchor=after),
    )


@pytest.mark.parametrize("scale", ["small", "medium"])
def test_counts_match_the_scale(scale: str, small: Portfolio, medium: Portfolio) -> None:
    portfolio = {"small": small, "medium": medium}[scale]
    size = SCALES[scale]
    counts = portfolio.counts()
    assert counts["products"] == size.products
    assert counts["teams"] == size.teams
    assert counts["features"] == size.features
    assert counts["customers"] == size.customers
    assert counts["requests"] == size.requests
    assert counts["feedback"] == size.feedback
    assert counts["objectives"] == size.objectives
    assert counts["releases"] == size.products * 7  # two past quarters, this one, four ahead


def test_scales_are_as_specified() -> None:
    assert (SCALES["small"].products, SCALES["small"].teams, SCALES["small"].features) == (3, 10, 120)
    large = SCALES["large"]
    assert large.features >= 20_000 and large.customers >= 100_000 and large.requests >= 500_000
    assert all(5 <= scale.objectives <= 8 for scale in SCALES.values())


@pytest.mark.parametrize("scale", ["small", "medium"])
def test_generated_portfolio_is_valid(scale: str, small: Portfolio, medium: Portfolio) -> None:
    portfolio = {"small": small, "medium": medium}[scale]
    assert integrity_issues(portfolio) == []
    # Built with model_construct, so prove every field also passes the models' own validation.
    assert Portfolio.model_validate(portfolio.model_dump()) == portfolio


def test_unknown_scale_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown scale 'huge'"):
        generate_portfolio(scale="huge")


def test_arr_is_heavy_tailed_and_segments_follow_it(small: Portfolio, medium: Portfolio) -> None:
    for portfolio in (small, medium):
        arr = np.sort([customer.arr for customer in portfolio.customers])[::-1]
        top = max(1, len(arr) // 20)
        assert arr[:top].sum() / arr.sum() > 0.4  # the top 5% of customers hold over 40% of ARR
        assert (arr > 1_000_000).sum() >= 3
        assert 0.6 < np.mean((arr >= 5_000) & (arr <= 50_000)) < 0.95
        for customer in portfolio.customers:
            if customer.arr >= ENTERPRISE_MIN_ARR:
                assert customer.segment is Segment.ENTERPRISE
            elif customer.arr >= MID_MARKET_MIN_ARR:
                assert customer.segment is Segment.MID_MARKET
            else:
                assert customer.segment is Segment.SMB


def test_dependencies_form_a_dag_of_earlier_features(small: Portfolio, medium: Portfolio) -> None:
    for portfolio in (small, medium):
        position = {feature.id: index for index, feature in enumerate(portfolio.features)}
        graph: nx.DiGraph[str] = nx.DiGraph()
        graph.add_nodes_from(position)
        graph.add_edges_from((dep, f.id) for f in portfolio.features for dep in f.depends_on)
        assert nx.is_directed_acyclic_graph(graph)
        assert all(position[dep] < position[f.id] for f in portfolio.features for dep in f.depends_on)
        with_dependencies = [f for f in portfolio.features if f.depends_on]
        assert 0.2 < len(with_dependencies) / len(portfolio.features) < 0.4
        assert all(1 <= len(f.depends_on) <= 3 for f in with_dependencies)
        team_of = {f.id: f.team_id for f in portfolio.features}
        product_of = {f.id: f.product_id for f in portfolio.features}
        edges = [(f, dep) for f in portfolio.features for dep in f.depends_on]
        assert any(team_of[dep] != f.team_id for f, dep in edges)
        assert any(product_of[dep] != f.product_id for f, dep in edges)
        # A prerequisite is never less advanced than the feature that waits for it.
        rank = {
            FeatureStatus.DONE: 0,
            FeatureStatus.IN_PROGRESS: 1,
            FeatureStatus.PLANNED: 2,
            FeatureStatus.PROPOSED: 3,
        }
        statuses = {f.id: f.status for f in portfolio.features}
        assert all(rank[statuses[dep]] <= rank[f.status] for f, dep in edges)


def test_feature_mix(medium: Portfolio) -> None:
    features = medium.features
    shares = Counter(f.status for f in features)
    assert abs(shares[FeatureStatus.DONE] / len(features) - 0.15) < 0.03
    assert abs(shares[FeatureStatus.IN_PROGRESS] / len(features) - 0.15) < 0.03
    assert abs(shares[FeatureStatus.PLANNED] / len(features) - 0.35) < 0.04
    assert abs(shares[FeatureStatus.PROPOSED] / len(features) - 0.35) < 0.04
    assert 0.01 < sum(f.team_id is None for f in features) / len(features) < 0.035
    for feature in features:
        assert feature.effort_low <= feature.effort_likely <= feature.effort_high
        if feature.status is FeatureStatus.DONE:
            assert feature.progress == 1.0 and feature.target_date is None
        elif feature.status is FeatureStatus.IN_PROGRESS:
            assert 0.1 <= feature.progress <= 0.9
        else:
            assert feature.progress == 0.0
        if feature.target_date is not None:
            assert feature.target_date > ANCHOR
    dated = Counter(f.status for f in features if f.target_date is not None)
    assert (
        dated[FeatureStatus.IN_PROGRESS] + dated[FeatureStatus.PLANNED] > 10 * dated[FeatureStatus.PROPOSED]
    )
    priorities = [f.priority for f in features if f.priority is not None]
    assert len(priorities) == len(set(priorities))
    likely = np.array([f.effort_likely for f in features])
    assert np.median(likely) < likely.mean() < np.percentile(likely, 90)  # right-skewed, lognormal-ish


def test_release_of_a_feature_is_its_products_and_not_before_its_target(small: Portfolio) -> None:
    releases = {release.id: release for release in small.releases}
    linked = [f for f in small.features if f.release_id is not None]
    assert linked
    for feature in linked:
        release = releases[feature.release_id or ""]
        assert release.product_id == feature.product_id
        if feature.target_date is not None:
            assert release.date >= feature.target_date
        if feature.status is FeatureStatus.DONE:
            assert release.date < ANCHOR
    # Quarter ends from 2024-Q4 to 2026-Q2 around the 2025-06-15 anchor.
    assert sorted({release.date for release in small.releases}) == [
        date(2024, 12, 31),
        date(2025, 3, 31),
        date(2025, 6, 30),
        date(2025, 9, 30),
        date(2025, 12, 31),
        date(2026, 3, 31),
        date(2026, 6, 30),
    ]


def test_teams_are_believable(medium: Portfolio) -> None:
    names = [team.name for team in medium.teams]
    assert len(set(names)) == len(names)
    for team in medium.teams:
        assert 3 <= team.headcount <= 9
        assert team.capacity == pytest.approx(0.7 * team.headcount, abs=0.05)
        assert 12 <= len(team.throughput_history) <= 26
        assert abs(np.mean(team.throughput_history) - team.capacity) < 0.5 * team.capacity


def test_customers_and_requests(small: Portfolio, medium: Portfolio) -> None:
    for portfolio in (small, medium):
        customers = {customer.id: customer for customer in portfolio.customers}
        product_of = {feature.id: feature.product_id for feature in portfolio.features}
        per_customer = Counter(request.customer_id for request in portfolio.requests)
        assert set(per_customer) == set(customers)
        assert min(per_customer.values()) >= 1
        assert max(per_customer.values()) <= 10
        for request in portfolio.requests:
            assert 1 <= request.weight <= 5
            assert product_of[request.feature_id] in customers[request.customer_id].product_ids
            assert request.requested_at is not None and request.requested_at <= ANCHOR
        for customer in portfolio.customers:
            assert customer.renewal_date is not None
            assert ANCHOR <= customer.renewal_date <= ANCHOR + timedelta(days=548)
        # Zipf-like popularity: the most requested feature is asked for far more than the median one.
        per_feature = sorted(Counter(request.feature_id for request in portfolio.requests).values())
        assert per_feature[-1] > 5 * per_feature[len(per_feature) // 2]


def test_feedback_is_about_requested_features_and_mostly_unlinked() -> None:
    """Linking is the insight engine's job: few items carry a feature; the truth names every one's feature."""
    small, truth = generate_portfolio_with_feedback_truth(seed=7, scale="small", anchor=ANCHOR)
    assert small == generate_portfolio(seed=7, scale="small", anchor=ANCHOR)
    features = {feature.id: feature for feature in small.features}
    requested = {(request.customer_id, request.feature_id) for request in small.requests}
    assert [t.feedback_id for t in truth] == [fb.id for fb in small.feedback]
    linked = [fb for fb in small.feedback if fb.feature_id is not None]
    assert 0.02 < len(linked) / len(small.feedback) < 0.25
    on_topic = mentioned = 0
    for item, true in zip(small.feedback, truth, strict=True):
        assert item.feature_id in (None, true.feature_id)
        if true.feature_id is None:
            continue
        on_topic += 1
        assert (item.customer_id, true.feature_id) in requested
        _, noun = split_feature_name(features[true.feature_id].name, VERBS)
        mentioned += noun.lower() in item.text.lower()
    assert 0.75 < on_topic / len(small.feedback) < 0.95
    assert mentioned / on_topic > 0.85, "the text names the feature's subject (but for a typo)"
    topic_sizes = Counter(t.topic for t in truth if t.feature_id is not None).most_common()
    assert topic_sizes[0][1] >= 20, "a few topics hold many items: themes exist"
    sentiments = [fb.sentiment for fb in small.feedback]
    assert min(sentiments) < -0.3 and max(sentiments) > 0.3
    assert all(fb.created_at is not None and fb.created_at <= ANCHOR for fb in small.feedback)
