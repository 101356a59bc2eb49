"""Roadmap planner on small portfolios whose best plans are worked out by hand.

Unless a test says otherwise: the nominal capacity model with utilisation 1.0 and team capacity 1.0
person-week/week, so every team has 13 person-weeks per quarter (the throughput model has its own tests); method "rice" with impact 1 and confidence 1, so a feature's value is
(reach / effort) / max(reach / effort); the discount is 1 - 0.02 q.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pytest

from engines.common import expected_remaining_effort
from engines.forecast import forecast
from engines.roadmap import RoadmapError, RoadmapPlan, _why_left_out, draft_roadmap
from engines.throughput import delivered_quantile
from graph.portfolio import Feature, FeatureStatus, Portfolio, Product, Team

AS_OF = date(2026, 1, 5)


def feature(feature_id: str, effort: float, reach: float, **fields: object) -> Feature:
    values: dict[str, object] = {
        "name": feature_id,
        "product_id": "prod",
        "team_id": "T1",
        "effort_low": effort,
        "effort_likely": effort,
        "effort_high": effort,
        "reach": reach,
        "impact": 1.0,
        "confidence": 1.0,
    }
    values.update(fields)
    return Feature.model_validate({"id": feature_id, **values})


def portfolio(*features: Feature, teams: dict[str, float] | None = None) -> Portfolio:
    return Portfolio(
        products=[Product(id="prod", name="Product")],
        teams=[
            Team(id=team_id, name=team_id, headcount=2, capacity=capacity)
            for team_id, capacity in (teams or {"T1": 1.0}).items()
        ],
        features=list(features),
    )


def plan_for(portfolio: Portfolio, **options: object) -> RoadmapPlan:
    settings: dict[str, object] = {
        "as_of": AS_OF,
        "utilisation": 1.0,
        "method": "rice",
        "quarters": 1,
        "capacity_model": "nominal",
    }
    settings.update(options)
    return draft_roadmap(portfolio, **settings)  # type: ignore[arg-type]


def reasons(plan: RoadmapPlan) -> dict[str, str]:
    return {item.feature_id: item.reason for item in plan.left_out}


def test_one_team_with_room_for_two_of_three_takes_the_two_most_valuable() -> None:
    # RICE 300/6 = 50, 200/6 = 33.3, 100/6 = 16.7 -> values 1, 2/3, 1/3; 13 pw fits two 6-pw features.
    plan = plan_for(portfolio(feature("F1", 6, 300), feature("F2", 6, 200), feature("F3", 6, 100)))
    assert plan.quarter_by_feature() == {"F1": 0, "F2": 0}
    assert plan.total_value == pytest.approx(1 + 2 / 3)
    assert reasons(plan) == {"F3": "capacity"}
    assert plan.solver.optimal
    assert plan.quarters[0].capacity[0].used == 12.0
    assert plan.quarters[0].capacity[0].available == 13.0


def test_the_milp_beats_greedy_when_the_most_valuable_feature_crowds_out_two_others() -> None:
    # RICE 1000/10 = 100, 480/6 = 80, 480/6 = 80 -> values 1.0, 0.8, 0.8.
    # Greedy takes F1 (10 pw), leaving 3 pw: value 1.0. Best: F2 + F3 (12 pw) = 1.6.
    options = {"quarters": 1}
    p = portfolio(feature("F1", 10, 1000), feature("F2", 6, 480), feature("F3", 6, 480))
    greedy = plan_for(p, solver="greedy", **options)
    best = plan_for(p, **options)
    assert greedy.quarter_by_feature() == {"F1": 0}
    assert greedy.total_value == pytest.approx(1.0)
    assert greedy.solver.source == "greedy"
    assert best.quarter_by_feature() == {"F2": 0, "F3": 0}
    assert best.total_value == pytest.approx(1.6)
    assert best.greedy_value == pytest.approx(1.0)
    assert best.value_ratio_vs_greedy == pytest.approx(1.6)
    assert best.solver.optimal and best.solver.source != "greedy"
    assert reasons(best) == {"F1": "capacity"}


def test_later_quarters_are_discounted_and_used_for_the_overflow() -> None:
    # Two quarters, 13 pw each; three 10-pw features of value 1, 0.5, 0.25 (reach 100, 50, 25).
    # Best: F1 in Q0 (1.0), F2 in Q1 (0.5 * 0.98 = 0.49); F3 cannot fit anywhere else.
    plan = plan_for(
        portfolio(feature("F1", 10, 100), feature("F2", 10, 50), feature("F3", 10, 25)), quarters=2
    )
    assert plan.quarter_by_feature() == {"F1": 0, "F2": 1}
    assert plan.total_value == pytest.approx(1.49)
    assert plan.quarters[1].commitments[0].discounted_value == pytest.approx(0.49)
    assert reasons(plan) == {"F3": "capacity"}


def test_a_prerequisite_blocked_by_capacity_holds_its_dependent_back() -> None:
    # T1's Q0 is taken by the pinned Z (13 pw), so A (T1, 13 pw) can only go in Q1,
    # and B (T2) depends on A, so B starts after A's quarter, in Q2, although T2 has room in Q0 and Q1.
    # C (T1) depends on A too, but on A's own team, which works A first: C may share A's quarter.
    p = portfolio(
        feature("Z", 13, 13),
        feature("A", 12, 13),
        feature("B", 5, 50, team_id="T2", depends_on=["A"]),
        feature("C", 1, 10, depends_on=["A"]),
        teams={"T1": 1.0, "T2": 1.0},
    )
    plan = plan_for(p, quarters=3, pins={"Z": 0})
    assert plan.quarter_by_feature() == {"Z": 0, "A": 1, "B": 2, "C": 1}
    greedy = plan_for(p, quarters=3, pins={"Z": 0}, solver="greedy")
    assert greedy.quarter_by_feature() == {"Z": 0, "A": 1, "B": 2, "C": 1}
    # With two quarters A ends in the last one: B, of another team, could only start after the plan.
    short = plan_for(p, quarters=2, pins={"Z": 0})
    assert short.quarter_by_feature() == {"Z": 0, "A": 1, "C": 1}
    (b,) = [item for item in short.left_out if item.feature_id == "B"]
    assert b.reason == "dependency" and "A of another team ends in Q2, the plan's last quarter" in b.detail
    # With a single quarter A cannot fit at all: A is out for capacity, B for the dependency.
    single = plan_for(p, quarters=1, pins={"Z": 0})
    assert single.quarter_by_feature() == {"Z": 0}
    assert reasons(single) == {"A": "capacity", "B": "dependency", "C": "dependency"}


def test_a_dependent_may_share_its_prerequisites_quarter() -> None:
    p = portfolio(feature("A", 4, 4), feature("B", 4, 40, depends_on=["A"]))
    plan = plan_for(p)
    assert plan.quarter_by_feature() == {"A": 0, "B": 0}


def test_done_prerequisites_are_satisfied_and_unowned_ones_block() -> None:
    p = portfolio(
        feature("Done", 4, 4, status=FeatureStatus.DONE),
        feature("Orphan", 4, 4, team_id=None),
        feature("AfterDone", 4, 40, depends_on=["Done"]),
        feature("AfterOrphan", 4, 40, depends_on=["Orphan"]),
    )
    plan = plan_for(p)
    assert plan.quarter_by_feature() == {"AfterDone": 0}
    assert reasons(plan) == {"Orphan": "unowned", "AfterOrphan": "dependency"}
    detail = next(item.detail for item in plan.left_out if item.feature_id == "AfterOrphan")
    assert "Orphan" in detail


def test_a_pin_is_respected_even_when_it_costs_value() -> None:
    # Unpinned best: F1 (reach 100) and F2 in Q0. Pinning F3 (value 0.1) to Q0 leaves room for one more.
    p = portfolio(feature("F1", 6, 100), feature("F2", 6, 90), feature("F3", 6, 10))
    plan = plan_for(p, pins={"F3": 0})
    assert plan.quarter_by_feature() == {"F3": 0, "F1": 0}
    assert reasons(plan) == {"F2": "capacity"}
    assert next(item for item in plan.items() if item.feature_id == "F3").pinned


def test_a_pin_to_a_later_quarter_is_respected() -> None:
    p = portfolio(feature("F1", 6, 100), feature("F2", 6, 90))
    plan = plan_for(p, quarters=2, pins={"F1": 1})
    assert plan.quarter_by_feature() == {"F1": 1, "F2": 0}


def test_a_pinned_features_prerequisites_are_pulled_in_before_it() -> None:
    # P (value 0.01) is only worth planning because the pinned D needs it; X is worth more than P.
    p = portfolio(feature("P", 6, 1), feature("X", 6, 100), feature("D", 6, 10, depends_on=["P"]))
    plan = plan_for(p, quarters=2, pins={"D": 0})
    assert plan.quarter_by_feature() == {"P": 0, "D": 0, "X": 1}


def test_an_exclusion_is_respected_and_blocks_its_dependents() -> None:
    p = portfolio(feature("Top", 4, 400), feature("Next", 4, 40, depends_on=["Top"]), feature("Other", 4, 4))
    plan = plan_for(p, exclusions=["Top"])
    assert plan.quarter_by_feature() == {"Other": 0}
    assert reasons(plan) == {"Top": "excluded", "Next": "dependency"}


@pytest.mark.parametrize(
    ("pins", "exclusions", "named"),
    [
        ({"Big": 0}, (), "Big"),  # 30 pw never fits, not even over both 13-pw quarters
        ({"Ghost": 0}, (), "Ghost"),  # not in the portfolio
        ({"Done": 0}, (), "Done"),  # already done
        ({"Small": 0}, ["Small"], "Small"),  # pinned and excluded
        ({"Small": 3}, (), "Small"),  # quarter out of range
        ({"Orphan": 0}, (), "Orphan"),  # no owning team
        ({"NeedsOrphan": 0}, (), "NeedsOrphan"),  # its prerequisite has no team
        ({"Small": 0, "Small2": 0}, (), "Small2"),  # 2 x 8 pw in one 13-pw quarter
        ({"Small": 1, "AfterSmall": 0}, (), "Small"),  # prerequisite pinned after its dependent
        ({"AfterBig": 1}, (), "Big"),  # its prerequisite never fits
        ({"AfterSmall": 0, "Small2": 0}, (), "AfterSmall"),  # pulled-in Small + Small2 = 16 pw in Q0
    ],
)
def test_infeasible_pins_raise_a_roadmap_error_naming_the_feature(
    pins: dict[str, int], exclusions: list[str], named: str
) -> None:
    p = portfolio(
        feature("Big", 30, 30),
        feature("Done", 2, 2, status=FeatureStatus.DONE),
        feature("Small", 8, 8),
        feature("Small2", 8, 8),
        feature("AfterSmall", 1, 1, depends_on=["Small"]),
        feature("AfterBig", 1, 1, depends_on=["Big"]),
        feature("Orphan", 1, 1, team_id=None),
        feature("NeedsOrphan", 1, 1, depends_on=["Orphan"]),
    )
    with pytest.raises(RoadmapError, match=named):
        plan_for(p, quarters=2, pins=pins, exclusions=exclusions)


def test_left_out_reasons_on_a_tiny_case() -> None:
    # 13 pw in one quarter. Keep (8 pw, value 1) fits; Wide (8 pw) then cannot; Late needs Wide;
    # Gone is excluded; Nobody has no team; Done is done and not a candidate at all.
    p = portfolio(
        feature("Keep", 8, 800),
        feature("Wide", 8, 400),
        feature("Late", 1, 1, depends_on=["Wide"]),
        feature("Gone", 1, 100),
        feature("Nobody", 1, 100, team_id=None),
        feature("Done", 1, 1, status=FeatureStatus.DONE),
    )
    plan = plan_for(p, exclusions=["Gone"])
    assert plan.quarter_by_feature() == {"Keep": 0}
    assert reasons(plan) == {
        "Gone": "excluded",
        "Late": "dependency",
        "Nobody": "unowned",
        "Wide": "capacity",
    }
    wide = next(item for item in plan.left_out if item.feature_id == "Wide")
    assert "8.00" in wide.detail and "5.00" in wide.detail  # needs 8, 13 - 8 = 5 left


def test_left_out_classification_looks_only_at_quarters_the_prerequisites_allow() -> None:
    # An optimal plan never leaves out a positive-value feature that still fits, so low_value is checked
    # on the classifier itself: 4 pw needed, 5 pw left in Q0 and 2 in Q1; it fits when one quarter has 4.
    team_remaining = np.array([5.0, 2.0])

    def fits(start: int) -> bool:
        return bool(team_remaining[start] >= 4)

    def same_team(_: str) -> int:
        return 0

    def other_team(_: str) -> int:
        return 1

    free = feature("Free", 4, 4)
    assert _why_left_out(free, {}, set(), team_remaining, fits=fits, lag=same_team)[0] == "low_value"
    # With its prerequisite ending in quarter index 1 only that quarter counts, and 2 pw < 4 pw;
    # the text names it as people count quarters, Q2.
    after = feature("After", 4, 4, depends_on=["Pre"])
    reason, detail = _why_left_out(after, {"Pre": 1}, set(), team_remaining, fits=fits, lag=same_team)
    assert reason == "capacity" and "left in Q2 onwards" in detail
    # Of another team, a prerequisite ending in Q1 leaves Q2 (2 pw: capacity); ending in Q2, nothing.
    assert _why_left_out(after, {"Pre": 0}, set(), team_remaining, fits=fits, lag=other_team)[0] == "capacity"
    assert (
        _why_left_out(after, {"Pre": 1}, set(), team_remaining, fits=fits, lag=other_team)[0] == "dependency"
    )
    # A done prerequisite is no constraint; a missing one is.
    assert _why_left_out(after, {}, {"Pre"}, team_remaining, fits=fits, lag=same_team)[0] == "low_value"
    assert _why_left_out(after, {}, set(), team_remaining, fits=fits, lag=same_team)[0] == "dependency"


def test_exploration_and_commitment_are_split() -> None:
    p = portfolio(
        feature("Sure", 4, 40, confidence=0.9, effort_low=3, effort_high=6),  # spread 3/4 = 0.75
        feature("Edge", 4, 40, confidence=0.6, effort_low=2, effort_high=6),  # spread 4/4 = 1.0, not > 1
        feature("Unsure", 2, 20, confidence=0.5),  # confidence < 0.6
        feature("Wide", 2, 20, confidence=0.9, effort_low=1, effort_high=4),  # spread 3/2 = 1.5
    )
    plan = plan_for(p)
    (quarter,) = plan.quarters
    assert sorted(i.feature_id for i in quarter.commitments) == ["Edge", "Sure"]
    assert sorted(i.feature_id for i in quarter.explorations) == ["Unsure", "Wide"]
    spreads = {i.feature_id: i.effort_spread for i in plan.items()}
    assert spreads == pytest.approx({"Sure": 0.75, "Edge": 1.0, "Unsure": 0.0, "Wide": 1.5})


def test_items_carry_their_scores_and_capacity_is_reported_per_team_and_quarter() -> None:
    # Remaining effort 10 * (1 - 0.4) = 6; RICE 120 / 6 = 20.
    p = portfolio(
        feature("Busy", 10, 120, status=FeatureStatus.IN_PROGRESS, progress=0.4),
        teams={"T1": 1.0, "T2": 2.0},
    )
    plan = plan_for(p, quarters=2, utilisation=0.5)
    (item,) = plan.items()
    assert item.effort == pytest.approx(6.0)
    assert item.scores.rice.score == pytest.approx(20.0)
    assert item.scores.rice.inputs["effort"] == pytest.approx(6.0)
    # Capacity 1.0 * 13 * 0.5 = 6.5 for T1, 2.0 * 13 * 0.5 = 13 for T2.
    use = {(q.index, c.team_id): (c.used, c.available) for q in plan.quarters for c in q.capacity}
    assert use == {
        (0, "T1"): (pytest.approx(6.0), 6.5),
        (0, "T2"): (0.0, 13.0),
        (1, "T1"): (0.0, 6.5),
        (1, "T2"): (0.0, 13.0),
    }
    assert [(q.start, q.end) for q in plan.quarters] == [
        (AS_OF, AS_OF + timedelta(days=90)),
        (AS_OF + timedelta(days=91), AS_OF + timedelta(days=181)),
    ]


def test_same_input_gives_the_same_plan() -> None:
    p = portfolio(
        *(
            feature(f"F{i}", 1 + i % 5, 10 + (i * 7) % 23, depends_on=[f"F{i - 3}"] if i >= 3 else [])
            for i in range(12)
        ),
        teams={"T1": 1.0},
    )
    first = plan_for(p, quarters=3)
    second = plan_for(p, quarters=3)
    timing = {"solve_time_s", "wall_time_s"}
    assert first.model_dump(exclude={"solver": timing}) == second.model_dump(exclude={"solver": timing})


def test_an_empty_portfolio_gives_an_empty_plan() -> None:
    plan = plan_for(portfolio(), quarters=2)
    assert plan.items() == [] and plan.left_out == []
    assert plan.total_value == 0.0 and plan.solver.optimal


def test_a_dependency_cycle_is_rejected() -> None:
    p = portfolio(feature("A", 1, 1, depends_on=["B"]), feature("B", 1, 1, depends_on=["A"]))
    with pytest.raises(RoadmapError, match="cycle"):
        plan_for(p)


@pytest.mark.parametrize(
    "options",
    [
        {"quarters": 0},
        {"utilisation": 0.0},
        {"utilisation": 1.5},
        {"time_limit_s": 0.0},
        {"exclusions": ["Nope"]},
    ],
)
def test_bad_parameters_are_rejected(options: dict[str, object]) -> None:
    with pytest.raises(RoadmapError):
        plan_for(portfolio(feature("A", 1, 1)), **options)


# --- Capacity from the throughput model, features spanning quarters, the effort convention ---------------


def history_team(capacity: float, history: list[float]) -> Team:
    return Team(id="T1", name="T1", headcount=5, capacity=capacity, throughput_history=history)


def done_by_quarter_end(portfolio: Portfolio, plan: RoadmapPlan, *, seed: int) -> dict[str, float]:
    """The real forecast's probability that each placed feature is done by the end of its end quarter, with
    the plan's order (end quarter, start quarter, id) as the features' priorities."""
    items = sorted(plan.items(), key=lambda i: (i.end_quarter, i.quarter, i.feature_id))
    rank = {item.feature_id: position for position, item in enumerate(items)}
    due = {i.feature_id: AS_OF + timedelta(weeks=13 * ((i.end_quarter or 0) + 1)) for i in items}
    ordered = portfolio.model_copy(
        update={
            "features": [
                f.model_copy(update={"priority": rank.get(f.id), "target_date": due.get(f.id)})
                for f in portfolio.features
            ]
        }
    )
    result = forecast(ordered, as_of=AS_OF, trials=10_000, seed=seed, horizon_weeks=13 * len(plan.quarters))
    return {f.feature_id: f.on_time_probability for f in result.features if f.feature_id in rank}  # type: ignore[misc]


def test_throughput_capacity_plans_no_more_than_the_forecast_finishes_with_85_percent() -> None:
    # Capacity 5 person-weeks a week, but the team has delivered 2 a week on average.
    team = history_team(5.0, [1.5, 2.5, 2.0, 1.0, 3.0, 2.0, 2.5, 1.5, 2.0, 2.0])
    p = Portfolio(
        products=[Product(id="prod", name="Product")],
        teams=[team],
        features=[feature(f"F{i}", 10, 100 - i) for i in range(5)],
    )
    nominal = draft_roadmap(p, as_of=AS_OF, quarters=4, method="rice", capacity_model="nominal")
    assert set(nominal.quarter_by_feature().values()) == {0}  # 5 x 10 pw within 5 x 13 x 0.85 = 55.25

    plan = draft_roadmap(p, as_of=AS_OF, quarters=4, method="rice")
    assert plan.capacity_model == "throughput" and plan.capacity_probability == 0.85
    first = plan.quarters[0].capacity[0]
    assert first.source == "throughput_history"
    assert first.available == pytest.approx(delivered_quantile(team, 13, 0.85))
    two_quarters = plan.quarters[0].capacity[0].available + plan.quarters[1].capacity[0].available
    assert two_quarters == pytest.approx(delivered_quantile(team, 26, 0.85))
    assert len(plan.quarters[0].commitments) < 5
    assert len(plan.items()) >= 3

    probability = done_by_quarter_end(p, plan, seed=7)
    for item in plan.items():
        assert probability[item.feature_id] >= 0.85 - 0.03, item
        assert item.finish_probability == pytest.approx(probability[item.feature_id], abs=0.03)
    # Under nominal capacity the same forecast finishes the last Q1 feature by the end of Q1 far less often.
    nominal_probability = done_by_quarter_end(p, nominal, seed=7)
    assert min(nominal_probability.values()) < 0.5


def test_a_feature_needing_one_and_a_half_quarters_is_planned_across_two() -> None:
    p = portfolio(feature("Long", 19.5, 100), feature("After", 2, 10, depends_on=["Long"]))
    plan = plan_for(p, quarters=2)
    long, after = sorted(plan.items(), key=lambda i: i.feature_id != "Long")
    assert (long.quarter, long.end_quarter) == (0, 1)
    assert long.quarter_efforts == pytest.approx([9.75, 9.75])
    assert (after.quarter, after.end_quarter) == (1, 1)  # starts once its prerequisite ends
    use = {(q.index, c.team_id): c.used for q in plan.quarters for c in q.capacity}
    assert use == {(0, "T1"): pytest.approx(9.75), (1, "T1"): pytest.approx(11.75)}
    assert plan.total_value == pytest.approx((long.value + after.value) * 0.98)
    greedy = plan_for(p, quarters=2, solver="greedy")
    assert greedy.quarter_by_feature() == plan.quarter_by_feature()
    # One quarter of 13 person-weeks cannot hold it.
    single = plan_for(p, quarters=1)
    assert reasons(single) == {"Long": "capacity", "After": "dependency"}


def test_a_feature_spanning_quarters_under_the_throughput_model_finishes_by_its_end_quarter() -> None:
    team = Team(id="T1", name="T1", headcount=2, capacity=2.0)  # no history: the capacity prior alone
    effort = 1.5 * delivered_quantile(team, 13, 0.85)
    p = Portfolio(
        products=[Product(id="prod", name="Product")], teams=[team], features=[feature("Long", effort, 10)]
    )
    plan = draft_roadmap(p, as_of=AS_OF, quarters=3, method="rice")
    (item,) = plan.items()
    assert (item.quarter, item.end_quarter) == (0, 1)
    assert plan.quarters[0].capacity[0].source == "capacity_prior"
    assert done_by_quarter_end(p, plan, seed=3)["Long"] >= 0.85 - 0.03
    assert item.finish_probability is not None and item.finish_probability >= 0.85 - 0.03


def test_a_pin_fixes_the_start_of_a_spanning_feature_and_checks_it_fits() -> None:
    p = portfolio(feature("Long", 19.5, 100), feature("Short", 4, 1))
    plan = plan_for(p, quarters=3, pins={"Long": 1})
    long = next(i for i in plan.items() if i.feature_id == "Long")
    assert (long.quarter, long.end_quarter, long.pinned) == (1, 2, True)
    with pytest.raises(RoadmapError, match="Long"):
        plan_for(p, quarters=3, pins={"Long": 2})  # 19.5 pw from Q3 on: only 13 left


def test_the_planner_charges_the_pert_mean_of_the_remaining_effort() -> None:
    # PERT mean (2 + 4 x 4 + 12) / 6 = 5, half done: 2.5 person-weeks; not the likely 4 x 0.5 = 2.
    lumpy = feature(
        "Lumpy", 4, 10, effort_low=2, effort_high=12, status=FeatureStatus.IN_PROGRESS, progress=0.5
    )
    plan = plan_for(portfolio(lumpy))
    (item,) = plan.items()
    assert item.effort == pytest.approx(2.5) == expected_remaining_effort(lumpy)
    assert plan.quarters[0].capacity[0].used == pytest.approx(2.5)


@pytest.mark.parametrize(
    "options",
    [
        {"capacity_model": "made_up"},
        {"capacity_probability": 1.0},
        {"capacity_probability": 0.0},
        {"seed": -1},
    ],
)
def test_bad_capacity_parameters_are_rejected(options: dict[str, object]) -> None:
    with pytest.raises(RoadmapError):
        plan_for(portfolio(feature("A", 1, 1)), **options)
