"""Read-path benchmark: what the revision filter (`graph.visibility`) costs the API's hottest statements.

    python -m bench.read_visibility [--scale medium] [--rounds 200] [--ids 100]

Against one LocalGraphDatabase holding the generated portfolio, each statement runs in two forms,
interleaved round by round so that load on the machine hits both alike:
- baseline: the statement without the filter (the revision scope dropped, every visibility condition
  `true`), as the statements were before imports were staged;
- filtered: the statement as Lodestar sends it.
Both must return the same records (checked once). Prints p50 and p99 per form and the p50 ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any, LiteralString, cast

import neo4j

from graph import entity_reads, portfolio_statements
from graph.cypher import Query
from graph.demo import generate_portfolio
from graph.local_db import LocalGraphDatabase
from graph.store import GraphStore
from graph.visibility import REVISION_SCOPE, visible_node, visible_relationship

_VARIABLES = ("n", "f", "t", "c", "l", "r", "a", "b", "q", "part")


def without_filter(text: str) -> str:
    """`text` as it was before the revision filter: no scope, every visibility condition true."""
    text = text.replace(" ".join(REVISION_SCOPE.split()) + " ", "")
    for variable in _VARIABLES:
        text = text.replace(visible_relationship(variable), "true").replace(visible_node(variable), "true")
    text = text.replace(", current_revision", "").replace("current_revision, ", "")
    assert "current_revision" not in text, text
    return (
        text.replace(" WHERE true |", " |").replace("WHERE true AND ", "WHERE ").replace(" WHERE true ", " ")
    )


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def run(args: argparse.Namespace) -> int:
    portfolio = generate_portfolio(seed=7, scale=args.scale, anchor=date(2026, 6, 1))
    feature_ids = sorted(feature.id for feature in portfolio.features)[: args.ids]
    team_ids = sorted(team.id for team in portfolio.teams)[: args.ids]
    statements: list[tuple[Query, dict[str, Any]]] = [
        (entity_reads.FEATURES_WITH_PREREQUISITES, {"ids": feature_ids}),
        (entity_reads.FEATURES_BY_IDS, {"ids": feature_ids}),
        (entity_reads.TEAMS_BY_IDS, {"ids": team_ids}),
        (portfolio_statements.FEATURE_DEMAND_SELECTED, {"ids": feature_ids}),
        (entity_reads.REQUESTS_BY_FEATURE_IDS, {"ids": feature_ids}),
        (
            entity_reads.PAGE_FORWARD[entity_reads.PagedLabel.FEATURE],
            {"after": None, "limit": args.ids + 1, "status": None, "product": None, "team": None},
        ),
    ]
    with tempfile.TemporaryDirectory(prefix="lodestar-bench-") as data_dir:
        database = LocalGraphDatabase(Path(data_dir) / "graph")
        async with database, neo4j.AsyncGraphDatabase.driver(database.uri, auth=database.auth) as driver:
            store = GraphStore(driver, database.database)
            await store.ensure_schema()
            started = time.perf_counter()
            await store.import_portfolio(portfolio)
            print(f"{args.scale} portfolio imported in {time.perf_counter() - started:.1f}s")

            async def timed(text: str, params: dict[str, Any]) -> tuple[float, list[Any]]:
                began = time.perf_counter()
                records, _, _ = await driver.execute_query(  # pyright: ignore[reportUnknownMemberType]
                    cast(LiteralString, text), params, database_=database.database, routing_="r"
                )
                return time.perf_counter() - began, sorted(repr(record.data()) for record in records)

            print(f"{args.rounds} interleaved rounds, {args.ids} ids per lookup")
            print(
                f"{'statement':34} {'base p50':>9} {'base p99':>9} {'filt p50':>9} {'filt p99':>9} {'ratio':>6}"
            )
            for query, params in statements:
                baseline_text = without_filter(query.text)
                _, baseline_records = await timed(baseline_text, params)
                _, filtered_records = await timed(query.text, params)
                assert baseline_records == filtered_records, f"{query.name}: the two forms disagree"
                baseline: list[float] = []
                filtered: list[float] = []
                for _ in range(args.rounds):
                    baseline.append((await timed(baseline_text, params))[0] * 1000)
                    filtered.append((await timed(query.text, params))[0] * 1000)
                base_p50, filt_p50 = statistics.median(baseline), statistics.median(filtered)
                print(
                    f"{query.name:34} {base_p50:9.2f} {percentile(baseline, 0.99):9.2f} "
                    f"{filt_p50:9.2f} {percentile(filtered, 0.99):9.2f} {filt_p50 / base_p50:6.2f}"
                )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", choices=["small", "medium"], default="medium")
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--ids", type=int, default=100)
    return asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
