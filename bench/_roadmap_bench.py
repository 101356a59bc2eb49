"""Roadmap planner benchmark: a seeded 2,000-feature x 8-team portfolio planned over 4 quarters.

Aims: the MILP plan within 10 s wall time and worth at least the greedy plan.
Run with `python bench/_roadmap_bench.py`.
"""

from __future__ import annotations

import sys
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engines.roadmap import draft_roadmap
from graph.portfolio import (
    Customer,
    Feature,
    FeatureStatus,
    Objective,
    Portfolio,
    Product,
    Request,
    Segment,
    Team,
)

BENCH_AS_OF = date(2026, 1, 5)
TIME_AIM_S = 10.0


def synthetic_portfolio(
    *, features: int = 2_000, teams: int = 8, customers: int = 300, seed: int = 20_260_105
) -> Portfolio:
    """A seeded portfolio: lognormal efforts, acyclic dependencies within a product, ARR-weighted requests.

    Total remaining effort is several times the four-quarter capacity, so the planner has to choose.
    """
    rng = np.random.default_rng(seed)
    products = [Product(id=f"prod-{p}", name=f"Product {p}") for p in range(4)]
    team_list = [
        Team(
            id=f"team-{t}",
            name=f"Team {t}",
            headcount=int(rng.integers(3, 10)),
            capacity=float(np.round(rng.uniform(4.0, 10.0), 1)),
        )
        for t in range(teams)
    ]
    objectives = [Objective(id=f"obj-{o}", name=f"Objective {o}", weight=float(o + 1) / 2) for o in range(5)]

    feature_list: list[Feature] = []
    ids_by_product: dict[str, list[str]] = {p.id: [] for p in products}
    for i in range(features):
        product_id = products[int(rng.integers(len(products)))].id
        likely = float(np.clip(np.round(rng.lognormal(np.log(6.0), 0.7), 1), 0.5, 60.0))
        roll = rng.random()
        status = (
            FeatureStatus.DONE
            if roll < 0.05
            else FeatureStatus.IN_PROGRESS
            if roll < 0.15
            else FeatureStatus.PLANNED
            if roll < 0.4
            else FeatureStatus.PROPOSED
        )
        earlier = ids_by_product[product_id][-300:]
        prerequisite_count = int(rng.choice([0, 0, 0, 1, 1, 2])) if earlier else 0
        depends_on = sorted({earlier[int(j)] for j in rng.integers(len(earlier), size=prerequisite_count)})
        feature_id = f"feat-{i:05d}"
        feature_list.append(
            Feature(
                id=feature_id,
                name=f"Feature {i}",
                product_id=product_id,
                team_id=None if rng.random() < 0.03 else team_list[int(rng.integers(teams))].id,
                status=status,
                effort_low=round(likely * float(rng.uniform(0.4, 0.9)), 2),
                effort_likely=likely,
                effort_high=round(likely * float(rng.uniform(1.1, 3.0)), 2),
                progress=float(np.round(rng.uniform(0.0, 0.7), 2))
                if status is FeatureStatus.IN_PROGRESS
                else 0.0,
                target_date=BENCH_AS_OF + timedelta(days=int(rng.integers(0, 500)))
                if rng.random() < 0.3
                else None,
                reach=float(np.round(rng.uniform(50, 20_000))),
                impact=float(rng.choice([0.25, 0.5, 1.0, 2.0, 3.0])),
                confidence=float(rng.choice([0.5, 0.8, 1.0])),
                depends_on=depends_on,
                objective_ids=[objectives[int(rng.integers(len(objectives)))].id]
                if rng.random() < 0.4
                else [],
            )
        )
        ids_by_product[product_id].append(feature_id)

    customer_list = [
        Customer(
            id=f"cust-{c:04d}",
            name=f"Customer {c}",
            arr=float(np.round(rng.lognormal(np.log(80_000), 1.0))),
            segment=list(Segment)[int(rng.integers(len(Segment)))],
            renewal_date=BENCH_AS_OF + timedelta(days=int(rng.integers(10, 400))),
        )
        for c in range(customers)
    ]
    open_ids = [f.id for f in feature_list if f.status is not FeatureStatus.DONE]
    pairs = {
        (customer_list[int(rng.integers(customers))].id, open_ids[int(rng.integers(len(open_ids)))])
        for _ in range(features * 2)
    }
    requests = [
        Request(customer_id=c, feature_id=f, weight=float(rng.choice([0.5, 1.0, 2.0, 5.0])))
        for c, f in sorted(pairs)
    ]
    return Portfolio(
        products=products,
        teams=team_list,
        features=feature_list,
        customers=customer_list,
        objectives=objectives,
        requests=requests,
    )


def run_roadmap_benchmark() -> None:
    portfolio = synthetic_portfolio()
    candidates = sum(1 for f in portfolio.features if f.status is not FeatureStatus.DONE and f.team_id)
    edges = sum(len(f.depends_on) for f in portfolio.features)
    print(
        f"roadmap: {len(portfolio.features)} features ({candidates} owned, not done), {len(portfolio.teams)} teams, "
        f"{edges} dependencies, 4 quarters, time limit {TIME_AIM_S:.0f} s"
    )
    started = time.perf_counter()
    plan = draft_roadmap(portfolio, as_of=BENCH_AS_OF, quarters=4, time_limit_s=TIME_AIM_S)
    wall = time.perf_counter() - started
    report = plan.solver
    greedy_value = plan.greedy_value or 0.0

    def fmt(number: float | None, spec: str) -> str:
        return "n/a" if number is None else format(number, spec)

    print(
        f"  MILP: {report.variables} binaries, {report.constraints} rows; wall {wall:.2f} s "
        f"(solver {report.solve_time_s:.2f} s), status {report.status}, optimal {report.optimal}"
    )
    print(
        f"  gap: plan {fmt(report.plan_gap, '.2e')} vs upper bound {fmt(report.upper_bound, '.4f')}; "
        f"HiGHS mip_gap {fmt(report.mip_gap, '.2e')} ({report.mip_gap_stage or 'no MILP'})"
    )
    print(f"  {report.note}")
    print(
        f"  value: plan {plan.total_value:.4f} (from {report.source}) vs greedy {greedy_value:.4f} "
        f"(ratio {fmt(plan.value_ratio_vs_greedy, '.4f')}); placed {len(plan.items())}, left out {len(plan.left_out)}"
    )
    time_ok = wall <= TIME_AIM_S
    value_ok = plan.total_value >= greedy_value
    print(f"  {'PASS' if time_ok else 'MISS'} wall time <= {TIME_AIM_S:.0f} s ({wall:.2f} s)")
    print(f"  {'PASS' if value_ok else 'MISS'} plan value >= greedy value")


if __name__ == "__main__":
    run_roadmap_benchmark()
