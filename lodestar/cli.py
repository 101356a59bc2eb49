"""The `lodestar` command line."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from agents import engine_runs
from agents.deps import AnalysisDeps
from agents.engines.roadmap import RoadmapError
from agents.engines.scenarios import (
    CapacityChange,
    Reestimate,
    RemoveScope,
    Reprioritise,
    Scenario,
    ScenarioError,
    ShiftStart,
    prepare_scenario,
)
from agents.risk_agent import RiskAssessmentReport, run_risk_assessment
from agents.roadmap_agent import RoadmapReport, run_roadmap_drafting
from agents.scenario_agent import ScenarioReport, run_scenario_analysis
from agents.snapshots import snapshots
from graph.connection import open_graph
from graph.demo import SCALES, generate_portfolio
from graph.loaders import load_portfolio
from graph.models import FeatureStatus, Portfolio
from graph.results import ResultStore
from graph.schema import NodeLabel
from graph.store import GraphStore
from graph.validation import PortfolioValidationError
from lodestar import render
from workflows.client import (
    approve_roadmap,
    get_progress,
    get_result,
    start_risk_assessment,
    start_roadmap_drafting,
    start_scenario_simulation,
)
from workflows.client import connect as connect_temporal
from workflows.local_temporal import TemporalSettings, temporal_endpoint
from workflows.models import (
    AnalysisSettings,
    RiskAssessmentRequest,
    RoadmapDraftingRequest,
    ScenarioSimulationRequest,
    Stage,
)
from workflows.worker import build_worker, run_worker_until_stopped

app = typer.Typer(
    name="lodestar",
    help="Lodestar: delivery forecasts, roadmaps and risk from a graph of your product portfolio.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
console = Console(width=None if Console().is_terminal else 150)
T = TypeVar("T")

AsOf = Annotated[str | None, typer.Option(help="Analysis date (YYYY-MM-DD); default today.")]
Trials = Annotated[int, typer.Option(min=100, max=100_000, help="Monte Carlo trials.")]
Seed = Annotated[int, typer.Option(help="Random seed; the same seed gives the same result.")]


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a command's coroutine. SIGTERM unwinds it like Ctrl-C does, so the local database and
    Temporal server it started are stopped (uvicorn re-raises the SIGTERM it caught once it has shut down)."""
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _exit_on_sigterm)
    return asyncio.run(coroutine)


def _as_of(value: str | None) -> date:
    if value is None:
        return date.today()
    try:
        return date.fromisoformat(value)
    except ValueError as error:
        raise typer.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)") from error


@dataclass
class Session:
    store: GraphStore
    portfolio: Portfolio
    snapshot_id: str


@asynccontextmanager
async def _session() -> AsyncIterator[Session]:
    """The graph (Neo4j from NEO4J_URI, or the local database) and a snapshot of it for the agents."""
    async with open_graph() as store:
        portfolio = await store.portfolio_snapshot()
        if not portfolio.features:
            console.print(
                "[yellow]The graph holds no features yet: run `lodestar demo` or `lodestar import`.[/]"
            )
            raise typer.Exit(1)
        snapshots.set_loader(store.portfolio_snapshot)
        yield Session(store, portfolio, snapshots.put(portfolio))


def _print_validation_error(error: PortfolioValidationError) -> None:
    table = Table(title=f"Import rejected: {len(error.issues)} problem(s); nothing was written", style="red")
    table.add_column("where")
    table.add_column("problem")
    for issue in error.issues[:200]:
        table.add_row(issue.location, issue.message)
    console.print(table)


async def _print_summary(store: GraphStore, portfolio: Portfolio) -> None:
    demand = {d.feature_id: (d.request_count, d.arr_weighted_demand) for d in await store.feature_demand()}
    render.portfolio_summary(console, portfolio, await store.counts(), demand)


