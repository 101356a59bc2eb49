"""The roadmap's bias report (engines.bias) on portfolios whose answer is worked out by hand."""

from __future__ import annotations

from datetime import date

import pytest

from engines.bias import plan_bias, size_band
from engines.roadmap import draft_roadmap
from graph.portfolio import Customer, Feedback, Portfolio, Request, Segment
from tests.conftest import build_tiny_portfolio

AS_OF = date(2026, 6, 1)


def _planned(portfolio: Portfolio) -> Portfolio:
    plan = draft_roadmap(portfolio, as_of=AS_OF, quarters=4)
    assert sorted(item.feature_id for item in plan.items()) == ["f-2", "f-3"], "f-1 is done, f-4 unowned"
    return portfolio


def test_tiny_portfolio_shares_by_hand() -> None:
    """Planned: f-2 (Acme 200k x 2 = 400k, Bolt 50k x 0.5 = 25k) and f-3 (Acme 200k x 1 = 200k).
    Total 625k: Acme 600k (0.96, enterprise, 150k-1M), Bolt 25k (0.04, mid-market, 25k-150k).
    Cobalt asks only for the unowned f-4, which is not planned."""
    portfolio = _planned(build_tiny_portfolio())
    bias = plan_bias(portfolio, draft_roadmap(portfolio, as_of=AS_OF, quarters=4), top_n=1)
    assert bias.total_weight == pytest.approx(625_000)
    assert (bias.planned_features, bias.requested_features, bias.customers) == (2, 2, 2)
    assert [(c.customer_id, c.weight) for c in bias.top_customers] == [("c-1", pytest.approx(600_000))]
    assert bias.top_share == pytest.approx(0.96) and bias.concentrated
    segments = {g.group: (g.customers, g.share) for g in bias.by_segment}
    assert segments == {
        "enterprise": (1, pytest.approx(0.96)),
        "mid_market": (1, pytest.approx(0.04)),
        "smb": (0, 0.0),
    }
    bands = {g.group: g.share for g in bias.by_size_band}
    assert bands == {
        "under_25k": 0.0,
        "25k_to_150k": pytest.approx(0.04),
        "150k_to_1m": pytest.approx(0.96),
        "1m_and_over": 0.0,
    }
    singles = {f.feature_id: (f.customer_id, f.share) for f in bias.single_customer_features}
    assert singles == {"f-2": ("c-1", pytest.approx(400 / 425)), "f-3": ("c-1", pytest.approx(1.0))}
    strict = plan_bias(
        portfolio, draft_roadmap(portfolio, as_of=AS_OF, quarters=4), single_customer_share=0.95
    )
    assert [f.feature_id for f in strict.single_customer_features] == ["f-3"]
    assert strict.top_share == pytest.approx(1.0), "both requesters are within the default top 10"


def test_spread_demand_is_not_concentrated_and_confirmed_feedback_counts() -> None:
    """Twelve customers of 10k each ask for f-2 (weight 1): 120k; a thirteenth's confirmed feedback link
    adds 10k x 0.5 = 5k. Total 125k; the top 10 hold 100k (0.8), under a 0.9 threshold."""
    tiny = build_tiny_portfolio()
    customers = [Customer(id=f"k-{i:02d}", name=f"K{i}", arr=10_000, segment=Segment.SMB) for i in range(13)]
    requests = [Request(customer_id=f"k-{i:02d}", feature_id="f-2") for i in range(12)]
    feedback = [Feedback(id="fb-k", customer_id="k-12", text="yes", confirmed_feature_ids=["f-2"])]
    portfolio = _planned(
        tiny.model_copy(update={"customers": customers, "requests": requests, "feedback": feedback})
    )
    plan = draft_roadmap(portfolio, as_of=AS_OF, quarters=4)
    bias = plan_bias(portfolio, plan, concentration_threshold=0.9)
    assert bias.total_weight == pytest.approx(125_000)
    assert bias.customers == 13 and bias.requested_features == 1
    assert bias.top_share == pytest.approx(100_000 / 125_000) and not bias.concentrated
    assert bias.single_customer_features == []
    assert {g.group: g.share for g in bias.by_segment}["smb"] == pytest.approx(1.0)


def test_a_plan_nobody_asked_for_has_no_weight() -> None:
    portfolio = _planned(build_tiny_portfolio().model_copy(update={"requests": [], "feedback": []}))
    bias = plan_bias(portfolio, draft_roadmap(portfolio, as_of=AS_OF, quarters=4))
    assert bias.total_weight == 0 and bias.top_share == 0 and not bias.concentrated
    assert bias.top_customers == [] and bias.single_customer_features == []


def test_size_bands_and_bad_parameters() -> None:
    assert [size_band(a) for a in (0, 24_999, 25_000, 149_999, 150_000, 1_000_000)] == [
        "under_25k",
        "under_25k",
        "25k_to_150k",
        "25k_to_150k",
        "150k_to_1m",
        "1m_and_over",
    ]
    portfolio = build_tiny_portfolio()
    plan = draft_roadmap(portfolio, as_of=AS_OF, quarters=2)
    for bad in ({"top_n": 0}, {"single_customer_share": 1.0}, {"concentration_threshold": 0.0}):
        with pytest.raises(ValueError):
            plan_bias(portfolio, plan, **bad)  # pyright: ignore[reportArgumentType]
