"""Feature scores, checked by hand on a four-feature portfolio."""

from __future__ import annotations

import math
from datetime import date, timedelta

import pytest

from engines.scoring import FeatureScore, score_features
from graph.portfolio import (
    Customer,
    Feature,
    FeatureStatus,
    Feedback,
    Objective,
    Portfolio,
    Product,
    Request,
    Segment,
    Team,
)

AS_OF = date(2026, 1, 5)


def feature(feature_id: str, **fields: object) -> Feature:
    values: dict[str, object] = {
        "name": feature_id,
        "product_id": "prod",
        "team_id": "team",
        "effort_low": 1.0,
        "effort_likely": 1.0,
        "effort_high": 1.0,
    }
    values.update(fields)
    return Feature.model_validate({"id": feature_id, **values})


def hand_portfolio() -> Portfolio:
    """A -> B -> C (and A -> D, done). Requests: c1 -> A (w 2), c2 -> A (w 1), c2 -> B (w 1)."""
    return Portfolio(
        products=[Product(id="prod", name="Product")],
        teams=[Team(id="team", name="Team", headcount=3, capacity=2.0)],
        features=[
            feature(
                "A",
                reach=1000,
                impact=2,
                confidence=0.8,
                effort_low=8,
                effort_likely=10,
                effort_high=12,
                progress=0.5,
                objective_ids=["o1"],
            ),
            feature(
                "B",
                reach=500,
                impact=1,
                confidence=0.5,
                effort_low=3,
                effort_likely=4,
                effort_high=5,
                target_date=AS_OF + timedelta(days=182),
                depends_on=["A"],
                objective_ids=["o1", "o2"],
            ),
            feature(
                "C",
                reach=0,
                effort_low=2,
                effort_likely=2,
                effort_high=2,
                status=FeatureStatus.IN_PROGRESS,
                target_date=AS_OF - timedelta(days=10),
                depends_on=["B"],
            ),
            feature("D", status=FeatureStatus.DONE, depends_on=["A"]),
        ],
        customers=[
            Customer(
                id="c1",
                name="One",
                arr=100_000,
                segment=Segment.ENTERPRISE,
                renewal_date=AS_OF + timedelta(days=91),
            ),
            Customer(id="c2", name="Two", arr=50_000, segment=Segment.SMB),
        ],
        objectives=[
            Objective(id="o1", name="Grow", weight=2.0),
            Objective(id="o2", name="Retain", weight=0.5),
        ],
        requests=[
            Request(customer_id="c1", feature_id="A", weight=2.0),
            Request(customer_id="c2", feature_id="A", weight=1.0),
            Request(customer_id="c2", feature_id="B", weight=1.0),
        ],
    )


def by_id(scores: list[FeatureScore]) -> dict[str, FeatureScore]:
    return {s.feature_id: s for s in scores}


def test_only_not_done_features_are_scored_in_portfolio_order() -> None:
    scores = score_features(hand_portfolio(), as_of=AS_OF)
    assert [s.feature_id for s in scores] == ["A", "B", "C"]


def test_rice_by_hand() -> None:
    scores = by_id(score_features(hand_portfolio(), as_of=AS_OF))
    # A: remaining effort PERT mean (8 + 4 * 10 + 12) / 6 = 10, * (1 - 0.5) = 5; 1000 * 2 * 0.8 / 5 = 320.
    assert scores["A"].rice.score == pytest.approx(320.0)
    assert scores["A"].rice.inputs == {
        "reach": 1000.0,
        "stated_reach": 1000.0,
        "requesting_customers": 2.0,
        "confirmed_feedback_customers": 0.0,
        "impact": 2.0,
        "confidence": 0.8,
        "effort": 5.0,
    }
    assert scores["A"].rice.formula == "reach * impact * confidence / effort"
    # B: 500 * 1 * 0.5 / 4 = 62.5.  C: reach 0 -> 0.
    assert scores["B"].rice.score == pytest.approx(62.5)
    assert scores["C"].rice.score == 0.0


def test_confirmed_feedback_adds_its_customers_to_rice_reach() -> None:
    """B: one requester (c2); c3's feedback confirmed about B adds a customer: reach 500 * (1 + 1) / 1 = 1000.
    c2's confirmed feedback about B adds nothing (it already requests B). C has no requester: reach stays 0."""
    base = hand_portfolio()
    portfolio = base.model_copy(
        update={
            "customers": [*base.customers, Customer(id="c3", name="Three", arr=10_000, segment=Segment.SMB)],
            "feedback": [
                Feedback(id="fb-1", customer_id="c3", text="need B", confirmed_feature_ids=["B", "C"]),
                Feedback(id="fb-2", customer_id="c3", text="B again", confirmed_feature_ids=["B"]),
                Feedback(id="fb-3", customer_id="c2", text="B please", confirmed_feature_ids=["B"]),
            ],
        }
    )
    before = by_id(score_features(base, as_of=AS_OF))
    after = by_id(score_features(portfolio, as_of=AS_OF))
    assert after["B"].rice.inputs["reach"] == pytest.approx(1000.0)
    assert after["B"].rice.inputs["stated_reach"] == 500.0
    assert after["B"].rice.inputs["confirmed_feedback_customers"] == 1.0
    assert after["B"].rice.score == pytest.approx(2 * before["B"].rice.score)
    assert after["A"].rice == before["A"].rice
    assert after["C"].rice.inputs["reach"] == 0.0
    assert after["C"].rice.inputs["confirmed_feedback_customers"] == 1.0