@app.command()
def demo(
    scale: Annotated[str, typer.Option(help=f"Demo size: {', '.join(SCALES)}.")] = "small",
    seed: Annotated[int, typer.Option(help="Seed of the generated portfolio.")] = 7,
    trials: Trials = 10_000,
    reset: Annotated[bool, typer.Option(help="Empty the graph before loading the demo.")] = True,
    serve_api: Annotated[
        bool | None,
        typer.Option(
            "--serve/--no-serve",
            help="Then serve the GraphQL API (with a worker) until Ctrl-C; default: on when run from a terminal.",
        ),
    ] = None,
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port of the API when serving.")] = 8000,
) -> None:
    """Load the demo portfolio, run the three analyses on it as durable Temporal workflows, serve the API.

    Uses the graph at NEO4J_URI (else starts the local database) and the Temporal service at
    TEMPORAL_ADDRESS (else starts a local dev server), with a worker inside this process. The roadmap
    draft is approved by the reviewer "lodestar demo" so that it is published.
    """
    if scale not in SCALES:
        raise typer.BadParameter(f"unknown scale {scale!r}; choose one of {', '.join(SCALES)}")

    async def main() -> None:
        today = date.today()
        portfolio = generate_portfolio(seed=seed, scale=scale, anchor=today)
        async with open_graph() as store:
            if reset:
                await store.clear()
            summary = await store.import_portfolio(portfolio)
            console.rule("[bold]Demo portfolio loaded")
            render.import_summary(console, summary)
            snapshot = await store.portfolio_snapshot()
            await _print_summary(store, snapshot)
            settings = AnalysisSettings(as_of=today, trials=trials, seed=seed)
            await _run_analyses_as_workflows(store, snapshot, settings)
            if serve_after:
                await _issue_demo_key(store, port)

    serve_after = sys.stdin.isatty() if serve_api is None else serve_api
    _run(main())
    if serve_after:
        serve(host="127.0.0.1", port=port, with_worker=True, dev=True)
    else:
        console.print("Serve the GraphQL API on these results with `lodestar serve --with-worker --dev`.")


async def _issue_demo_key(store: GraphStore, port: int) -> None:
    from api.auth import Role, create_api_key
    from graph.api_queries import ApiQueries

    queries = ApiQueries(store.driver, store.database)
    await queries.ensure_schema()
    issued = await create_api_key(queries, "lodestar demo", Role.ADMIN)
    console.rule("[bold]GraphQL API")
    console.print(
        f"Admin API key for this demo (shown once, stored hashed): [bold]{issued.secret_key}[/]\n"
        f"Send it as `Authorization: Bearer <key>`; GraphiQL is at http://127.0.0.1:{port}/graphql."
    )


DEMO_REVIEWER = "lodestar demo"


async def _stored_report(store: GraphStore, label: NodeLabel, workflow_id: str) -> str:
    stored = await ResultStore(store).get_result(label, workflow_id, with_report=True)
    if stored is None or stored.report_json is None:
        console.print(f"[red]The graph holds no stored report for {workflow_id}.[/]")
        raise typer.Exit(1)
    return stored.report_json


