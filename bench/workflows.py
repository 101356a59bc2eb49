"""Workflow benchmark: end-to-end time of each Lodestar workflow on the demo portfolio, the throughput of
N concurrent risk assessments, and the same for a bare one-activity workflow on the same server.

Run from the repository root: `.venv/bin/python -m bench.workflows [--concurrency 8] [--trials 10000]`.
(As `-m`, so that `workflows` is the package, not this file.) It starts a private local graph database
and Temporal dev server (SQLite) in a temporary directory, imports the small demo portfolio, and runs
one worker in this process with production settings (workflow cache on). The machine is shared and has
2 cores: the figures are indicative.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from pathlib import Path

from temporalio import activity, workflow

with workflow.unsafe.imports_passed_through():
    from temporalio.client import Client
    from temporalio.worker import Worker

    from graph.demo import generate_portfolio
    from lodestar.cli import default_scenarios
    from tests.workflows.support import private_services
    from workflows import client as lodestar
    from workflows.payloads import (
        PortfolioReviewRequest,
        RiskAssessmentRequest,
        RoadmapDraftingRequest,
        ScenarioSimulationRequest,
        Stage,
    )
    from workflows.worker import build_worker, workflow_runner

AS_OF = date(2026, 11, 23)


@activity.defn(name="bench_echo")
async def echo(value: int) -> int:
    return value


@workflow.defn(name="BenchBareOneActivityWorkflow")
class BareOneActivityWorkflow:
    """The smallest useful workflow: one activity, no payload to speak of."""

    @workflow.run
    async def run(self, value: int) -> int:
        return await workflow.execute_activity(echo, value, start_to_close_timeout=timedelta(seconds=30))


async def _timed(run: Callable[[], Awaitable[object]]) -> float:
    started = time.perf_counter()
    await run()
    return time.perf_counter() - started


async def _roadmap_published(client: Client, request: RoadmapDraftingRequest, queue: str) -> None:
    workflow_id = await lodestar.start_roadmap_drafting(client, request, task_queue=queue)
    while True:  # the progress query is answered by the worker; there is no push notification
        if (await lodestar.get_progress(client, workflow_id)).stage is Stage.AWAITING_REVIEW:
            break
        await asyncio.sleep(0.05)
    await lodestar.approve_roadmap(client, workflow_id, reviewer="bench")


async def _concurrent(count: int, start_one: Callable[[int], Awaitable[object]]) -> float:
    started = time.perf_counter()
    await asyncio.gather(*(start_one(index) for index in range(count)))
    return time.perf_counter() - started


def _stats(samples: list[float]) -> str:
    return f"median {statistics.median(samples):6.2f} s  (min {min(samples):.2f}, max {max(samples):.2f}, n={len(samples)})"


async def run_benchmark(directory: Path, *, trials: int, concurrency: int, repeat: int) -> None:
    portfolio = generate_portfolio(seed=7, scale="small", anchor=AS_OF)
    async with private_services(directory, portfolio) as (store, client):
        queue, bare_queue = f"bench-{uuid.uuid4()}", f"bench-bare-{uuid.uuid4()}"
        bare_worker = Worker(
            client,
            task_queue=bare_queue,
            workflows=[BareOneActivityWorkflow],
            activities=[echo],
            workflow_runner=workflow_runner(),
        )
        async with build_worker(client, store, task_queue=queue), bare_worker:
            settings = {"as_of": AS_OF, "trials": trials, "seed": 11}
            risk = RiskAssessmentRequest(**settings)

            async def scenario(_: int) -> None:
                request = ScenarioSimulationRequest(**settings, scenarios=default_scenarios(portfolio))
                workflow_id = await lodestar.start_scenario_simulation(client, request, task_queue=queue)
                await lodestar.get_result(client, workflow_id)

            async def roadmap(_: int) -> None:
                await _roadmap_published(client, RoadmapDraftingRequest(**settings), queue)

            async def risk_run(index: int, *, distinct: bool = False) -> None:
                request = risk.model_copy(update={"seed": 1_000 + index}) if distinct else risk
                workflow_id = await lodestar.start_risk_assessment(client, request, task_queue=queue)
                await lodestar.get_result(client, workflow_id)

            async def review(_: int) -> None:
                workflow_id = await lodestar.start_portfolio_review(
                    client, PortfolioReviewRequest(**settings), task_queue=queue
                )
                await lodestar.get_result(client, workflow_id)

            async def bare(index: int) -> None:
                result = await client.execute_workflow(
                    BareOneActivityWorkflow.run, index, id=f"bare-{uuid.uuid4()}", task_queue=bare_queue
                )
                assert result == index

            print(
                f"demo portfolio: {len(portfolio.features)} features, {len(portfolio.customers)} customers; "
                f"{trials:,} trials; one in-process worker; Temporal dev server with SQLite"
            )
            print(
                "\nend-to-end time of one run (the first run of each also fills the worker's engine cache):"
            )
            single: dict[str, list[float]] = {}
            for name, run in (
                ("ScenarioSimulationWorkflow", scenario),
                ("RoadmapDraftingWorkflow (draft + approve)", roadmap),
                ("RiskAssessmentWorkflow", risk_run),
                ("PortfolioReviewWorkflow (child risk + forecast)", review),
                ("bare one-activity workflow", bare),
            ):
                single[name] = [await _timed(lambda run=run: run(0)) for _ in range(repeat)]
                print(f"  {name:50s} {_stats(single[name])}")

            print(f"\nthroughput of {concurrency} concurrent runs:")
            risk_seconds = await _concurrent(concurrency, risk_run)
            distinct_seconds = await _concurrent(concurrency, lambda i: risk_run(i, distinct=True))
            bare_seconds = await _concurrent(concurrency, bare)
            print(
                f"  risk assessments, same settings (cached engines)  {concurrency / risk_seconds:7.2f} runs/s  ({risk_seconds:.2f} s)"
            )
            print(
                f"  risk assessments, distinct seeds (engines rerun)  {concurrency / distinct_seconds:7.2f} runs/s  ({distinct_seconds:.2f} s)"
            )
            print(
                f"  bare one-activity workflows                       {concurrency / bare_seconds:7.2f} runs/s  ({bare_seconds:.2f} s)"
            )

            risk_median = statistics.median(single["RiskAssessmentWorkflow"])
            bare_median = statistics.median(single["bare one-activity workflow"])
            print("\noverhead of a risk assessment vs the bare workflow:")
            print(f"  single run: {risk_median / bare_median:6.1f}x the bare workflow's time")
            print(
                f"  throughput: {(concurrency / bare_seconds) / (concurrency / risk_seconds):6.1f}x fewer runs/s (cached engines)"
            )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trials", type=int, default=10_000, help="Monte Carlo trials per analysis")
    parser.add_argument(
        "--concurrency", type=int, default=8, help="concurrent runs for the throughput figures"
    )
    parser.add_argument("--repeat", type=int, default=3, help="single runs per workflow")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lodestar-bench-") as directory:
        asyncio.run(
            run_benchmark(
                Path(directory), trials=args.trials, concurrency=args.concurrency, repeat=args.repeat
            )
        )


if __name__ == "__main__":
    main()
