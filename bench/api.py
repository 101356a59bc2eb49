"""API benchmark: a representative roadmap query through the full HTTP stack vs raw graphql-core.

Set-up (in temporary directories): a local graph database holding the generated demo portfolio (`--scale`, default medium), a local
Temporal dev server and an in-process worker; a roadmap is drafted by the real workflow (offline model)
and approved, so the current roadmap is a real result node. Then the same query, the current roadmap's
first 100 items with nested fields (feature, owner, dependencies, demand, team, scores, rationale), runs:

1. through raw graphql-core (`graphql.graphql` on the schema's GraphQLSchema): the resolvers and the
   database, no HTTP, no strawberry extensions;
2. through strawberry's `schema.execute` with the production extensions (limits, masking, tracing hooks);
3. the same, with DataLoaders that do not share the process's cache of portfolio reads
   (`api.portfolio_cache`): every request reads its features, teams and demand from the graph;
4. over HTTP to uvicorn on 127.0.0.1 (auth, ASGI middleware, JSON), from a client in another process.

For each: p50 and p99 latency of sequential requests, and throughput with concurrent requests. The ratio
of (4) to (1) is the API's overhead; (3) shows what the cache saves while the portfolio is unchanged
(`api/READ_PATH.md` weighs each piece of the read path with these figures). Aims: overhead <= 1.3x,
HTTP p99 < 50 ms. Run from the repository root: `.venv/bin/python -m bench.api` (`--scale small|medium`,
`--requests`, `--concurrency`).
The machine is shared, so the figures are indicative.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import date
from pathlib import Path
from typing import Any

import graphql
import httpx
import neo4j

from api.app import create_app
from api.auth import Principal, Role, create_api_key
from api.context import ApiServices, Loaders, RequestContext
from api.schema import build_schema
from api.server import running_server, services_for
from api.settings import ApiMode, ApiSettings
from graph.demo import generate_portfolio
from graph.local_db import LocalGraphDatabase
from graph.processes import freeze_startup_objects
from graph.store import GraphStore
from workflows.client import approve_roadmap, connect, get_progress, start_roadmap_drafting
from workflows.local_temporal import LocalTemporalServer
from workflows.payloads import RoadmapDraftingRequest, Stage
from workflows.worker import build_worker

AS_OF = date(2026, 11, 23)
OVERHEAD_AIM = 1.3
P99_AIM_MS = 50.0

ROADMAP_QUERY = """
query Roadmap {
  roadmap {
    id version status
    items(first: 100) {
      featureId quarter kind value confidence rationale
      feature {
        id name status effortLikely progress
        owner { id name capacity }
        dependencies { id name status }
        demand { requestCount arrWeightedDemand }
      }
      team { id name }
      scores { value rice { score } wsjf { score } demand { score } }
    }
  }
}
"""


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def summarise(name: str, latencies_s: list[float], throughput: float) -> dict[str, float | str]:
    return {
        "name": name,
        "p50_ms": 1000 * statistics.median(latencies_s),
        "p99_ms": 1000 * percentile(latencies_s, 0.99),
        "throughput_rps": throughput,
    }


async def measure(
    call: Callable[[], Awaitable[None]], *, requests: int, concurrency: int, warmup: int = 10
) -> tuple[list[float], float]:
    for _ in range(warmup):
        await call()
    latencies: list[float] = []
    for _ in range(requests):
        started = time.perf_counter()
        await call()
        latencies.append(time.perf_counter() - started)
    done = 0
    started = time.perf_counter()

    async def worker() -> None:
        nonlocal done
        for _ in range(requests // concurrency):
            await call()
            done += 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, done / (time.perf_counter() - started)


# -- the HTTP client, in its own process ------------------------------------------------------------


async def http_client_main(url: str, key: str, requests: int, concurrency: int) -> None:
    freeze_startup_objects()  # the client's full collections stay out of the figures, as the server's do
    async with httpx.AsyncClient(
        base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=30
    ) as http:
        body = {"query": ROADMAP_QUERY}

        async def call() -> None:
            response = await http.post("/graphql", json=body)
            payload = response.json()
            if response.status_code != 200 or "errors" in payload:
                raise RuntimeError(f"HTTP {response.status_code}: {response.text[:300]}")

        latencies, throughput = await measure(call, requests=requests, concurrency=concurrency)
    print(json.dumps({"latencies": latencies, "throughput": throughput}))


# -- set-up and the in-process measurements -----------------------------------------------------------


async def draft_and_publish_roadmap(store: GraphStore, temporal_dir: Path) -> LocalTemporalServer:
    server = LocalTemporalServer(temporal_dir)
    await server.start()
    client = await connect(server.endpoint())
    worker = build_worker(client, store, task_queue="bench-api")
    async with worker:
        run_id = await start_roadmap_drafting(
            client,
            RoadmapDraftingRequest(as_of=AS_OF, trials=500, quarters=4, planner_time_limit_s=10.0),
            task_queue="bench-api",
        )
        deadline = time.monotonic() + 600
        while (await get_progress(client, run_id)).stage is not Stage.AWAITING_REVIEW:
            if time.monotonic() > deadline:
                raise TimeoutError("the roadmap draft did not reach review")
            await asyncio.sleep(0.3)
        outcome = await approve_roadmap(client, run_id, reviewer="bench", comment="benchmark")
        print(
            f"roadmap {run_id}: version {outcome.version}, {outcome.status.value}, "
            f"{outcome.commitment_count} commitments + {outcome.exploration_count} explorations"
        )
    return server


async def main(scale: str, requests: int, concurrency: int) -> None:
    with tempfile.TemporaryDirectory(prefix="lodestar-bench-api-") as scratch:
        root = Path(scratch)
        portfolio = generate_portfolio(seed=7, scale=scale, anchor=AS_OF)
        print(f"demo portfolio '{scale}': {portfolio.counts()}")
        with LocalGraphDatabase(root / "graph") as database:
            async with neo4j.AsyncGraphDatabase.driver(database.uri, auth=database.auth) as driver:
                store = GraphStore(driver, database.database)
                await store.ensure_schema()
                started = time.perf_counter()
                await store.import_portfolio(portfolio)
                print(f"imported in {time.perf_counter() - started:.1f} s")
                temporal = await draft_and_publish_roadmap(store, root / "temporal")
                try:
                    settings = ApiSettings(mode=ApiMode.PRODUCTION)
                    services = await services_for(store, settings)
                    key = (await create_api_key(services.queries, "bench", Role.VIEWER)).secret_key
                    results = await run_measurements(services, key, requests, concurrency)
                finally:
                    await temporal.stop()
    report(results, requests, concurrency)


async def run_measurements(
    services: ApiServices, key: str, requests: int, concurrency: int
) -> list[dict[str, float | str]]:
    schema = build_schema(services.settings)
    principal = Principal(key_id="bench", name="bench", role=Role.VIEWER)
    document = graphql.parse(ROADMAP_QUERY)

    def context() -> RequestContext:
        return RequestContext(services=services, loaders=services.loaders(), principal=principal)

    def uncached_context() -> RequestContext:
        return RequestContext(services=services, loaders=Loaders(services.queries), principal=principal)

    async def raw() -> None:
        result = await graphql.graphql(schema._schema, ROADMAP_QUERY, context_value=context())
        check(result.errors, result.data)

    async def strawberry_execute() -> None:
        result = await schema.execute(ROADMAP_QUERY, context_value=context())
        check(result.errors, result.data)

    async def strawberry_uncached() -> None:
        result = await schema.execute(ROADMAP_QUERY, context_value=uncached_context())
        check(result.errors, result.data)

    assert not graphql.validate(schema._schema, document)
    before = services.queries.round_trips
    await raw()
    cold = services.queries.round_trips - before
    before = services.queries.round_trips
    items = len(
        ((await schema.execute(ROADMAP_QUERY, context_value=context())).data or {})["roadmap"]["items"]
    )
    warm = services.queries.round_trips - before
    print(
        f"query: {items} roadmap items; graph statements per request: {cold} with the portfolio cache cold, "
        f"{warm} warm (result node and revision token)"
    )

    print(f"froze {freeze_startup_objects()} start-up objects (as `lodestar serve` does)")
    results = []
    latencies, throughput = await measure(raw, requests=requests, concurrency=concurrency)
    results.append(summarise("graphql-core, no HTTP", latencies, throughput))
    latencies, throughput = await measure(strawberry_execute, requests=requests, concurrency=concurrency)
    results.append(summarise("strawberry schema.execute", latencies, throughput))
    latencies, throughput = await measure(strawberry_uncached, requests=requests, concurrency=concurrency)
    results.append(summarise("  the same, no shared cache", latencies, throughput))
    async with running_server(create_app(services, schema=schema)) as url:
        client = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.api",
            "--client",
            url,
            "--key",
            key,
            "--requests",
            str(requests),
            "--concurrency",
            str(concurrency),
            stdout=subprocess.PIPE,
        )
        output, _ = await client.communicate()
        if client.returncode != 0:
            raise RuntimeError("the HTTP client process failed")
        measured = json.loads(output.decode().strip().splitlines()[-1])
    results.append(summarise("HTTP (uvicorn, loopback)", measured["latencies"], measured["throughput"]))
    return results


def check(errors: Any, data: Any) -> None:
    if errors or not data or not data["roadmap"]:
        raise RuntimeError(f"the roadmap query failed: {errors}")


def report(results: list[dict[str, float | str]], requests: int, concurrency: int) -> None:
    print(f"\n{requests} sequential requests for latency; {concurrency} concurrent for throughput")
    print(f"{'path':<30} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>8}")
    for row in results:
        print(f"{row['name']:<30} {row['p50_ms']:>8.2f} {row['p99_ms']:>8.2f} {row['throughput_rps']:>8.1f}")
    raw, http = results[0], results[-1]
    latency_ratio = float(http["p50_ms"]) / float(raw["p50_ms"])
    throughput_ratio = float(raw["throughput_rps"]) / float(http["throughput_rps"])
    print(
        f"\noverhead (HTTP / graphql-core): p50 latency {latency_ratio:.2f}x, throughput {throughput_ratio:.2f}x "
        f"(aim <= {OVERHEAD_AIM}x)"
    )
    print(f"HTTP p99 {float(http['p99_ms']):.1f} ms (aim < {P99_AIM_MS:.0f} ms)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", default="medium", choices=["small", "medium"])
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--client", help=argparse.SUPPRESS)
    parser.add_argument("--key", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.client:
        asyncio.run(
            http_client_main(arguments.client, arguments.key, arguments.requests, arguments.concurrency)
        )
    else:
        asyncio.run(main(arguments.scale, arguments.requests, arguments.concurrency))