async def _run_analyses_as_workflows(
    store: GraphStore, portfolio: Portfolio, settings: AnalysisSettings
) -> None:
    """Start each analysis as a workflow, wait for it, and render the full report stored in the graph."""
    common = settings.model_dump()
    async with temporal_endpoint() as endpoint:
        client = await connect_temporal(endpoint)
        queue = endpoint.task_queue
        console.print(f"Temporal at {endpoint.address} (namespace {endpoint.namespace}, task queue {queue})")
        async with build_worker(client, store, task_queue=queue):
            console.rule("[bold]Scenario simulation (ScenarioSimulationWorkflow)")
            request = ScenarioSimulationRequest(**common, scenarios=default_scenarios(portfolio))
            workflow_id = await start_scenario_simulation(client, request, task_queue=queue)
            await get_result(client, workflow_id)
            console.print(f"workflow {workflow_id} completed")
            report_json = await _stored_report(store, NodeLabel.SCENARIO_ANALYSIS, workflow_id)
            render.scenario_report(console, ScenarioReport.model_validate_json(report_json), portfolio)

            console.rule("[bold]Roadmap draft (RoadmapDraftingWorkflow)")
            workflow_id = await start_roadmap_drafting(
                client, RoadmapDraftingRequest(**common), task_queue=queue
            )
            while (progress := await get_progress(client, workflow_id)).stage is not Stage.AWAITING_REVIEW:
                if progress.stage in (Stage.FAILED, Stage.CANCELLED, Stage.COMPLETED):
                    await get_result(client, workflow_id)  # raises the run's failure
                    break
                await asyncio.sleep(0.2)
            decided = await approve_roadmap(
                client, workflow_id, reviewer=DEMO_REVIEWER, comment="Approved by the demo run."
            )
            console.print(
                f"workflow {workflow_id}: roadmap version {decided.version} {decided.status.value} "
                f"by {DEMO_REVIEWER!r}" + (" (current roadmap)" if decided.current else "")
            )
            report_json = await _stored_report(store, NodeLabel.ROADMAP_VERSION, workflow_id)
            render.roadmap_report(console, RoadmapReport.model_validate_json(report_json), portfolio)

            console.rule("[bold]Risk assessment (RiskAssessmentWorkflow)")
            workflow_id = await start_risk_assessment(
                client, RiskAssessmentRequest(**common), task_queue=queue
            )
            await get_result(client, workflow_id)
            console.print(f"workflow {workflow_id} completed")
            report_json = await _stored_report(store, NodeLabel.RISK_ASSESSMENT, workflow_id)
            render.risk_report(console, RiskAssessmentReport.model_validate_json(report_json), portfolio)


@app.command()
def worker(
    task_queue: Annotated[
        str | None, typer.Option(help="Task queue to serve; default LODESTAR_TASK_QUEUE, else 'lodestar'.")
    ] = None,
) -> None:
    """Run a Temporal worker for Lodestar's workflows until Ctrl-C.

    Connects to TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE, or starts a local Temporal dev server (SQLite in
    the project data dir); reads the graph at NEO4J_URI, or starts the local graph database.
    """
    settings = TemporalSettings.from_env()
    if task_queue:
        settings = replace(settings, task_queue=task_queue)
    run_worker_until_stopped(settings)


def default_scenarios(portfolio: Portfolio) -> list[Scenario]:
    """Two illustrative what-ifs: two hires on the most loaded team, and its largest open item doubling."""
    open_features = [f for f in portfolio.features if f.status is not FeatureStatus.DONE and f.team_id]
    if not open_features:
        return []
    load: dict[str, float] = {}
    for feature in open_features:
        assert feature.team_id is not None
        load[feature.team_id] = load.get(feature.team_id, 0.0) + feature.remaining_likely
    busiest = max(sorted(load), key=lambda team_id: load[team_id])
    largest = max(
        (f for f in open_features if f.team_id == busiest), key=lambda f: (f.remaining_likely, f.id)
    )
    return [
        Scenario(
            id="hire-two",
            name=f"Two hires on {busiest}",
            changes=[CapacityChange(team_id=busiest, delta=2.0)],
        ),
        Scenario(
            id="largest-doubles",
            name=f"{largest.id} takes twice as long",
            changes=[Reestimate(feature_id=largest.id, factor=2.0)],
        ),
    ]


@app.command("import")
def import_(
    path: Annotated[
        Path, typer.Argument(exists=True, help="A portfolio JSON document or a folder of CSV files.")
    ],
) -> None:
    """Validate a portfolio and write it to the graph; an invalid portfolio writes nothing."""

    async def main() -> None:
        try:
            portfolio = load_portfolio(path)
            async with open_graph() as store:
                summary = await store.import_portfolio(portfolio)
        except PortfolioValidationError as error:
            _print_validation_error(error)
            raise typer.Exit(1) from error
        render.import_summary(console, summary)

    _run(main())


