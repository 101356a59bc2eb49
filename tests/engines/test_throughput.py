"""The throughput model: posterior over the rate, prior on capacity, and agreement with the forecast."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engines.forecast import completion_matrix
from engines.throughput import (
    DEFAULT_PRIOR,
    RatePosterior,
    ThroughputKind,
    cumulative_delivered,
    delivered_quantile,
    normal_levels,
    probability_delivered,
    trial_rates,
    weekly_throughput,
)
from graph.portfolio import Team
from tests.engines.test_forecast import AS_OF, make_feature, make_portfolio


def team(capacity: float = 5.0, history: list[float] | None = None, team_id: str = "t1") -> Team:
    return Team(id=team_id, name=team_id, headcount=5, capacity=capacity, throughput_history=history or [])


def test_a_team_without_history_is_uncertain_around_its_capacity() -> None:
    no_history = team(capacity=5)
    p50, p85, p95 = (delivered_quantile(no_history, 13, p) for p in (0.5, 0.85, 0.95))
    assert p95 < p85 < p50  # more confidence, less work promised
    mean = float(cumulative_delivered(no_history, 13).mean())
    assert mean == pytest.approx(13 * 5, rel=0.05)  # centred on capacity
    rates = trial_rates("t1", 5.0, [], trials=20_000, seed=0)
    expected_cv = DEFAULT_PRIOR.weekly_cv / math.sqrt(DEFAULT_PRIOR.mean_weight_weeks)
    assert float(np.median(rates.rate)) == pytest.approx(5.0, rel=0.1)
    assert 0.6 * expected_cv < float(np.std(rates.rate) / np.mean(rates.rate)) < 1.6 * expected_cv


def test_no_history_no_longer_gives_equal_percentiles_in_the_forecast() -> None:
    portfolio = make_portfolio([team(capacity=2)], [make_feature("a", 8)])
    weeks = completion_matrix(portfolio, as_of=AS_OF, trials=4_000).weeks[:, 0]
    p50, p85, p95 = np.quantile(weeks, [0.5, 0.85, 0.95])
    assert p50 < p85 < p95
    assert p50 == pytest.approx(4.0, rel=0.15)  # 8 pw at about 2 a week


def test_history_dominates_a_wrong_capacity() -> None:
    # Capacity 5, but 8 weeks at about 2: the forecast believes the history.
    measured = team(capacity=5, history=[2.0, 1.5, 2.5, 2.0, 1.0, 3.0, 2.0, 2.0])
    per_week_p50 = delivered_quantile(measured, 13, 0.5) / 13
    per_week_p85 = delivered_quantile(measured, 13, 0.85) / 13
    assert 1.9 < per_week_p50 < 2.7
    assert per_week_p85 < per_week_p50
    posterior = RatePosterior.of(5.0, measured.throughput_history)
    assert posterior.mean == pytest.approx((1 * 5 + 8 * 2.0) / 9)
    assert posterior.mean_weight == 9


def test_rate_uncertainty_shrinks_with_history() -> None:
    rng = np.random.default_rng(4)
    short = rng.poisson(5, size=8).astype(float).tolist()
    long = rng.poisson(5, size=104).astype(float).tolist()
    spread = {
        n: float(np.std(trial_rates("t", 5.0, h, trials=20_000, seed=1).rate))
        for n, h in ((8, short), (104, long))
    }
    assert spread[104] < 0.5 * spread[8]
    assert spread[104] == pytest.approx(math.sqrt(5 / 105), rel=0.3)  # sd of a Poisson mean from 104 weeks


def test_long_histories_converge_to_the_measured_rate() -> None:
    history = np.random.default_rng(2).normal(4.0, 0.8, size=104).clip(0).tolist()
    delivered = cumulative_delivered(team(capacity=9, history=history), 26, trials=8_000)
    assert float(delivered.mean()) / 26 == pytest.approx(float(np.mean(history)), rel=0.04)


def test_quantile_and_probability_agree() -> None:
    measured = team(capacity=4, history=[3, 4, 5, 2, 4, 6, 3, 4, 5, 4])
    for probability in (0.5, 0.85, 0.95):
        promised = delivered_quantile(measured, 10.5, probability, seed=3)
        assert probability_delivered(measured, promised, 10.5, seed=3) >= probability
        assert probability_delivered(measured, promised * 1.05, 10.5, seed=3) < probability + 0.02


def test_partial_weeks_are_linear() -> None:
    measured = team(capacity=4, history=[3, 4, 5])
    weekly = weekly_throughput(measured, 3, trials=100, seed=5)
    assert np.allclose(
        cumulative_delivered(measured, 2.25, trials=100, seed=5), weekly[:2].sum(0) + 0.25 * weekly[2]
    )


def test_weekly_noise_is_non_negative_with_the_posterior_mean() -> None:
    weekly = weekly_throughput(team(capacity=3, history=[0, 0, 6, 1, 5]), 52, trials=2_000)
    assert weekly.min() >= 0
    posterior = RatePosterior.of(3, [0, 0, 6, 1, 5])
    assert float(weekly.mean()) == pytest.approx(posterior.mean, rel=0.1)


def test_discretised_normal_has_unit_variance_and_no_bias() -> None:
    levels = normal_levels().astype(np.float64)
    assert abs(levels.mean()) < 1e-6
    assert float(np.mean(levels**2)) == pytest.approx(1.0, abs=1e-6)
    assert 4.0 < levels.max() < 4.6  # tails to about 4.3 sd


def test_zero_capacity_without_history_delivers_nothing() -> None:
    assert delivered_quantile(team(capacity=0), 10, 0.5) == 0.0
    assert probability_delivered(team(capacity=0), 0.0, 10) == 1.0


@pytest.mark.parametrize("kind", list(ThroughputKind))
@pytest.mark.parametrize("history", [[], [1.0, 3.0, 2.5], [0.0, 0.0]])
def test_same_streams_as_the_forecast(kind: ThroughputKind, history: list[float]) -> None:
    # One fixed 9 pw feature: done by week w exactly when the team delivered 9 pw by week w.
    measured = team(capacity=2, history=history)
    portfolio = make_portfolio([measured], [make_feature("a", 9)])
    weeks = completion_matrix(portfolio, as_of=AS_OF, trials=500, seed=7, throughput=kind).weeks[:, 0]
    for w in (3, 5, 14, 30):
        expected = probability_delivered(measured, 9, w, trials=500, seed=7, kind=kind)
        assert np.mean(weeks <= w + 1e-9) == pytest.approx(expected, abs=1e-9)


def test_bad_arguments_raise() -> None:
    with pytest.raises(ValueError, match="probability"):
        delivered_quantile(team(), 4, 1.5)
    with pytest.raises(ValueError, match="weeks"):
        cumulative_delivered(team(), -1)