def test_demand_by_hand() -> None:
    scores = by_id(score_features(hand_portfolio(), as_of=AS_OF))
    # A: 100k * 2 + 50k * 1 = 250k ARR-weighted; objective o1 (2.0) -> 250k * (1 + 2) = 750k.
    assert scores["A"].demand.inputs == {"arr_weighted_demand": 250_000.0, "objective_weight": 2.0}
    assert scores["A"].demand.score == pytest.approx(750_000.0)
    # B: 50k * 1 = 50k; objectives o1 + o2 = 2.5 -> 50k * 3.5 = 175k.  C: no requests -> 0.
    assert scores["B"].demand.score == pytest.approx(175_000.0)
    assert scores["C"].demand.score == 0.0


def test_wsjf_by_hand() -> None:
    scores = by_id(score_features(hand_portfolio(), as_of=AS_OF))
    a, b, c = scores["A"].wsjf, scores["B"].wsjf, scores["C"].wsjf
    # Business value: demand-bearing A (250k) and B (50k); A has 2 of 2 at or below it -> 1 + 9 * 2/2 = 10,
    # B 1 of 2 -> 1 + 9 * 1/2 = 5.5; C has no demand -> 1.
    assert (a.inputs["business_value"], b.inputs["business_value"], c.inputs["business_value"]) == (
        10.0,
        5.5,
        1.0,
    )
    # Time criticality over a 364-day horizon: A's requester c1 renews in 91 days -> 10 - 9 * 91/364 = 7.75;
    # B's target is 182 days out -> 10 - 9 * 182/364 = 5.5; C's target is 10 days past -> 10.
    assert a.inputs["days_to_nearest_date"] == 91.0
    assert a.inputs["time_criticality"] == pytest.approx(7.75)
    assert b.inputs["time_criticality"] == pytest.approx(5.5)
    assert c.inputs["time_criticality"] == pytest.approx(10.0)
    # Open transitive dependents: A -> {B, C} (D is done), B -> {C}, C -> {}; n_max = 2.
    # Enablement 1 + 9 * ln(1 + n) / ln(3): A 10, B 1 + 9 * ln 2 / ln 3 = 6.678368, C 1.
    assert (a.inputs["transitive_dependents"], b.inputs["transitive_dependents"]) == (2.0, 1.0)
    assert a.inputs["opportunity_enablement"] == pytest.approx(10.0)
    assert b.inputs["opportunity_enablement"] == pytest.approx(1 + 9 * math.log(2) / math.log(3))
    assert b.inputs["opportunity_enablement"] == pytest.approx(6.678368, abs=1e-6)
    assert c.inputs["opportunity_enablement"] == pytest.approx(1.0)
    # WSJF = (BV + TC + OE) / remaining effort: A 27.75 / 5 = 5.55; B 17.678368 / 4 = 4.419592; C 12 / 2 = 6.
    assert a.score == pytest.approx(5.55)
    assert b.score == pytest.approx(4.419592, abs=1e-6)
    assert c.score == pytest.approx(6.0)
    assert a.inputs["cost_of_delay"] == pytest.approx(27.75)
    assert a.inputs["job_size"] == 5.0


def test_blend_is_the_mean_of_scores_scaled_by_their_maxima() -> None:
    scores = by_id(score_features(hand_portfolio(), as_of=AS_OF))
    # Maxima: RICE 320 (A), WSJF 6 (C), demand 750k (A).
    # A: (320/320 + 5.55/6 + 750/750) / 3 = (1 + 0.925 + 1) / 3 = 0.975.
    assert scores["A"].value == pytest.approx(0.975)
    # B: (62.5/320 + 4.419592/6 + 175/750) / 3 = (0.1953125 + 0.7365987 + 0.2333333) / 3 = 0.3884148.
    assert scores["B"].value == pytest.approx(0.3884148, abs=1e-6)
    # C: (0 + 6/6 + 0) / 3 = 1/3.
    assert scores["C"].value == pytest.approx(1 / 3)
    assert scores["A"].value_breakdown.inputs["normalised_wsjf"] == pytest.approx(0.925)
    assert scores["A"].value_breakdown.score == scores["A"].value


