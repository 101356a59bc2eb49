"""Calibration back-test of the Monte Carlo forecast: does P85 mean "done by then 85 times in 100"?

Synthetic worlds with a known truth: one team whose weekly throughput (person-weeks) is Poisson or negative
binomial around a true rate, a recorded history of 8, 26 or 104 weeks drawn from that truth, and a backlog of
about 4 or 20 weeks of work (PERT efforts). For every history the forecast (`engines.forecast.forecast`, end
to end, dates in days) gives P50 / P85 / P95 for the backlog's last feature; the truth is the share of
`--futures` futures simulated from the true process (true weekly throughput, efforts from the same PERT
distributions) that are done on or before each date. A cell's coverage is that share averaged over its
histories, so each cell rests on histories x futures simulated futures (200 x 5,000 = one million).

The team's nominal `capacity` (the centre of the throughput prior) is not the truth: it is the true rate x a
lognormal factor with sd 0.25 in log space (about +-25%), as a planner's guess would be.

Then a back-test on a portfolio's own history (the medium demo portfolio): every team with at least 16 weeks
of history is forecast from its first half; for each of the held-out weeks k the actual cumulative throughput
is checked against the forecast's P50 / P85 / P95 of cumulative throughput by week k (equivalently: a
backlog of exactly what was delivered is done by the forecast's date).

Run from the repository root: `.venv/bin/python -m bench.calibration` (add `--histories` / `--futures` to vary,
`--compare-bootstrap` to also print the former bootstrap model's coverage).
"""

from __future__ import annotations

import argparse
import math
import time
from dataclasses import dataclass
from datetime import date
from typing import Literal

import numpy as np
import numpy.typing as npt

from engines.forecast import forecast
from engines.throughput import ThroughputKind, weekly_throughput
from graph.demo import generate_portfolio
from graph.portfolio import Feature, FeatureStatus, Portfolio, Product, Team

AS_OF = date(2025, 1, 6)
PERCENTILES = (0.50, 0.85, 0.95)
P85_BAND, P95_BAND = (0.80, 0.90), (0.90, 0.98)
NEGATIVE_BINOMIAL_DISPERSION = 3.0
"""r: weekly variance = mean + mean^2 / r (about 2.7x the mean at a rate of 5)."""
CAPACITY_LOG_SD = 0.25
FEATURE_WEEKS = 1.6
"""Each backlog feature is about this many weeks of the team's true throughput."""
LOW_SHARE, HIGH_SHARE = 0.75, 1.75
"""PERT low / high as multiples of the likely effort."""

Distribution = Literal["poisson", "negbin"]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Cell:
    distribution: Distribution
    history_weeks: int
    backlog_weeks: int


@dataclass(frozen=True)
class Coverage:
    cell: Cell
    histories: int
    futures: int
    shares: tuple[float, float, float]
    """Mean share of true futures done by P50, P85, P95."""
    standard_errors: tuple[float, float, float]

    @property
    def in_band(self) -> bool:
        p85, p95 = self.shares[1], self.shares[2]
        return P85_BAND[0] <= p85 <= P85_BAND[1] and P95_BAND[0] <= p95 <= P95_BAND[1]


def true_weekly(
    rng: np.random.Generator, distribution: Distribution, rate: float, size: tuple[int, ...]
) -> FloatArray:
    if distribution == "poisson":
        return rng.poisson(rate, size=size).astype(np.float64)
    r = NEGATIVE_BINOMIAL_DISPERSION
    return rng.negative_binomial(r, r / (r + rate), size=size).astype(np.float64)


def pert_draws(
    rng: np.random.Generator, low: FloatArray, likely: FloatArray, high: FloatArray, futures: int
) -> FloatArray:
    """(features, futures) efforts from the forecast's PERT distribution (see docs/ENGINES.md)."""
    share = ((likely - low) / (high - low))[:, None]
    beta = rng.beta(1 + 4 * share, 1 + 4 * (1 - share), size=(low.size, futures))
    return low[:, None] + beta * (high - low)[:, None]


