"""Scenarios: each change kind moves the forecast the expected way (hand-checked), deltas and comparisons."""

from __future__ import annotations

from datetime import date

import pytest
from pydantic import ValidationError

from engines.forecast import forecast
from engines.scenario_changes import (
    AddScope,
    CapacityChange,
    Reestimate,
    RemoveScope,
    Reprioritise,
    Scenario,
    ScenarioError,
    ShiftStart,
    apply_scenario,
)
from engines.scenarios import ScenarioResult, compare_scenarios, simulate_scenario
from graph.portfolio import Customer, Portfolio, Request, Segment
from tests.engines.test_forecast import AS_OF, BOOTSTRAP, day, make_feature, make_portfolio, make_team

TRIALS = 20


def base_portfolio() -> Portfolio:
    """t1 delivers a constant 2/week: a (8 pw) is done at week 4 = day 28, then b (4 pw) at week 6 = day 42.

    t0 has no capacity at all, so "z" (4 pw) never finishes. acme (ARR 1000) renews on day 30 and wants b.
    """
    return make_portfolio(
        [make_team("t1", capacity=2), make_team("t2", capacity=1), make_team("t0", capacity=0)],
        [
            make_feature("a", 8, priority=1, target_date=day(30)),
            make_feature("b", 4, priority=2, target_date=day(40)),
            make_feature("z", 4, team="t0"),
        ],
        customers=[
            Customer(id="acme", name="Acme", arr=1000, segment=Segment.ENTERPRISE, renewal_date=day(30))
        ],
        requests=[Request(customer_id="acme", feature_id="b")],
    )


def scenario(*changes: object, scenario_id: str = "s1") -> Scenario:
    return Scenario.model_validate({"id": scenario_id, "name": scenario_id, "changes": list(changes)})


def p85s(portfolio: Portfolio, *changes: object, horizon_weeks: int = 26) -> dict[str, date | None]:
    result = forecast(
        portfolio,
        as_of=AS_OF,
        scenario=scenario(*changes),
        trials=TRIALS,
        horizon_weeks=horizon_weeks,
        throughput=BOOTSTRAP,
    )
    return {f.feature_id: f.p85 for f in result.features}


def test_baseline_by_hand() -> None:
    assert p85s(base_portfolio()) == {"a": day(28), "b": day(42), "z": None}


def test_hiring_for_the_whole_horizon_doubles_throughput() -> None:
    # (2 + 2) / 2 = x2 -> 4/week: a at week 2, b at week 3.
    result = p85s(base_portfolio(), CapacityChange(team_id="t1", delta=2))
    assert (result["a"], result["b"]) == (day(14), day(21))


def test_hire_from_mid_week_scales_the_covered_share_of_that_week() -> None:
    # From day 10: week 0 delivers 2; week 1 (days 7-13) has 4 of 7 days covered: 2 x (1 + 4/7) = 22/7;
    # later weeks 4. After two weeks 2 + 22/7 = 36/7 are done; a's remaining 20/7 take 5/7 week at 4/week:
    # 19/7 weeks = day 19.
    result = p85s(base_portfolio(), CapacityChange(team_id="t1", delta=2, start=day(10)))
    assert result["a"] == day(19)


def test_leave_in_a_window_slows_only_that_window() -> None:
    # -1 for days 0-13: weeks 0 and 1 deliver 1 each, then 2/week: a needs 6 more after week 2 -> week 5.
    result = p85s(base_portfolio(), CapacityChange(team_id="t1", delta=-1, end=day(13)))
    assert (result["a"], result["b"]) == (day(35), day(49))


def test_capacity_for_a_team_without_capacity_is_added() -> None:
    # t0 plans 0/week, so there is no ratio: +2 gives 2/week and z (4 pw) lands at week 2.
    assert p85s(base_portfolio(), CapacityChange(team_id="t0", delta=2))["z"] == day(14)


def test_capacity_may_not_go_below_zero() -> None:
    with pytest.raises(ScenarioError, match="below zero"):
        apply_scenario(base_portfolio(), scenario(CapacityChange(team_id="t1", delta=-3)))
    overlapping = scenario(
        CapacityChange(team_id="t1", delta=-1, end=day(20)),
        CapacityChange(team_id="t1", delta=-1.5, start=day(14)),
    )
    with pytest.raises(ScenarioError, match="below zero"):
        apply_scenario(base_portfolio(), overlapping)
    back_to_back = scenario(
        CapacityChange(team_id="t1", delta=-1, end=day(13)),
        CapacityChange(team_id="t1", delta=-1.5, start=day(14)),
    )
    apply_scenario(base_portfolio(), back_to_back)  # never more than 1.5 off at once: fine


def test_added_scope_ahead_in_the_queue_delays_the_rest() -> None:
    # "urgent" (2 pw, priority 0) takes week 0-1; a then ends at week 5, b at week 7.
    urgent = make_feature("urgent", 2, priority=0)
    result = p85s(base_portfolio(), AddScope(features=[urgent]))
    assert (result["urgent"], result["a"], result["b"]) == (day(7), day(35), day(49))


