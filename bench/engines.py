"""Engine benchmarks: the Monte Carlo forecast (vectorised vs plain Python), then the roadmap planner and risk.

Run from the repository root: `.venv/bin/python bench/engines.py` (add `--trials` / `--features` to vary).
The machine is shared, so the figures are indicative.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
from collections.abc import Callable
from datetime import date, timedelta

import numpy as np

from bench._roadmap_bench import run_risk_benchmark, run_roadmap_benchmark
from engines.forecast import (
    draw_simulation,
    forecast,
    forecast_reference_python,
    plan_simulation,
    simulate_completion_weeks,
)
from engines.throughput import ThroughputKind
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
FORECAST_AIM_S = 1.0
SPEEDUP_AIM = 30.0


def synthetic_portfolio(*, open_features: int = 1_000, teams: int = 10, seed: int = 7) -> Portfolio:
    """A seeded portfolio shaped like a real one: ~10 teams with noisy throughput history, mostly
    same-team dependency chains with some cross-team ones, a few done features, quarterly releases,
    objectives, and customers with renewals requesting a handful of features each."""
    rng = random.Random(seed)
    products = [Product(id=f"prod-{p}", name=f"Product {p}") for p in range(4)]
    team_list: list[Team] = []
    for t in range(teams):
        capacity = rng.uniform(4.0, 9.0)
        history = [max(0.0, rng.gauss(capacity, capacity * 0.3)) for _ in range(12)]
        team_list.append(
            Team(
                id=f"team-{t:02d}",
                name=f"Team {t}",
                headcount=round(capacity),
                capacity=capacity,
                throughput_history=history,
            )
        )
    releases = [
        Release(id=f"rel-{q}", name=f"Release {q}", date=AS_OF + timedelta(weeks=13 * (q + 1)))
        for q in range(8)
    ]
    objectives = [
        Objective(
            id=f"obj-{o}",
            name=f"Objective {o}",
            weight=rng.uniform(0.5, 2.0),
            due_date=AS_OF + timedelta(weeks=rng.randint(20, 80)),
        )
        for o in range(10)
    ]
    done_count = open_features // 20
    features: list[Feature] = []
    for i in range(open_features + done_count):
        team = team_list[i % teams]
        likely = rng.uniform(0.5, 5.0)
        low, high = likely * rng.uniform(0.5, 0.9), likely * rng.uniform(1.2, 2.5)
        earlier = [f for f in features[-40:] if f.team_id is not None and rng.random() < 0.05]
        same_team = [f for f in earlier if f.team_id == team.id] or earlier
        depends_on = sorted({f.id for f in same_team[:2]})
        done = i < done_count
        features.append(
            Feature(
                id=f"feat-{i:04d}",
                name=f"Feature {i}",
                product_id=products[i % len(products)].id,
                team_id=team.id if rng.random() > 0.01 else None,
                status=FeatureStatus.DONE if done else rng.choice(list(FeatureStatus)[:3]),
                effort_low=low,
                effort_likely=likely,
                effort_high=high,
                progress=rng.choice([0.0, 0.0, 0.0, 0.25, 0.5]),
                target_date=AS_OF + timedelta(weeks=rng.randint(8, 120)) if rng.random() < 0.6 else None,
                priority=max(0, i + rng.randint(-30, 30)) if rng.random() < 0.9 else None,
                depends_on=depends_on,
                objective_ids=[rng.choice(objectives).id] if rng.random() < 0.3 else [],
                release_id=rng.choice(releases).id if rng.random() < 0.5 else None,
            )
        )
    customers = [
        Customer(
            id=f"cust-{c:03d}",
            name=f"Customer {c}",
            arr=rng.uniform(10_000, 500_000),
            segment=rng.choice(list(Segment)),
            renewal_date=AS_OF + timedelta(days=rng.randint(30, 720)) if rng.random() < 0.9 else None,
        )
        for c in range(300)
    ]
    requests = [
        Request(customer_id=customer.id, feature_id=feature_id)
        for customer in customers
        for feature_id in sorted({rng.choice(features).id for _ in range(rng.randint(1, 4))})
    ]
    return Portfolio(
        products=products,
        teams=team_list,
        features=features,
        customers=customers,
        objectives=objectives,
        releases=releases,
        requests=requests,
    )


def _timed(run: Callable[[], object], repeats: int) -> tuple[float, float, float]:
    """(best wall, median wall, CPU of the best run) over `repeats` runs, in seconds."""
    runs: list[tuple[float, float]] = []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        run()
        runs.append((time.perf_counter() - wall, time.process_time() - cpu))
    best = min(runs)
    return best[0], statistics.median(w for w, _ in runs), best[1]


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def run_forecast_benchmark(*, trials: int, open_features: int, reference_trials: int, repeats: int) -> None:
    portfolio = synthetic_portfolio(open_features=open_features)
    plan = plan_simulation(portfolio, as_of=AS_OF, horizon_weeks=260)
    print(
        f"Monte Carlo forecast: {open_features} open features, {len(plan.teams)} teams, "
        f"{sum(p.size for p in plan.prerequisites)} open dependencies, {trials:,} trials, 260-week horizon, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}"
    )
    result = forecast(portfolio, as_of=AS_OF, trials=trials, seed=1)
    whole_best, whole_median, whole_cpu = _timed(
        lambda: forecast(portfolio, as_of=AS_OF, trials=trials, seed=1), repeats
    )
    bootstrap_best, _, _ = _timed(
        lambda: forecast(portfolio, as_of=AS_OF, trials=trials, seed=1, throughput=ThroughputKind.BOOTSTRAP),
        repeats,
    )
    draw_best, _, _ = _timed(lambda: draw_simulation(plan, trials=trials, seed=1), repeats)
    draws = draw_simulation(plan, trials=trials, seed=1)
    core_best, core_median, core_cpu = _timed(lambda: simulate_completion_weeks(plan, draws), repeats)

    small_draws = draw_simulation(plan, trials=reference_trials, seed=1)
    reference_measured, _, _ = _timed(lambda: forecast_reference_python(plan, small_draws), 1)
    reference_scaled = reference_measured * trials / reference_trials
    agrees = np.array_equal(
        np.array(forecast_reference_python(plan, small_draws)), simulate_completion_weeks(plan, small_draws)
    )

    print(
        f"  forecast() end to end best {whole_best:6.3f} s, median {whole_median:6.3f} s of {repeats} "
        f"(CPU {whole_cpu:.3f} s, all threads)   aim <= {FORECAST_AIM_S:.1f} s: "
        f"{_verdict(whole_best <= FORECAST_AIM_S)}"
    )
    print(
        f"    same with the former bootstrap throughput model: best {bootstrap_best:6.3f} s (no rate uncertainty)"
    )
    print(
        f"    drawing efforts and rates     best {draw_best:6.3f} s (PERT by inverse CDF; weekly throughput is "
        "drawn lazily inside the core)"
    )
    print(
        f"    vectorised simulation core    best {core_best:6.3f} s, median {core_median:6.3f} s "
        f"(CPU {core_cpu:.3f} s)"
    )
    print(
        f"  pure-Python reference core   {reference_measured:6.3f} s measured on {reference_trials} trials "
        f"-> {reference_scaled:.1f} s scaled linearly to {trials:,} trials"
    )
    print(f"  reference == vectorised on the same {reference_trials}-trial draws: {agrees}")
    core_ratio = reference_scaled / core_best
    print(
        f"  speed-up, core vs core       {core_ratio:6.1f}x   aim >= {SPEEDUP_AIM:.0f}x: "
        f"{_verdict(core_ratio >= SPEEDUP_AIM)}"
    )
    print(
        f"  speed-up, whole forecast()   {reference_scaled / whole_best:6.1f}x   "
        f"(reference core vs draws + core + summary; the reference is fed the draws)"
    )
    p85_days = [(f.p85 - AS_OF).days for f in result.features if f.p85 is not None]
    print(
        f"  sanity: median P85 {np.median(p85_days):.0f} days, {len(result.unscheduled_feature_ids)} "
        f"unscheduled, ARR at risk {result.arr_at_risk:,.0f} of "
        f"{sum(c.arr for c in portfolio.customers):,.0f}, ARR-weighted on time {result.arr_weighted_on_time:.3f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=10_000)
    parser.add_argument("--features", type=int, default=1_000)
    parser.add_argument("--reference-trials", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    run_forecast_benchmark(
        trials=args.trials,
        open_features=args.features,
        reference_trials=args.reference_trials,
        repeats=args.repeats,
    )
    print()
    run_roadmap_benchmark()
    print()
    run_risk_benchmark()


if __name__ == "__main__":
    main()