def true_completion_days(total_effort: FloatArray, weekly: FloatArray) -> npt.NDArray[np.int64]:
    """(futures,) day on which each future finishes `total_effort`, delivered evenly within each week."""
    cumulative = np.cumsum(weekly, axis=0)  # (weeks, futures): delivered by the end of week k
    reached = cumulative >= total_effort[None, :] - 1e-9
    end = np.argmax(reached, axis=0)  # index of the week in which it finishes
    never = ~reached[-1]
    before = np.where(end > 0, cumulative[np.maximum(end - 1, 0), np.arange(end.size)], 0.0)
    during = weekly[end, np.arange(end.size)]
    with np.errstate(divide="ignore", invalid="ignore"):
        weeks = end + np.where(during > 0, (total_effort - before) / during, 0.0)
    days = np.ceil(np.maximum(weeks, 0.0) * 7 - 1e-6).astype(np.int64)
    days[never] = np.iinfo(np.int64).max
    return days


def synthetic_history(
    rng: np.random.Generator, cell: Cell, trials: int, futures: int, kind: ThroughputKind, seed: int
) -> tuple[float, float, float]:
    """One history of the cell: the share of true futures done by the forecast's P50 / P85 / P95."""
    rate = float(rng.uniform(3.0, 8.0))
    capacity = round(rate * float(np.exp(rng.normal(0.0, CAPACITY_LOG_SD))), 1)
    history = true_weekly(rng, cell.distribution, rate, (cell.history_weeks,)).tolist()
    count = max(1, round(cell.backlog_weeks / FEATURE_WEEKS))
    pert_mean_factor = (LOW_SHARE + 4 + HIGH_SHARE) / 6
    likely = rate * cell.backlog_weeks / count / pert_mean_factor * rng.uniform(0.8, 1.25, size=count)
    low, high = likely * LOW_SHARE, likely * HIGH_SHARE
    team = Team(id="team", name="Team", headcount=5, capacity=capacity, throughput_history=history)
    features = [
        Feature(
            id=f"f{i:02d}",
            name=f"F{i}",
            product_id="p",
            team_id="team",
            status=FeatureStatus.PLANNED,
            effort_low=float(low[i]),
            effort_likely=float(likely[i]),
            effort_high=float(high[i]),
            priority=i,
        )
        for i in range(count)
    ]
    portfolio = Portfolio(products=[Product(id="p", name="P")], teams=[team], features=features)
    result = forecast(portfolio, as_of=AS_OF, trials=trials, seed=seed, throughput=kind)
    last = result.features[-1]
    percentile_days = [math.inf if p is None else (p - AS_OF).days for p in (last.p50, last.p85, last.p95)]

    efforts = pert_draws(rng, low, likely, high, futures).sum(axis=0)
    # Futures only need simulating up to the latest forecast date: later completions miss every date anyway.
    finite = [d for d in percentile_days if math.isfinite(d)]
    weeks = (
        math.ceil(max(finite) / 7) + 1 if len(finite) == len(percentile_days) else cell.backlog_weeks * 4 + 30
    )
    true_days = true_completion_days(efforts, true_weekly(rng, cell.distribution, rate, (weeks, futures)))
    p50, p85, p95 = (float(np.mean(true_days <= d)) for d in percentile_days)
    return p50, p85, p95


def cell_coverage(
    cell: Cell, *, histories: int, trials: int, futures: int, kind: ThroughputKind, seed: int
) -> Coverage:
    rng = np.random.default_rng([seed, cell.history_weeks, cell.backlog_weeks, len(cell.distribution)])
    shares = np.array(
        [synthetic_history(rng, cell, trials, futures, kind, seed * 100_003 + h) for h in range(histories)]
    )
    means = shares.mean(axis=0)
    errors = shares.std(axis=0, ddof=1) / math.sqrt(histories)
    return Coverage(
        cell,
        histories,
        futures,
        (float(means[0]), float(means[1]), float(means[2])),
        (float(errors[0]), float(errors[1]), float(errors[2])),
    )