def test_removed_scope_frees_the_team_and_drops_dependencies_and_requests() -> None:
    portfolio = base_portfolio()
    portfolio = portfolio.model_copy(
        update={
            "features": [
                *portfolio.features,
                make_feature("c", 1, team="t2", depends_on=["a"]),
            ],
            "requests": [*portfolio.requests, Request(customer_id="acme", feature_id="a")],
        }
    )
    changed = apply_scenario(portfolio, scenario(RemoveScope(feature_ids=["a"])))
    assert [f.id for f in changed.features] == ["b", "z", "c"]
    assert next(f for f in changed.features if f.id == "c").depends_on == []
    assert [r.feature_id for r in changed.requests] == ["b"]
    assert [f.id for f in portfolio.features] == ["a", "b", "z", "c"]  # the input is untouched
    # b now goes first: 4 pw at 2/week -> week 2; c (t2, 1/week) no longer waits for a: week 1.
    result = p85s(portfolio, RemoveScope(feature_ids=["a"]))
    assert (result["b"], result["c"]) == (day(14), day(7))


def test_reestimate_by_factor_and_by_new_values() -> None:
    # x2: a is 16 pw -> week 8, b -> week 10.  New (2, 2, 2): a -> week 1, b -> week 3.
    doubled = p85s(base_portfolio(), Reestimate(feature_id="a", factor=2))
    assert (doubled["a"], doubled["b"]) == (day(56), day(70))
    smaller = p85s(base_portfolio(), Reestimate(feature_id="a", effort_low=2, effort_likely=2, effort_high=2))
    assert (smaller["a"], smaller["b"]) == (day(7), day(21))
    with pytest.raises(ScenarioError, match="re-estimate of a"):
        apply_scenario(
            base_portfolio(),
            scenario(Reestimate(feature_id="a", effort_low=3, effort_likely=2, effort_high=4)),
        )
    with pytest.raises(ValidationError):
        Reestimate(feature_id="a", effort_low=1)


def test_shift_start_for_everything_one_team_or_some_features() -> None:
    # Nothing before day 14: a runs weeks 2-6, b weeks 6-8.
    everything = p85s(base_portfolio(), ShiftStart(start=day(14)))
    assert (everything["a"], everything["b"]) == (day(42), day(56))
    # Only b, not before day 35 (week 5): it waits one idle week after a and ends at week 7.
    only_b = p85s(base_portfolio(), ShiftStart(start=day(35), feature_ids=["b"]))
    assert (only_b["a"], only_b["b"]) == (day(28), day(49))
    other_team = p85s(base_portfolio(), ShiftStart(start=day(100), team_id="t2"))
    assert (other_team["a"], other_team["b"]) == (day(28), day(42))


def test_reprioritise_moves_a_feature_to_the_front() -> None:
    # b first: weeks 0-2; then a: weeks 2-6.
    result = p85s(base_portfolio(), Reprioritise(feature_id="b", priority=0))
    assert (result["b"], result["a"]) == (day(14), day(42))


def test_unknown_ids_and_cycles_are_rejected() -> None:
    portfolio = base_portfolio()
    cases = [
        CapacityChange(team_id="ghost", delta=1),
        RemoveScope(feature_ids=["ghost"]),
        Reestimate(feature_id="ghost", factor=2),
        Reprioritise(feature_id="ghost", priority=1),
        ShiftStart(start=day(1), team_id="ghost"),
        ShiftStart(start=day(1), feature_ids=["ghost"]),
        AddScope(features=[make_feature("a", 1)]),  # id taken
        AddScope(features=[make_feature("new", 1, team="ghost")]),
        AddScope(features=[make_feature("new", 1, depends_on=["ghost"])]),
    ]
    for change in cases:
        with pytest.raises(ScenarioError):
            apply_scenario(portfolio, scenario(change))
    cyclic = AddScope(
        features=[make_feature("x", 1, depends_on=["y"]), make_feature("y", 1, depends_on=["x"])]
    )
    with pytest.raises(ScenarioError, match="cycle"):
        apply_scenario(portfolio, scenario(cyclic))


def test_changes_apply_in_order() -> None:
    # The re-estimate refers to a feature the first change adds.
    new = make_feature("new", 1, priority=0)
    changed = apply_scenario(
        base_portfolio(), scenario(AddScope(features=[new]), Reestimate(feature_id="new", factor=3))
    )
    assert next(f for f in changed.features if f.id == "new").effort_likely == 3


def test_scenario_round_trips_through_json() -> None:
    original = scenario(
        CapacityChange(team_id="t1", delta=1, start=day(3)),
        AddScope(features=[make_feature("new", 1)]),
        RemoveScope(feature_ids=["z"]),
        Reestimate(feature_id="a", factor=1.5),
        ShiftStart(start=day(7), feature_ids=["b"]),
        Reprioritise(feature_id="b", priority=0),
    )
    assert Scenario.model_validate_json(original.model_dump_json()) == original