@app.command()
def summary() -> None:
    """Print what the graph holds: counts, teams, customers and the most demanded features."""

    async def main() -> None:
        async with _session() as session:
            await _print_summary(session.store, session.portfolio)

    _run(main())


def _pairs(values: list[str], what: str) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for value in values:
        key, sep, rest = value.partition("=")
        if not sep or not key or not rest:
            raise typer.BadParameter(f"{value!r}: expected {what}")
        pairs.append((key.strip(), rest.strip()))
    return pairs


def _number(text: str, flag: str) -> float:
    try:
        return float(text)
    except ValueError as error:
        raise typer.BadParameter(f"{flag}: {text!r} is not a number") from error


@app.command()
def simulate(
    hire: Annotated[
        list[str], typer.Option(help="TEAM=DELTA: change a team's capacity (person-weeks/week).")
    ] = [],  # noqa: B006
    reestimate: Annotated[list[str], typer.Option(help="FEATURE=FACTOR: scale a feature's effort.")] = [],  # noqa: B006
    remove: Annotated[list[str], typer.Option(help="FEATURE: take a feature out of scope.")] = [],  # noqa: B006
    priority: Annotated[list[str], typer.Option(help="FEATURE=N: give a feature a new priority.")] = [],  # noqa: B006
    start: Annotated[str | None, typer.Option(help="YYYY-MM-DD: nothing starts before this date.")] = None,
    scenario_file: Annotated[
        Path | None, typer.Option(exists=True, help="JSON list of scenarios (see agents.engines.scenarios).")
    ] = None,
    as_of: AsOf = None,
    trials: Trials = 10_000,
    seed: Seed = 0,
) -> None:
    """Simulate delivery scenarios against the baseline forecast and compare them."""
    day = _as_of(as_of)
    scenarios: list[Scenario] = []
    if scenario_file is not None:
        scenarios = [Scenario.model_validate(item) for item in json.loads(scenario_file.read_text())]
    changes: list[Any] = [
        *(
            CapacityChange(team_id=team, delta=_number(delta, "--hire"))
            for team, delta in _pairs(hire, "TEAM=DELTA")
        ),
        *(
            Reestimate(feature_id=feature, factor=_number(factor, "--reestimate"))
            for feature, factor in _pairs(reestimate, "FEATURE=FACTOR")
        ),
        *(
            Reprioritise(feature_id=feature, priority=int(_number(rank, "--priority")))
            for feature, rank in _pairs(priority, "FEATURE=N")
        ),
    ]
    if remove:
        changes.append(RemoveScope(feature_ids=remove))
    if start is not None:
        changes.append(ShiftStart(start=_as_of(start)))
    if changes:
        scenarios.append(Scenario(id="cli", name="Command-line scenario", changes=changes))

    async def main() -> None:
        async with _session() as session:
            chosen = scenarios or default_scenarios(session.portfolio)
            for scenario in chosen:
                try:
                    prepare_scenario(session.portfolio, scenario)
                except ScenarioError as error:
                    raise typer.BadParameter(f"scenario {scenario.id}: {error}") from error
            deps = AnalysisDeps(
                snapshot_id=session.snapshot_id, as_of=day, trials=trials, seed=seed, scenarios=chosen
            )
            render.scenario_report(console, await run_scenario_analysis(deps), session.portfolio)

    _run(main())


@app.command()
def roadmap(
    quarters: Annotated[int, typer.Option(min=1, max=8, help="How many quarters to plan.")] = 4,
    pin: Annotated[list[str], typer.Option(help="FEATURE=Q: force a feature into quarter Q (1-based).")] = [],  # noqa: B006
    exclude: Annotated[list[str], typer.Option(help="FEATURE: keep a feature out of the plan.")] = [],  # noqa: B006
    time_limit: Annotated[float, typer.Option(help="Solver time limit in seconds.")] = 10.0,
    as_of: AsOf = None,
) -> None:
    """Draft a roadmap for the next quarters under team capacity and dependencies."""
    day = _as_of(as_of)
    pins = {feature: int(_number(q, "--pin")) - 1 for feature, q in _pairs(pin, "FEATURE=Q")}

    async def main() -> None:
        async with _session() as session:
            deps = AnalysisDeps(
                snapshot_id=session.snapshot_id,
                as_of=day,
                quarters=quarters,
                pins=pins,
                exclusions=exclude,
                planner_time_limit_s=time_limit,
            )
            try:
                await asyncio.to_thread(engine_runs.roadmap_plan, session.portfolio, deps)
            except RoadmapError as error:
                raise typer.BadParameter(str(error)) from error
            render.roadmap_report(console, await run_roadmap_drafting(deps), session.portfolio)

    _run(main())


