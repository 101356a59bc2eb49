"""A reduced, seeded run of the calibration back-test (bench/calibration.py) on its hardest cells.

With a short history and a long backlog the rate's uncertainty dominates: the former bootstrap model (which
re-samples past weeks) is overconfident there, the posterior model is not. Each cell averages the share of
true futures done by the forecast's P85 / P95 over its histories; at 120 histories the standard error of a
cell's coverage is about 2 percentage points (P85) and 1.5 (P95), so the bands below are the issue's bands widened by about two
standard errors, and the bootstrap's shortfall is several standard errors wide.
"""

from __future__ import annotations

import pytest

from bench.calibration import Cell, cell_coverage, portfolio_back_test
from engines.throughput import ThroughputKind
from graph.demo import generate_portfolio

HISTORIES, FUTURES, TRIALS = 120, 800, 500
P85_BAND = (0.80 - 0.04, 0.90 + 0.03)
P95_BAND = (0.90 - 0.03, 0.98 + 0.01)


def test_posterior_model_is_calibrated_where_the_bootstrap_is_not() -> None:
    cell = Cell("negbin", 8, 20)
    posterior = cell_coverage(
        cell, histories=HISTORIES, trials=TRIALS, futures=FUTURES, kind=ThroughputKind.POSTERIOR, seed=3
    )
    bootstrap = cell_coverage(
        cell, histories=HISTORIES, trials=TRIALS, futures=FUTURES, kind=ThroughputKind.BOOTSTRAP, seed=3
    )
    _, p85, p95 = posterior.shares
    assert P85_BAND[0] <= p85 <= P85_BAND[1], posterior
    assert P95_BAND[0] <= p95 <= P95_BAND[1], posterior
    # The same histories and futures (same seed): the bootstrap promises earlier dates and misses them.
    assert bootstrap.shares[1] < 0.80 and bootstrap.shares[1] < p85 - 0.06, (bootstrap, posterior)
    assert bootstrap.shares[2] < 0.88 and bootstrap.shares[2] < p95 - 0.05, (bootstrap, posterior)


@pytest.mark.parametrize("cell", [Cell("poisson", 8, 20), Cell("poisson", 104, 4)], ids=str)
def test_posterior_model_is_calibrated_on_poisson_throughput(cell: Cell) -> None:
    coverage = cell_coverage(
        cell, histories=HISTORIES, trials=TRIALS, futures=FUTURES, kind=ThroughputKind.POSTERIOR, seed=5
    )
    assert P85_BAND[0] <= coverage.shares[1] <= P85_BAND[1], coverage
    assert P95_BAND[0] <= coverage.shares[2] <= P95_BAND[1], coverage


def test_back_test_on_the_demo_portfolios_own_history() -> None:
    result = portfolio_back_test(generate_portfolio(seed=7, scale="small"), trials=TRIALS, seed=1)
    assert result.teams >= 3 and result.checks >= 30
    p50, p85, p95 = result.shares
    assert p50 < p85 < p95
    assert p85 >= 0.75 and p95 >= 0.85  # the held-out weeks reach the promised throughput