def test_delta_of_an_empty_scenario_is_all_zero() -> None:
    result = simulate_scenario(
        base_portfolio(), scenario(), as_of=AS_OF, trials=TRIALS, horizon_weeks=26, throughput=BOOTSTRAP
    )
    delta = result.delta
    assert delta.feature_changes == []
    assert (delta.added_feature_ids, delta.removed_feature_ids) == ([], [])
    assert (delta.arr_at_risk_change, delta.arr_weighted_on_time_change) == (0.0, 0.0)
    assert (delta.customers_newly_at_risk, delta.customers_no_longer_at_risk) == ([], [])


def test_delta_of_a_hire_by_hand() -> None:
    # Baseline a day 28, b day 42 (after acme's day-30 renewal: at risk); doubling throughput gives a day 14,
    # b day 21, so acme is safe. b's on-time probability vs day 40 goes 0 -> 1; a's stays 1 (day 30 target).
    result = simulate_scenario(
        base_portfolio(),
        scenario(CapacityChange(team_id="t1", delta=2)),
        as_of=AS_OF,
        trials=TRIALS,
        horizon_weeks=26,
        throughput=BOOTSTRAP,
    )
    delta = result.delta
    assert [(d.feature_id, d.p85_shift_days, d.p50_shift_days) for d in delta.feature_changes] == [
        ("b", -21, -21),
        ("a", -14, -14),
    ]
    b_change = delta.feature_changes[0]
    assert (b_change.on_time_probability_change, b_change.beyond_horizon_probability_change) == (1.0, 0.0)
    assert delta.feature_changes[1].on_time_probability_change == 0.0
    assert (delta.arr_at_risk_before, delta.arr_at_risk_after, delta.arr_at_risk_change) == (1000, 0, -1000)
    assert delta.customers_no_longer_at_risk == ["acme"]
    assert delta.arr_weighted_on_time_change == 1.0


def test_delta_lists_added_and_removed_features() -> None:
    result = simulate_scenario(
        base_portfolio(),
        scenario(RemoveScope(feature_ids=["a"]), AddScope(features=[make_feature("n", 1, team="t2")])),
        as_of=AS_OF,
        trials=TRIALS,
        horizon_weeks=26,
        throughput=BOOTSTRAP,
    )
    assert (result.delta.added_feature_ids, result.delta.removed_feature_ids) == (["n"], ["a"])
    assert [d.feature_id for d in result.delta.feature_changes] == ["b"]  # 28 days earlier


def test_baseline_must_match_the_scenario_run() -> None:
    baseline = forecast(
        base_portfolio(), as_of=AS_OF, trials=TRIALS, seed=1, horizon_weeks=26, throughput=BOOTSTRAP
    )
    with pytest.raises(ScenarioError, match="same"):
        simulate_scenario(base_portfolio(), scenario(), as_of=AS_OF, trials=TRIALS, seed=2, baseline=baseline)


def test_compare_two_scenarios() -> None:
    portfolio = base_portfolio()
    baseline = forecast(portfolio, as_of=AS_OF, trials=TRIALS, horizon_weeks=26, throughput=BOOTSTRAP)

    def run(changes: list[object], scenario_id: str) -> ScenarioResult:
        return simulate_scenario(
            portfolio,
            scenario(*changes, scenario_id=scenario_id),
            as_of=AS_OF,
            trials=TRIALS,
            horizon_weeks=26,
            baseline=baseline,
            throughput=BOOTSTRAP,
        )

    hire = run([CapacityChange(team_id="t1", delta=2)], "hire")
    leave = run([CapacityChange(team_id="t1", delta=-1, end=day(13))], "leave")
    comparison = compare_scenarios(baseline, [hire, leave])
    rows = {r.scenario_id: r for r in comparison.rows}
    assert list(rows) == ["baseline", "hire", "leave"]
    # Late = P85 after target: baseline b (42 > 40); hire none; leave a (35 > 30) and b (49 > 40).
    assert [rows[i].late_features for i in rows] == [1, 0, 2]
    assert [rows[i].arr_at_risk for i in rows] == [1000, 0, 1000]
    assert [rows[i].customers_at_risk for i in rows] == [1, 0, 1]
    assert [m.feature_id for m in rows["hire"].biggest_movers] == ["b", "a"]
    assert rows["baseline"].biggest_movers == []
    assert (comparison.lowest_arr_at_risk, comparison.highest_arr_weighted_on_time) == ("hire", "hire")
    with pytest.raises(ScenarioError):
        compare_scenarios(baseline, [])


def test_structural_scenario_equals_forecasting_the_applied_portfolio() -> None:
    changes = scenario(Reestimate(feature_id="a", factor=1.5), Reprioritise(feature_id="b", priority=0))
    via_scenario = forecast(base_portfolio(), as_of=AS_OF, scenario=changes, trials=TRIALS)
    via_portfolio = forecast(apply_scenario(base_portfolio(), changes), as_of=AS_OF, trials=TRIALS)
    assert via_scenario.scenario_id == "s1"
    assert via_scenario.model_copy(update={"scenario_id": None}) == via_portfolio