@app.command()
def risk(
    horizon_weeks: Annotated[
        int, typer.Option(min=1, max=260, help="Weeks of committed work to check.")
    ] = 26,
    top: Annotated[int, typer.Option(min=1, max=100, help="How many risks to list.")] = 12,
    as_of: AsOf = None,
    trials: Trials = 10_000,
    seed: Seed = 0,
) -> None:
    """Assess delivery and revenue risk: critical path, overload, ownership, ARR at risk."""
    day = _as_of(as_of)

    async def main() -> None:
        async with _session() as session:
            deps = AnalysisDeps(
                snapshot_id=session.snapshot_id,
                as_of=day,
                trials=trials,
                seed=seed,
                risk_horizon_weeks=horizon_weeks,
            )
            render.risk_report(console, await run_risk_assessment(deps), session.portfolio, top=top)

    _run(main())


# -- the GraphQL API ---------------------------------------------------------------------------


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
    with_worker: Annotated[
        bool,
        typer.Option("--with-worker", help="Also run a Temporal worker in this process (the local default)."),
    ] = False,
    dev: Annotated[
        bool,
        typer.Option("--dev", help="Development mode: GraphiQL at /graphql, introspection, console spans."),
    ] = False,
) -> None:
    """Serve the GraphQL API at http://HOST:PORT/graphql (subscriptions over WebSocket at the same path)."""
    from api.server import serve as serve_api
    from api.settings import ApiMode, ApiSettings

    settings = ApiSettings.from_env()
    if dev:
        settings = settings.model_copy(update={"mode": ApiMode.DEVELOPMENT})

    def ready(url: str) -> None:
        console.print(
            f"[bold]Lodestar API[/] ({settings.mode.value}) at {url}"
            + (" with a worker" if with_worker else "")
        )

    _run(serve_api(host=host, port=port, settings=settings, with_worker=with_worker, on_ready=ready))


@app.command()
def schema() -> None:
    """Print the GraphQL schema (SDL), as committed in api/schema.graphql."""
    from api.schema import schema_sdl

    typer.echo(schema_sdl(), nl=False)


apikey_app = typer.Typer(name="apikey", help="API keys for the GraphQL API.", no_args_is_help=True)
app.add_typer(apikey_app)


@apikey_app.command("create")
def apikey_create(
    role: Annotated[str, typer.Option(help="viewer, planner, approver or admin.")],
    name: Annotated[
        str, typer.Option(help="Who or what holds the key; recorded as the reviewer name.")
    ] = "cli",
) -> None:
    """Make an API key with a role; the key is printed once and only its salted hash is stored."""
    from api.auth import Role, create_api_key
    from graph.api_queries import ApiQueries

    try:
        chosen = Role(role.lower())
    except ValueError as error:
        raise typer.BadParameter(
            f"unknown role {role!r}; choose one of {', '.join(r.value for r in Role)}"
        ) from error

    async def main() -> None:
        async with open_graph() as store:
            queries = ApiQueries(store.driver, store.database)
            await queries.ensure_schema()
            issued = await create_api_key(queries, name, chosen)
        console.print(f"key id {issued.key_id}, role {issued.role.value}, name {issued.name!r}")
        typer.echo(issued.secret_key)

    _run(main())


if __name__ == "__main__":
    app()