@pytest.mark.parametrize(
    ("method", "expected"),
    [("rice", {"A": 1.0, "B": 62.5 / 320, "C": 0.0}), ("demand", {"A": 1.0, "B": 175 / 750, "C": 0.0})],
)
def test_single_score_methods_use_that_score_alone(method: str, expected: dict[str, float]) -> None:
    scores = by_id(score_features(hand_portfolio(), as_of=AS_OF, method=method))  # type: ignore[arg-type]
    assert {k: s.value for k, s in scores.items()} == pytest.approx(expected)
    assert all(s.method == method for s in scores.values())


def test_wsjf_method_scales_by_the_largest_wsjf() -> None:
    scores = by_id(score_features(hand_portfolio(), as_of=AS_OF, method="wsjf"))
    # 5.55 / 6, 4.419592 / 6, 6 / 6.
    assert scores["A"].value == pytest.approx(0.925)
    assert scores["B"].value == pytest.approx(4.419592 / 6, abs=1e-6)
    assert scores["C"].value == pytest.approx(1.0)


def test_zero_remaining_effort_is_floored_not_divided_by() -> None:
    portfolio = Portfolio(
        products=[Product(id="prod", name="Product")],
        features=[
            feature("Z", reach=10, impact=1, confidence=1, effort_low=0, effort_likely=0, effort_high=0),
            feature("F", reach=10, impact=1, confidence=1, effort_likely=4, effort_high=4, progress=1.0),
        ],
    )
    scores = by_id(score_features(portfolio, as_of=AS_OF))
    # Both have no remaining effort -> floor 0.1: RICE 10 / 0.1 = 100; WSJF (1 + 1 + 1) / 0.1 = 30.
    for feature_id in ("Z", "F"):
        assert scores[feature_id].rice.inputs["effort"] == 0.1
        assert scores[feature_id].rice.score == pytest.approx(100.0)
        assert scores[feature_id].wsjf.score == pytest.approx(30.0)
        # No demand anywhere: demand normalises to 0, so the blend is (1 + 1 + 0) / 3.
        assert scores[feature_id].value == pytest.approx(2 / 3)


def test_no_dates_no_dependents_no_demand_give_the_scale_minimum() -> None:
    portfolio = Portfolio(
        products=[Product(id="prod", name="Product")],
        features=[feature("X", effort_low=2, effort_likely=2, effort_high=2)],
    )
    (score,) = score_features(portfolio, as_of=AS_OF)
    assert score.wsjf.inputs["business_value"] == 1.0
    assert score.wsjf.inputs["time_criticality"] == 1.0
    assert score.wsjf.inputs["days_to_nearest_date"] is None
    assert score.wsjf.inputs["opportunity_enablement"] == 1.0
    assert score.wsjf.score == pytest.approx(1.5)  # (1 + 1 + 1) / 2


def test_far_dates_bottom_out_and_earliest_renewal_wins() -> None:
    portfolio = Portfolio(
        products=[Product(id="prod", name="Product")],
        features=[feature("X", target_date=AS_OF + timedelta(days=900))],
        customers=[
            Customer(
                id="late", name="Late", arr=1, segment=Segment.SMB, renewal_date=AS_OF + timedelta(days=400)
            ),
            Customer(
                id="soon", name="Soon", arr=1, segment=Segment.SMB, renewal_date=AS_OF + timedelta(days=273)
            ),
        ],
        requests=[Request(customer_id="late", feature_id="X"), Request(customer_id="soon", feature_id="X")],
    )
    (score,) = score_features(portfolio, as_of=AS_OF)
    # Nearest date: "soon" renews in 273 days -> 10 - 9 * 273/364 = 3.25.
    assert score.wsjf.inputs["days_to_nearest_date"] == 273.0
    assert score.wsjf.inputs["time_criticality"] == pytest.approx(3.25)


def test_no_candidates_gives_no_scores() -> None:
    portfolio = Portfolio(features=[feature("D", status=FeatureStatus.DONE)])
    assert score_features(portfolio, as_of=AS_OF) == []


def test_effort_is_the_pert_mean_every_engine_uses() -> None:
    skewed = Portfolio(
        products=[Product(id="prod", name="Product")],
        teams=[Team(id="team", name="Team", headcount=3, capacity=2.0)],
        features=[
            feature("S", reach=60, impact=1, confidence=1, effort_low=1, effort_likely=2, effort_high=9)
        ],
    )
    (score,) = score_features(skewed, as_of=AS_OF)
    # PERT mean (1 + 4 * 2 + 9) / 6 = 3, not the likely 2: RICE 60 / 3 = 20.
    assert score.rice.inputs["effort"] == pytest.approx(3.0)
    assert score.rice.score == pytest.approx(20.0)
