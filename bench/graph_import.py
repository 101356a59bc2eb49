"""Import benchmark: the generated portfolio into a fresh local graph database, against a naive baseline.

    python bench/graph_import.py [--scale large] [--batch-size 10000] [--concurrency 1]

Steps, all against one LocalGraphDatabase in a temporary directory:
1. baseline: a sub-portfolio (the first `--baseline-customers` customers, what they request and
   what that needs) imported once to warm the server's JIT up, then with the naive path (MERGE
   every node and relationship, batches of `--baseline-batch-size`), then with the diff + CREATE
   path; the graph is cleared after each. Prints nodes/s and relationships/s of both, and the ratio;
2. the whole portfolio imported with the diff + CREATE path (batched: one transaction per batch):
   nodes/s and relationships/s of those phases, and relationships per second of the whole call
   (validation, planning and nodes included);
3. the whole-portfolio snapshot read back (and compared with the document);
4. with `--reimport`: the same document imported again, which must change nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import neo4j

from graph.demo import SCALES, generate_portfolio
from graph.local_db import LocalGraphDatabase
from graph.portfolio import Portfolio
from graph.store import GraphStore, ImportSummary, normalise_portfolio

BENCH_ANCHOR = date(2026, 6, 1)


def sub_portfolio(portfolio: Portfolio, customers: int) -> Portfolio:
    """A valid slice: the first `customers` customers, their requests and feedback, the features they
    request (dependencies trimmed to the slice), and every product, team, objective and release."""
    kept_customers = portfolio.customers[:customers]
    customer_ids = {customer.id for customer in kept_customers}
    requests = [request for request in portfolio.requests if request.customer_id in customer_ids]
    feature_ids = {request.feature_id for request in requests}
    features = [
        feature.model_copy(update={"depends_on": [d for d in feature.depends_on if d in feature_ids]})
        for feature in portfolio.features
        if feature.id in feature_ids
    ]
    feedback = [
        item
        for item in portfolio.feedback
        if item.customer_id in customer_ids and (item.feature_id is None or item.feature_id in feature_ids)
    ]
    return Portfolio(
        products=portfolio.products,
        teams=portfolio.teams,
        features=features,
        customers=kept_customers,
        objectives=portfolio.objectives,
        releases=portfolio.releases,
        requests=requests,
        feedback=feedback,
    )


def relationship_count(portfolio: Portfolio) -> int:
    features = portfolio.features
    return (
        len(features)
        + sum(f.team_id is not None for f in features)
        + sum(len(f.depends_on) for f in features)
        + sum(len(f.objective_ids) for f in features)
        + sum(f.release_id is not None for f in features)
        + sum(len(c.product_ids) for c in portfolio.customers)
        + len(portfolio.requests)
        + len(portfolio.feedback)
        + sum(item.feature_id is not None for item in portfolio.feedback)
        + sum(r.product_id is not None for r in portfolio.releases)
    )


def node_count(portfolio: Portfolio) -> int:
    return sum(count for name, count in portfolio.counts().items() if name != "requests")


def describe(summary: ImportSummary) -> str:
    nodes, relationships = summary.total("nodes"), summary.total("relationships")
    phases = ", ".join(f"{name} {seconds:.1f}s" for name, seconds in summary.phase_seconds.items())
    return (
        f"{summary.seconds:.1f}s in {summary.transactions} transactions; nodes +{nodes.created} "
        f"~{nodes.updated} ={nodes.unchanged}; relationships +{relationships.created} ~{relationships.updated} "
        f"-{relationships.deleted} ={relationships.unchanged}; phases: {phases}"
    )


async def run(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    portfolio = generate_portfolio(seed=7, scale=args.scale, anchor=BENCH_ANCHOR)
    nodes, relationships = node_count(portfolio), relationship_count(portfolio)
    print(
        f"generated the {args.scale} portfolio in {time.perf_counter() - started:.1f}s: "
        f"{nodes:,} nodes, {relationships:,} relationships ({len(portfolio.requests):,} requests)"
    )
    with tempfile.TemporaryDirectory(prefix="lodestar-bench-") as data_dir:
        database = LocalGraphDatabase(Path(data_dir) / "graph", heap=args.heap)
        async with database, neo4j.AsyncGraphDatabase.driver(database.uri, auth=database.auth) as driver:
            store = GraphStore(
                driver, database.database, batch_size=args.batch_size, write_concurrency=args.concurrency
            )
            await store.ensure_schema()

            sample = sub_portfolio(portfolio, args.baseline_customers)
            sample_relationships = relationship_count(sample)
            print(
                f"baseline slice: {node_count(sample):,} nodes, {sample_relationships:,} relationships; "
                f"a first diff + CREATE import warms the server up"
            )
            warm_up = await store.import_portfolio(sample)
            await store.clear()
            print(f"  warm-up import: {describe(warm_up)}")

            store.batch_size = args.baseline_batch_size
            naive = await store.merge_portfolio_naive(sample)
            await store.clear()
            store.batch_size = args.batch_size
            fast = await store.import_portfolio(sample)
            await store.clear()
            sample_nodes = node_count(sample)
            naive_rates = (sample_nodes / naive["nodes"], sample_relationships / naive["relationships"])
            fast_rates = (
                sample_nodes / fast.phase_seconds["nodes"],
                sample_relationships / fast.phase_seconds["relationships"],
            )
            print(
                f"  naive MERGE (batches of {args.baseline_batch_size}): {sum(naive.values()):.1f}s; "
                f"nodes {naive_rates[0]:,.0f}/s, relationships {naive_rates[1]:,.0f}/s"
            )
            print(f"  diff + CREATE: {describe(fast)}")
            print(
                f"  -> nodes {fast_rates[0]:,.0f}/s ({fast_rates[0] / naive_rates[0]:.1f}x the naive path), "
                f"relationships {fast_rates[1]:,.0f}/s ({fast_rates[1] / naive_rates[1]:.1f}x)"
            )

            summary = await store.import_portfolio(portfolio)
            node_seconds = summary.phase_seconds["nodes"]
            relationship_seconds = summary.phase_seconds["relationships"]
            print(f"full import: {describe(summary)}")
            print(
                f"  nodes: {nodes / node_seconds:,.0f}/s; relationships: {relationships / relationship_seconds:,.0f}/s; "
                f"overall {(nodes + relationships) / summary.seconds:,.0f} rows/s "
                f"({relationships / summary.seconds:,.0f} relationships per second of the whole import)"
            )

            began = time.perf_counter()
            snapshot = await store.portfolio_snapshot()
            snapshot_seconds = time.perf_counter() - began
            identical = snapshot == normalise_portfolio(portfolio)
            print(f"snapshot read in {snapshot_seconds:.1f}s; equal to the imported document: {identical}")

            if args.reimport:
                again = await store.import_portfolio(portfolio)
                print(f"re-import: {describe(again)}; changed anything: {again.changed}")
                identical = identical and not again.changed
    print(f"total {time.perf_counter() - started:.0f}s")
    return 0 if identical else 1


def _interrupt_on_sigterm() -> None:
    """Turn SIGTERM into KeyboardInterrupt, so the context managers stop the database server."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", choices=sorted(SCALES), default="large")
    parser.add_argument("--batch-size", type=int, default=10_000, help="rows per write transaction")
    parser.add_argument("--concurrency", type=int, default=1, help="sessions writing batches side by side")
    parser.add_argument(
        "--baseline-customers", type=int, default=3_000, help="customers in the baseline slice"
    )
    parser.add_argument(
        "--baseline-batch-size", type=int, default=1_000, help="rows per naive MERGE transaction"
    )
    parser.add_argument("--heap", default="2g", help="server JVM heap (-Xmx)")
    parser.add_argument("--reimport", action="store_true", help="import the same document again at the end")
    arguments = parser.parse_args()
    _interrupt_on_sigterm()
    return asyncio.run(run(arguments))


if __name__ == "__main__":
    sys.exit(main())