CELLS = tuple(
    Cell(distribution, history, backlog)
    for distribution in ("poisson", "negbin")
    for history in (8, 26, 104)
    for backlog in (4, 20)
)


def print_table(title: str, rows: list[Coverage]) -> None:
    print(title)
    print(
        "| throughput | history (weeks) | backlog (weeks of work) | P50 | P85 | P95 | P85 in 80–90%, P95 in 90–98% |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for row in rows:
        p50, p85, p95 = (f"{100 * s:.1f}%" for s in row.shares)
        distribution = "Poisson" if row.cell.distribution == "poisson" else "neg. binomial (r = 3)"
        print(
            f"| {distribution} | {row.cell.history_weeks} | ~{row.cell.backlog_weeks} | {p50} | {p85} | {p95} | "
            f"{'yes' if row.in_band else 'NO'} |"
        )


@dataclass(frozen=True)
class BackTest:
    teams: int
    checks: int
    shares: tuple[float, float, float]


def portfolio_back_test(portfolio: Portfolio, *, trials: int, seed: int, min_weeks: int = 16) -> BackTest:
    """Forecast each team's cumulative throughput from the first half of its history; check the second half."""
    hits = np.zeros(len(PERCENTILES))
    checks, teams = 0, 0
    for team in portfolio.teams:
        history = list(team.throughput_history)
        if len(history) < min_weeks:
            continue
        teams += 1
        split = len(history) // 2
        fitted = team.model_copy(update={"throughput_history": history[:split]})
        actual = np.cumsum(history[split:])
        # Row k - 1 is what `cumulative_delivered(fitted, k)` returns: the same streams, summed week by week.
        delivered = np.cumsum(weekly_throughput(fitted, actual.size, trials=trials, seed=seed), axis=0)
        for j, p in enumerate(PERCENTILES):
            promised = np.quantile(delivered, 1 - p, axis=1, method="inverted_cdf")
            hits[j] += np.count_nonzero(actual >= promised - 1e-9)
        checks += actual.size
    shares = hits / max(1, checks)
    return BackTest(teams, checks, (float(shares[0]), float(shares[1]), float(shares[2])))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--histories", type=int, default=200)
    parser.add_argument("--futures", type=int, default=5_000)
    parser.add_argument("--trials", type=int, default=1_000, help="forecast trials per history")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--compare-bootstrap", action="store_true")
    args = parser.parse_args()
    started = time.perf_counter()
    kinds = [ThroughputKind.POSTERIOR] + ([ThroughputKind.BOOTSTRAP] if args.compare_bootstrap else [])
    for kind in kinds:
        rows = [
            cell_coverage(
                cell,
                histories=args.histories,
                trials=args.trials,
                futures=args.futures,
                kind=kind,
                seed=args.seed,
            )
            for cell in CELLS
        ]
        print_table(
            f"Coverage: share of true futures done by the forecast's date ({kind.value} throughput model, "
            f"{args.histories} histories x {args.futures:,} futures per cell, {args.trials:,} trials per forecast)",
            rows,
        )
        worst_error = max(e for row in rows for e in row.standard_errors)
        verdict = "PASS" if all(r.in_band for r in rows) else "MISS"
        print(
            f"every cell in band: {verdict} (largest standard error of a cell's coverage {100 * worst_error:.1f} pp)"
        )
        print()
    demo = generate_portfolio(seed=7, scale="medium")
    back = portfolio_back_test(demo, trials=args.trials, seed=args.seed)
    p50, p85, p95 = (f"{100 * s:.1f}%" for s in back.shares)
    print(
        f"Back-test on the medium demo portfolio's own history ({back.teams} teams with >= 16 weeks, first half "
        f"fitted, {back.checks} held-out weeks checked): actual cumulative throughput reached the forecast's "
        f"P50 {p50}, P85 {p85}, P95 {p95} of the time"
    )
    print(f"calibration runtime {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
