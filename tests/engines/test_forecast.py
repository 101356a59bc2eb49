"""Hand-checked cases for the Monte Carlo forecast, and the vectorised simulation against its plain-Python oracle."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import numpy as np
import pytest

from engines.forecast import (
    BEYOND_HORIZON,
    DoneByDay,
    ForecastError,
    completion_day,
    completion_matrix,
    draw_simulation,
    forecast,
    forecast_reference_python,
    plan_simulation,
    simulate_completion_weeks,
)
from engines.scenario_changes import CapacityChange, ShiftStart
from engines.throughput import ThroughputKind
from engines.work_calendar import DateCalendar, work_weeks_before, working_day_offsets
from graph.portfolio import (
    Customer,
    Feature,
    FeatureStatus,
    Objective,
    Portfolio,
    Product,
    Release,
    Request,
    Segment,
    Team,
)

AS_OF = date(2025, 1, 6)
BOOTSTRAP = ThroughputKind.BOOTSTRAP
"""The former model: constant throughput for constant or no history, which makes hand-checked dates exact."""


def day(n: int) -> date:
    return AS_OF + timedelta(days=n)


def make_feature(feature_id: str, effort: float, team: str | None = "t1", **fields: Any) -> Feature:
    """A feature with a fixed effort (low = likely = high) unless the fields say otherwise."""
    values: dict[str, Any] = {
        "id": feature_id,
        "name": feature_id,
        "product_id": "p1",
        "team_id": team,
        "effort_low": effort,
        "effort_likely": effort,
        "effort_high": effort,
        "status": FeatureStatus.PLANNED,
    }
    values.update(fields)
    return Feature.model_validate(values)


def make_team(team_id: str, capacity: float = 2.0, history: list[float] | None = None) -> Team:
    return Team(id=team_id, name=team_id, headcount=2, capacity=capacity, throughput_history=history or [])


def make_portfolio(teams: list[Team], features: list[Feature], **collections: Any) -> Portfolio:
    return Portfolio(
        products=[Product(id="p1", name="Product")], teams=teams, features=features, **collections
    )


def weeks_by_feature(portfolio: Portfolio, trials: int = 20, **options: Any) -> dict[str, np.ndarray]:
    matrix = completion_matrix(portfolio, as_of=AS_OF, trials=trials, **options)
    return {fid: matrix.weeks[:, i] for i, fid in enumerate(matrix.plan.feature_ids)}


def test_chain_in_one_team_with_constant_history() -> None:
    # Throughput is always 2/week. A (4 pw) takes weeks 0-2; B (3 pw) depends on A, so it starts at 2.0 and
    # takes 1.5 weeks: 3.5 weeks = 24.5 days, rounded up to day 25.
    portfolio = make_portfolio(
        [make_team("t1", history=[2, 2, 2])],
        [make_feature("b", 3, depends_on=["a"], priority=0), make_feature("a", 4, priority=1)],
    )
    weeks = weeks_by_feature(portfolio, throughput=BOOTSTRAP)
    assert np.all(weeks["a"] == 2.0)
    assert np.all(weeks["b"] == 3.5)

    result = forecast(portfolio, as_of=AS_OF, trials=20, throughput=BOOTSTRAP)
    assert [f.feature_id for f in result.features] == ["a", "b"]  # the dependency overrides b's priority
    a, b = result.features
    assert (a.p50, a.p85, a.p95) == (day(14), day(14), day(14))
    assert (b.p50, b.p85, b.p95) == (day(25), day(25), day(25))
    assert a.beyond_horizon_probability == 0.0
    assert a.on_time_probability is None


def test_two_teams_work_in_parallel() -> None:
    # t1 delivers 2/week from history, t2 has no history so delivers its capacity 1/week; both start at 0.
    portfolio = make_portfolio(
        [make_team("t1", history=[2]), make_team("t2", capacity=1)],
        [make_feature("a", 4, team="t1"), make_feature("c", 3, team="t2")],
    )
    weeks = weeks_by_feature(portfolio, throughput=BOOTSTRAP)
    assert np.all(weeks["a"] == 2.0)  # 4 / 2
    assert np.all(weeks["c"] == 3.0)  # 3 / 1


def test_capacity_bound_team_works_serially_in_priority_order() -> None:
    # Constant 3/week; priorities put z (3 pw) first, then y (6 pw), then x (1.5 pw):
    # z: 0 -> 1, y: 1 -> 3, x: 3 -> 3.5 weeks.
    portfolio = make_portfolio(
        [make_team("t1", capacity=3)],
        [
            make_feature("x", 1.5, priority=3),
            make_feature("y", 6, priority=2),
            make_feature("z", 3, priority=1),
        ],
    )
    weeks = weeks_by_feature(portfolio, throughput=BOOTSTRAP)
    assert (weeks["z"][0], weeks["y"][0], weeks["x"][0]) == (1.0, 3.0, 3.5)


def test_unprioritised_features_go_last_then_by_id() -> None:
    portfolio = make_portfolio(
        [make_team("t1")],
        [make_feature("c", 1), make_feature("a", 1), make_feature("b", 1, priority=5)],
    )
    plan = plan_simulation(portfolio, as_of=AS_OF, horizon_weeks=52)
    assert plan.feature_ids == ["b", "a", "c"]


def test_fractional_week_finish_interpolates_inside_the_week() -> None:
    # Constant 4/week, effort 6: week 0 delivers 4, the remaining 2 take half of week 1 -> 1.5 weeks.
    # 1.5 weeks = 10.5 days -> day 11.
    portfolio = make_portfolio([make_team("t1", capacity=4)], [make_feature("a", 6)])
    assert np.all(weeks_by_feature(portfolio, throughput=BOOTSTRAP)["a"] == 1.5)
    assert forecast(portfolio, as_of=AS_OF, trials=10, throughput=BOOTSTRAP).features[0].p50 == day(11)


def test_customers_before_and_after_delivery() -> None:
    # a is done at week 2 = day 14. "early" renews on day 10 (before: probability 0, at risk), "exact" on
    # day 14 (on the day counts as in time), "late" on day 20 (probability 1).
    portfolio = make_portfolio(
        [make_team("t1", history=[2, 2])],
        [make_feature("a", 4)],
        customers=[
            Customer(id="early", name="E", arr=100, segment=Segment.SMB, renewal_date=day(10)),
            Customer(id="exact", name="X", arr=200, segment=Segment.SMB, renewal_date=day(14)),
            Customer(id="late", name="L", arr=300, segment=Segment.SMB, renewal_date=day(20)),
            Customer(id="norenewal", name="N", arr=999, segment=Segment.SMB),
            Customer(id="nothing-open", name="O", arr=50, segment=Segment.SMB, renewal_date=day(1)),
        ],
        requests=[Request(customer_id=c, feature_id="a") for c in ("early", "exact", "late", "norenewal")],
    )
    result = forecast(portfolio, as_of=AS_OF, trials=30, throughput=BOOTSTRAP)
    probability = {c.customer_id: c.probability_before_renewal for c in result.customers}
    assert probability == {"early": 0.0, "exact": 1.0, "late": 1.0, "norenewal": None}
    # (100 x 0 + 200 x 1 + 300 x 1) / (100 + 200 + 300) = 5/6; no renewal date -> not weighed.
    assert result.arr_weighted_on_time == pytest.approx(5 / 6)
    assert [c.customer_id for c in result.customers_at_risk] == ["early"]
    assert result.arr_at_risk == 100
    assert result.customers_at_risk[0].latest_p85 == day(14)


def test_customer_needs_all_requested_features_before_renewal() -> None:
    # a (t1, 2/week, 4 pw) lands on day 14, c (t2, 1/week, 3 pw) on day 21: a day-20 renewal misses c.
    def probability(renewal: date) -> float | None:
        portfolio = make_portfolio(
            [make_team("t1", history=[2]), make_team("t2", capacity=1)],
            [make_feature("a", 4, team="t1"), make_feature("c", 3, team="t2")],
            customers=[Customer(id="k", name="K", arr=1, segment=Segment.SMB, renewal_date=renewal)],
            requests=[Request(customer_id="k", feature_id=f) for f in ("a", "c")],
        )
        (customer,) = forecast(portfolio, as_of=AS_OF, trials=10, throughput=BOOTSTRAP).customers
        assert customer.requested_feature_ids == ["a", "c"]
        return customer.probability_before_renewal

    assert (probability(day(20)), probability(day(21))) == (0.0, 1.0)


def test_release_and_objective_complete_with_their_last_member() -> None:
    # a (t1, 2/week, 4 pw) is done at week 2 = day 14, c (t2, 1/week, 3 pw) at week 3 = day 21; "old" is done.
    # The release holds all three, so it lands on day 21: late for a day-20 date, in time for day 21.
    portfolio = make_portfolio(
        [make_team("t1", history=[2]), make_team("t2", capacity=1)],
        [
            make_feature("a", 4, team="t1", release_id="r1", objective_ids=["o1"]),
            make_feature("c", 3, team="t2", release_id="r1"),
            make_feature("old", 5, team="t2", release_id="r1", status=FeatureStatus.DONE),
            make_feature("gone", 5, team="t2", release_id="r-done", status=FeatureStatus.DONE),
        ],
        releases=[
            Release(id="r1", name="R1", date=day(20)),
            Release(id="r-done", name="Done", date=day(0)),
            Release(id="r-empty", name="Empty", date=day(0)),
        ],
        objectives=[Objective(id="o1", name="O1", due_date=day(14))],
    )
    result = forecast(portfolio, as_of=AS_OF, trials=20, throughput=BOOTSTRAP)
    by_id = {r.id: r for r in result.releases}
    assert set(by_id) == {"r1", "r-done"}  # a release without members is not reported
    assert (by_id["r1"].p50, by_id["r1"].p85, by_id["r1"].p95) == (day(21), day(21), day(21))
    assert by_id["r1"].feature_ids == ["a", "c", "old"]
    assert by_id["r1"].on_time_probability == 0.0
    assert (by_id["r-done"].p85, by_id["r-done"].on_time_probability) == (day(0), 1.0)
    (objective,) = result.objectives
    assert (objective.p85, objective.on_time_probability) == (day(14), 1.0)


def test_done_features_are_finished_and_satisfy_dependencies() -> None:
    # "done" would take 10 weeks, but it is done: b starts at 0 and takes 2 / 2 = 1 week.
    portfolio = make_portfolio(
        [make_team("t1", history=[2])],
        [
            make_feature("done", 20, status=FeatureStatus.DONE, priority=0),
            make_feature("b", 2, depends_on=["done"], priority=1),
        ],
    )
    result = forecast(portfolio, as_of=AS_OF, trials=10, throughput=BOOTSTRAP)
    assert [f.feature_id for f in result.features] == ["b"]
    assert result.features[0].p85 == day(7)


def test_progress_reduces_remaining_effort() -> None:
    # 4 pw with 75% done leaves 1 pw: half a week at 2/week = 3.5 days -> day 4.
    portfolio = make_portfolio(
        [make_team("t1", history=[2])],
        [make_feature("a", 4, progress=0.75, status=FeatureStatus.IN_PROGRESS)],
    )
    assert np.all(weeks_by_feature(portfolio, throughput=BOOTSTRAP)["a"] == 0.5)
    assert forecast(portfolio, as_of=AS_OF, trials=10, throughput=BOOTSTRAP).features[0].p85 == day(4)


def test_target_date_on_time_probability() -> None:
    # Done at week 2 = day 14.
    def on_time(target: date) -> float | None:
        portfolio = make_portfolio([make_team("t1", capacity=2)], [make_feature("a", 4, target_date=target)])
        return (
            forecast(portfolio, as_of=AS_OF, trials=10, throughput=BOOTSTRAP).features[0].on_time_probability
        )

    assert on_time(day(14)) == 1.0
    assert on_time(day(13)) == 0.0
    assert on_time(day(-5)) == 0.0


def test_bootstrap_draws_each_week_from_the_history() -> None:
    # History [1, 3]: the first week delivers 1 or 3 with probability 1/2 each, so a 1 pw feature finishes
    # at 1 week or at 1/3 week. With 4,000 trials the share of fast trials is 0.5 +- 0.03 (4 sd).
    portfolio = make_portfolio([make_team("t1", history=[1, 3])], [make_feature("a", 1)])
    weeks = weeks_by_feature(portfolio, trials=4_000, throughput=BOOTSTRAP)["a"]
    fast = np.isclose(weeks, 1 / 3)
    assert np.all(fast | (weeks == 1.0))
    assert abs(fast.mean() - 0.5) < 0.03


def test_pert_effort_sampling() -> None:
    # PERT(1, 2, 6) has mean (1 + 4x2 + 6) / 6 = 2.5 and variance (2.5-1)(6-2.5)/7 = 0.75. At a constant
    # 1/week the completion week equals the effort: 10,000 trials put the mean within 2.5 +- 0.035 (4 SE).
    portfolio = make_portfolio(
        [make_team("t1", capacity=1)],
        [make_feature("a", 2, effort_low=1, effort_high=6)],
    )
    weeks = weeks_by_feature(portfolio, trials=10_000, throughput=BOOTSTRAP)["a"]
    assert weeks.min() >= 1 and weeks.max() <= 6
    assert abs(weeks.mean() - 2.5) < 0.035
    assert abs(weeks.var() - 0.75) < 0.05


def test_unowned_features_never_start_and_do_not_stall_their_dependents_team() -> None:
    # "orphan" has no team; "needs-orphan" (t1) depends on it, so it never starts either, and t1 goes
    # straight on to "after" (2 pw at 2/week: week 1).
    portfolio = make_portfolio(
        [make_team("t1", capacity=2)],
        [
            make_feature("orphan", 1, team=None, priority=0),
            make_feature("needs-orphan", 2, depends_on=["orphan"], priority=1),
            make_feature("after", 2, priority=2),
        ],
    )
    result = forecast(portfolio, as_of=AS_OF, trials=10, throughput=BOOTSTRAP)
    assert result.unscheduled_feature_ids == ["orphan", "needs-orphan"]
    orphan = result.feature("orphan")
    assert (orphan.p50, orphan.p85, orphan.beyond_horizon_probability, orphan.unscheduled) == (
        None,
        None,
        1.0,
        True,
    )
    assert result.feature("after").p85 == day(7)
    assert result.p85_by_feature()["orphan"] == BEYOND_HORIZON


def test_work_beyond_the_horizon_is_undated_and_late_for_customers() -> None:
    # 100 pw at 1/week needs 100 weeks; the horizon is 52.
    portfolio = make_portfolio(
        [make_team("t1", capacity=1)],
        [make_feature("big", 100)],
        customers=[Customer(id="c", name="C", arr=10, segment=Segment.SMB, renewal_date=day(3000))],
        requests=[Request(customer_id="c", feature_id="big")],
    )
    result = forecast(portfolio, as_of=AS_OF, trials=10, horizon_weeks=52)
    big = result.features[0]
    assert (big.p50, big.p85, big.beyond_horizon_probability) == (None, None, 1.0)
    assert result.customers[0].probability_before_renewal == 0.0
    assert result.arr_at_risk == 10  # beyond the horizon counts as after any renewal


def test_zero_throughput_team_never_finishes_but_zero_effort_does() -> None:
    portfolio = make_portfolio(
        [make_team("t1", capacity=0)],
        [make_feature("free", 0, priority=0), make_feature("stuck", 1, priority=1)],
    )
    weeks = weeks_by_feature(portfolio, horizon_weeks=10)
    assert np.all(weeks["free"] == 0.0)
    assert np.all(np.isinf(weeks["stuck"]))


def test_invalid_portfolios_raise() -> None:
    cycle = make_portfolio(
        [make_team("t1")], [make_feature("a", 1, depends_on=["b"]), make_feature("b", 1, depends_on=["a"])]
    )
    with pytest.raises(ForecastError, match="cycle"):
        forecast(cycle, as_of=AS_OF, trials=5)
    unknown_team = make_portfolio([make_team("t1")], [make_feature("a", 1, team="nope")])
    with pytest.raises(ForecastError, match="unknown team"):
        forecast(unknown_team, as_of=AS_OF, trials=5)
    unknown_dependency = make_portfolio([make_team("t1")], [make_feature("a", 1, depends_on=["ghost"])])
    with pytest.raises(ForecastError, match="unknown features"):
        forecast(unknown_dependency, as_of=AS_OF, trials=5)
    with pytest.raises(ForecastError):
        forecast(unknown_team, as_of=AS_OF, trials=0)


def _mixed_portfolio() -> Portfolio:
    """Noisy histories (zero weeks included), PERT efforts, progress, cross-team deps, done and unowned work."""
    return make_portfolio(
        [
            make_team("t1", history=[0, 1.5, 2.5, 4]),
            make_team("t2", capacity=1.5),
            make_team("t3", history=[0, 0, 3]),
        ],
        [
            make_feature("a", 3, team="t1", effort_low=1, effort_high=6, priority=2),
            make_feature("b", 2, team="t2", effort_low=1, effort_high=4, depends_on=["a"], priority=1),
            make_feature("c", 1, team="t1", effort_low=0.5, effort_high=2, progress=0.4, priority=3),
            make_feature("d", 4, team="t3", effort_low=2, effort_high=9, depends_on=["b", "c"]),
            make_feature("e", 0, team="t2"),
            make_feature("f", 2, team="t3", depends_on=["done"], priority=0),
            make_feature("done", 2, team="t3", status=FeatureStatus.DONE),
            make_feature("g", 1, team=None),
            make_feature("h", 5, team="t1", effort_low=3, effort_high=5, depends_on=["g"]),
            make_feature("i", 2.5, team="t2", effort_low=2, effort_high=8, depends_on=["d"], priority=4),
        ],
    )


@pytest.mark.parametrize("chunk_trials", [7, 64])
def test_vectorised_simulation_equals_the_python_reference_on_the_same_draws(chunk_trials: int) -> None:
    portfolio = _mixed_portfolio()
    plan = plan_simulation(
        portfolio,
        as_of=AS_OF,
        horizon_weeks=30,
        capacity_changes=[
            CapacityChange(team_id="t1", delta=1.0, start=day(10), end=day(40)),
            CapacityChange(team_id="t2", delta=-0.5, start=day(20)),
        ],
        shift_starts=[ShiftStart(start=day(9), team_id="t3")],
    )
    draws = draw_simulation(plan, trials=64, seed=11)
    vectorised = simulate_completion_weeks(plan, draws, chunk_trials=chunk_trials)
    reference = np.array(forecast_reference_python(plan, draws))
    assert np.isinf(vectorised).any() and np.isfinite(vectorised).any()  # both regimes exercised
    assert np.array_equal(vectorised, reference)


def test_done_by_day_matches_numpy_inverted_cdf_quantiles() -> None:
    rng = np.random.default_rng(3)
    weeks = np.minimum(rng.gamma(2.0, 3.0, size=(5, 333)), 40)
    weeks[1, :40] = np.inf  # some trials beyond the horizon
    weeks[2, :200] = np.inf  # the P50 itself beyond the horizon
    counts = DoneByDay.of(weeks, horizon_weeks=40, block_rows=2)
    days = np.array([[completion_day(w) if np.isfinite(w) else 10**6 for w in row] for row in weeks])
    expected = np.quantile(days, [0.5, 0.85, 0.95], axis=1, method="inverted_cdf").T
    expected[expected == 10**6] = counts.beyond_day
    assert np.array_equal(counts.percentile_days, expected)
    assert counts.percentile_days[2, 0] == counts.beyond_day
    for row in range(5):
        assert counts.beyond_horizon_probability(row) == pytest.approx(np.isinf(weeks[row]).mean())
        assert counts.probability_by(row, AS_OF, day(30)) == pytest.approx(np.mean(days[row] <= 30))
    jointly = np.mean(np.all(days[[0, 1, 3]] <= 60, axis=0))
    assert counts.probability_all_by([0, 1, 3], AS_OF, day(60)) == pytest.approx(jointly)
    assert counts.probability_all_by([0, 1, 3], AS_OF, day(-1)) == 0.0


def test_completion_day_rounds_up_and_tolerates_float_noise() -> None:
    assert completion_day(2.0) == 14
    assert completion_day(2.0 + 1e-12) == 14
    assert completion_day(3.5) == 25  # 24.5 days
    assert completion_day(0.0) == 0
    assert completion_day(float("inf")) is None


def test_same_seed_same_forecast_and_different_seeds_differ() -> None:
    portfolio = _mixed_portfolio()
    first = completion_matrix(portfolio, as_of=AS_OF, trials=200, seed=5).weeks
    again = completion_matrix(portfolio, as_of=AS_OF, trials=200, seed=5).weeks
    assert np.array_equal(first, again)
    assert forecast(portfolio, as_of=AS_OF, trials=200, seed=5) == forecast(
        portfolio, as_of=AS_OF, trials=200, seed=5
    )
    others = [completion_matrix(portfolio, as_of=AS_OF, trials=200, seed=s).weeks for s in (6, 7)]
    for other in others:
        assert not np.array_equal(first, other)


def test_draws_of_a_feature_do_not_depend_on_the_rest_of_the_portfolio() -> None:
    # Common random numbers: dropping an unrelated feature leaves the other features' effort draws alone.
    portfolio = _mixed_portfolio()
    smaller = portfolio.model_copy(update={"features": [f for f in portfolio.features if f.id != "e"]})
    full_plan = plan_simulation(portfolio, as_of=AS_OF, horizon_weeks=30)
    small_plan = plan_simulation(smaller, as_of=AS_OF, horizon_weeks=30)
    full = draw_simulation(full_plan, trials=50, seed=1).remaining_effort
    small = draw_simulation(small_plan, trials=50, seed=1).remaining_effort
    for row, feature_id in enumerate(small_plan.feature_ids):
        assert np.array_equal(small[row], full[full_plan.feature_ids.index(feature_id)])


def test_effort_draws_do_not_depend_on_the_number_of_threads() -> None:
    plan = plan_simulation(_mixed_portfolio(), as_of=AS_OF, horizon_weeks=30)
    one = draw_simulation(plan, trials=100, seed=4, workers=1).remaining_effort
    three = draw_simulation(plan, trials=100, seed=4, workers=3).remaining_effort
    assert np.array_equal(one, three)


def test_empty_portfolio() -> None:
    result = forecast(Portfolio(), as_of=AS_OF, trials=10)
    assert (result.features, result.releases, result.customers) == ([], [], [])
    assert (result.arr_at_risk, result.arr_weighted_on_time) == (0.0, 1.0)


@pytest.mark.parametrize("kind", list(ThroughputKind))
def test_throughput_blocks_do_not_depend_on_the_order_they_are_drawn_in(kind: ThroughputKind) -> None:
    plan = plan_simulation(
        _mixed_portfolio(), as_of=AS_OF, horizon_weeks=30, throughput=kind
    )  # 13+13+4 weeks
    forward = draw_simulation(plan, trials=40, seed=2)
    backward = draw_simulation(plan, trials=40, seed=2)
    team = next(t for t, model in enumerate(plan.teams) if model.constant is None)
    later_first = [backward.throughput_block(team, block) for block in (2, 1, 0)][::-1]
    in_order = [forward.throughput_block(team, block) for block in (0, 1, 2)]
    assert [b.shape for b in in_order if b is not None] == [(13, 40), (13, 40), (4, 40)]
    for a, b in zip(in_order, later_first, strict=True):
        assert a is not None and b is not None and np.array_equal(a, b)


def test_working_day_calendar_skips_weekends_and_the_teams_holidays() -> None:
    # AS_OF is Monday 6 January 2025. 4 pw at a constant 2/week is 2 weeks of work: 14 calendar days, or 10
    # working days, the 10th being Friday 17 January (day 11). A holiday on Wednesday the 8th moves it to
    # Monday the 20th (day 14); t2's holidays do not touch t1.
    def p85(holidays: list[date], **options: Any) -> date | None:
        t1 = make_team("t1", history=[2]).model_copy(update={"holidays": holidays})
        t2 = make_team("t2", history=[2]).model_copy(update={"holidays": [day(1), day(2), day(3)]})
        portfolio = make_portfolio([t1, t2], [make_feature("a", 4, team="t1")])
        return forecast(portfolio, as_of=AS_OF, trials=5, throughput=BOOTSTRAP, **options).features[0].p85

    assert p85([]) == day(14)
    assert p85([], calendar=DateCalendar.WORKING_DAYS) == day(11)
    assert p85([day(2)], calendar=DateCalendar.WORKING_DAYS) == day(14)
    assert p85([day(2)]) == day(14)  # calendar days ignore holidays: they are inside the weekly throughput


def test_working_day_groups_take_the_latest_member_date_across_team_calendars() -> None:
    # a (t1, 2 pw at 2/week: 5 working days) is done Friday 10 January (day 4); c (t2, same work, but
    # holidays on Thursday 9 and Friday 10 January) on Tuesday 14 January (day 8).
    t1 = make_team("t1", history=[2])
    t2 = make_team("t2", history=[2]).model_copy(update={"holidays": [day(3), day(4)]})
    portfolio = make_portfolio(
        [t1, t2],
        [make_feature("a", 2, team="t1", release_id="r"), make_feature("c", 2, team="t2", release_id="r")],
        releases=[Release(id="r", name="R", date=day(6))],
    )
    result = forecast(
        portfolio, as_of=AS_OF, trials=5, throughput=BOOTSTRAP, calendar=DateCalendar.WORKING_DAYS
    )
    assert (result.feature("a").p85, result.feature("c").p85) == (day(4), day(8))
    (release,) = result.releases
    assert (release.p85, release.on_time_probability) == (day(8), 0.0)
    assert result.calendar is DateCalendar.WORKING_DAYS


def test_working_day_calendar_maps_scenario_windows_to_working_days() -> None:
    # +2/week from Monday 13 January covers all of work-week 1: week 0 delivers 2, week 1 delivers 4, and the
    # remaining 2 of 8 pw take half of week 2: 2.5 weeks = 12.5 working days -> the 13th, Wednesday 22 January.
    portfolio = make_portfolio([make_team("t1", history=[2])], [make_feature("a", 8)])
    plan = plan_simulation(
        portfolio,
        as_of=AS_OF,
        horizon_weeks=10,
        capacity_changes=[CapacityChange(team_id="t1", delta=2, start=day(7))],
        throughput=BOOTSTRAP,
        calendar=DateCalendar.WORKING_DAYS,
    )
    assert plan.teams[0].week_scale[:3].tolist() == [1.0, 2.0, 2.0]
    matrix = simulate_completion_weeks(plan, draw_simulation(plan, trials=3, seed=0))
    assert np.all(matrix == 2.5)
    days = DoneByDay.of(matrix, 10, day_tables=plan.day_tables, row_tables=plan.team_index)
    assert days.percentile_dates(0, AS_OF) == (day(16), day(16), day(16))
    # A start shift to Saturday 11 January holds the work until the next working day, work-week 1.
    shifted = plan_simulation(
        portfolio,
        as_of=AS_OF,
        horizon_weeks=10,
        shift_starts=[ShiftStart(start=day(5), team_id="t1")],
        calendar=DateCalendar.WORKING_DAYS,
    )
    assert shifted.earliest_start_weeks.tolist() == [1.0]


def test_working_day_offsets_start_on_as_of_and_skip_weekends_and_holidays() -> None:
    saturday = AS_OF + timedelta(days=5)
    # From a Saturday: Monday (2), Tuesday (3) is a holiday, Wednesday (4) ...; a holiday before as_of is ignored.
    offsets = working_day_offsets(saturday, [saturday + timedelta(days=3), AS_OF], 4)
    assert offsets.tolist() == [2, 4, 5, 6]
    assert working_day_offsets(AS_OF, [], 6).tolist() == [0, 1, 2, 3, 4, 7]
    assert work_weeks_before(7, working_day_offsets(AS_OF, [], 10)) == 1.0  # Monday after: 5 working days


def test_simulating_chunks_on_threads_does_not_change_the_result() -> None:
    plan = plan_simulation(_mixed_portfolio(), as_of=AS_OF, horizon_weeks=30)
    draws = draw_simulation(plan, trials=300, seed=8)
    one = simulate_completion_weeks(plan, draws, chunk_trials=64, workers=1)
    two = simulate_completion_weeks(plan, draws, chunk_trials=64, workers=2)
    assert np.array_equal(one, two)
