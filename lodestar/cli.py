"""The `lodestar` command line."""

from __future__ import annotations

import asyncio
import getpass
import json
import signal
import socket
import sys
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from neo4j.exceptions import AuthError, ServiceUnavailable
from rich.console import Console
from rich.table import Table
from temporalio.client import WorkflowFailureError
from temporalio.service import RPCError

from agents import engine_runs
from agents.deps import AnalysisDeps
from agents.model_config import ModelConfigError, model_spec
from agents.reports import RiskAssessmentReport, RoadmapReport, ScenarioReport
from agents.risk_agent import run_risk_assessment
from agents.roadmap_agent import run_roadmap_drafting
from agents.scenario_agent import run_scenario_analysis
from agents.snapshots import snapshots
from engines.common import expected_remaining_effort
from engines.roadmap import CapacityModelChoice, RoadmapError
from engines.scenario_changes import (
    CapacityChange,
    Reestimate,
    RemoveScope,
    Reprioritise,
    Scenario,
    ScenarioError,
    ShiftStart,
    prepare_scenario,
)
from graph.connection import open_graph
from graph.demo import SCALES, generate_portfolio
from graph.import_recovery import ImportInProgressError, ImportSupersededError
from graph.local_db import LocalGraphDatabaseError
from graph.portfolio import FeatureStatus, Portfolio
from graph.portfolio_files import load_portfolio
from graph.result_store import ResultStore
from graph.store import GraphImportError, GraphStore
from graph.validation import PortfolioValidationError
from graph.vocabulary import NodeLabel
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
from workflows.local_temporal import TemporalHarnessError, TemporalSettings, temporal_endpoint
from workflows.payloads import (
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
DEFAULT_PORT = 8000
"""Where `serve` and `demo` listen unless told otherwise (a free port if it is taken)."""


AsOf = Annotated[str | None, typer.Option(help="Analysis date (YYYY-MM-DD); default today.")]
Trials = Annotated[int, typer.Option(min=100, max=100_000, help="Monte Carlo trials.")]
Seed = Annotated[int, typer.Option(help="Random seed; the same seed gives the same result.")]


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


_EXPECTED_FAILURES: tuple[type[Exception], ...] = (
    LocalGraphDatabaseError,
    TemporalHarnessError,
    GraphImportError,
    ImportInProgressError,
    ImportSupersededError,
    ModelConfigError,
    ServiceUnavailable,
    AuthError,
)
"""Conditions a user can meet and fix (a data folder in use, a server that is down, a wrong
password): the command prints the message in one line and exits 1, without a traceback."""


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a command's coroutine. SIGTERM unwinds it like Ctrl-C does, so the local database and
    Temporal server it started are stopped (uvicorn re-raises the SIGTERM it caught once it has shut down)."""
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        return asyncio.run(coroutine)
    except _EXPECTED_FAILURES as error:
        _fail(str(error))
    except WorkflowFailureError as error:
        from api.runs import describe_failure

        failure = describe_failure(error)
        _fail(f"the run failed: {failure.type}: {failure.message}")


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
    port: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=65535,
            help=f"Port of the API when serving; default {DEFAULT_PORT}, or a free one if that is taken.",
        ),
    ] = None,
) -> None:
    """Load the demo portfolio, run the four analyses on it as durable Temporal workflows, serve the API.

    Uses the graph at NEO4J_URI (else starts the local database) and the Temporal service at
    TEMPORAL_ADDRESS (else starts a local dev server), with a worker inside this process. The roadmap
    draft is approved by the reviewer "lodestar demo" so that it is published.
    """
    if scale not in SCALES:
        raise typer.BadParameter(f"unknown scale {scale!r}; choose one of {', '.join(SCALES)}")

    async def main() -> None:
        model_spec()  # a mistyped LODESTAR_MODEL fails before the demo writes the graph
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
            settings = AnalysisSettings(as_of=today, trials=trials, seed=seed, requested_by=local_user())
            await _run_analyses_as_workflows(store, snapshot, settings)
            if listening is not None:
                await _issue_demo_key(store, _socket_url(listening))

    serve_after = sys.stdin.isatty() if serve_api is None else serve_api
    # The port is taken before the analyses run, so that a clash is known at once, not after them.
    listening = _reserve_port("127.0.0.1", port) if serve_after else None
    _run(main())
    if listening is not None:
        _serve(listening, with_worker=True, dev=True)
    else:
        console.print(
            "Serve the GraphQL API and the dashboard on these results with `lodestar demo --serve` (it ends by "
            "printing the dashboard's address and a ready API key), or `lodestar serve --with-worker --dev`."
        )


async def _issue_demo_key(store: GraphStore, url: str) -> None:
    from api.auth import Role, create_api_key
    from graph.entity_reads import EntityReads

    queries = EntityReads(store.driver, store.database)
    await queries.ensure_schema()
    issued = await create_api_key(queries, "lodestar demo", Role.ADMIN)
    console.rule("[bold]GraphQL API")
    console.print(
        f"Admin API key for this demo (shown once, stored hashed): [bold]{issued.secret_key}[/]\n"
        f"Send it as `Authorization: Bearer <key>`; GraphiQL is at {url}."
    )
    console.rule("[bold]Dashboard")
    console.print(
        f"Dashboard: {dashboard_url(url)} — API key: [bold]{issued.secret_key}[/] (admin: may approve roadmaps)",
        soft_wrap=True,
    )


def dashboard_url(graphql_url: str) -> str:
    """The dashboard's address beside the API's `/graphql` one (it is served at `/`)."""
    return graphql_url.removesuffix("graphql")


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

            if portfolio.feedback:
                from agents.insight_runs import InsightReport
                from lodestar.insight_render import insight_report
                from workflows.client import start_insight_digest
                from workflows.insight_payloads import InsightRunRequest

                console.rule("[bold]Customer insight (CustomerInsightWorkflow)")
                workflow_id = await start_insight_digest(
                    client, InsightRunRequest(**common), task_queue=queue
                )
                await get_result(client, workflow_id)
                console.print(f"workflow {workflow_id} completed")
                report_json = await _stored_report(store, NodeLabel.INSIGHT_DIGEST, workflow_id)
                insight_report(console, InsightReport.model_validate_json(report_json))


@app.command()
def worker(
    task_queue: Annotated[
        str | None, typer.Option(help="Task queue to serve; default LODESTAR_TASK_QUEUE, else 'lodestar'.")
    ] = None,
    health_port: Annotated[
        int | None,
        typer.Option(
            min=0,
            max=65535,
            envvar="LODESTAR_WORKER_HEALTH_PORT",
            help="Serve GET /healthz on this port (200 while the worker polls) for a liveness probe.",
        ),
    ] = None,
    health_host: Annotated[
        str, typer.Option(envvar="LODESTAR_WORKER_HEALTH_HOST", help="Address the health port listens on.")
    ] = "0.0.0.0",  # the kubelet probes from outside the pod
) -> None:
    """Run a Temporal worker for Lodestar's workflows until Ctrl-C.

    Connects to TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE, or starts a local Temporal dev server (SQLite in
    the project data dir); reads the graph at NEO4J_URI, or starts the local graph database.
    """
    settings = TemporalSettings.from_env()
    if task_queue:
        settings = replace(settings, task_queue=task_queue)
    try:
        run_worker_until_stopped(settings, health_port=health_port, health_host=health_host)
    except _EXPECTED_FAILURES as error:
        _fail(str(error))


def default_scenarios(portfolio: Portfolio) -> list[Scenario]:
    """Two illustrative what-ifs: two hires on the most loaded team, and its largest open item doubling."""
    open_features = [f for f in portfolio.features if f.status is not FeatureStatus.DONE and f.team_id]
    if not open_features:
        return []
    load: dict[str, float] = {}
    for feature in open_features:
        assert feature.team_id is not None
        load[feature.team_id] = load.get(feature.team_id, 0.0) + expected_remaining_effort(feature)
    busiest = max(sorted(load), key=lambda team_id: load[team_id])
    largest = max(
        (f for f in open_features if f.team_id == busiest), key=lambda f: (expected_remaining_effort(f), f.id)
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
        except (OSError, ValueError) as error:  # unreadable path, wrong kind of file, bad bound setting
            _fail(str(error))
        render.import_summary(console, summary)

    _run(main())


@app.command()
def summary() -> None:
    """Print what the graph holds: counts, teams, customers and the most demanded features."""

    async def main() -> None:
        async with open_graph() as store:
            for line in render.staged_import_lines(await store.revision_state(), store.lease_seconds):
                console.print(line)
            portfolio = await store.portfolio_snapshot()
            if not portfolio.features:
                console.print(
                    "[yellow]The graph holds no features yet: run `lodestar demo` or `lodestar import`.[/]"
                )
                raise typer.Exit(1)
            await _print_summary(store, portfolio)

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
        Path | None, typer.Option(exists=True, help="JSON list of scenarios (see engines.scenarios).")
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
    capacity_model: Annotated[
        CapacityModelChoice,
        typer.Option(
            help="Team capacity per quarter: throughput (what the team finishes with 85% probability "
            "under the forecast's throughput model) or nominal (capacity x 13 weeks x 0.85)."
        ),
    ] = CapacityModelChoice.THROUGHPUT,
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
                capacity_model=capacity_model.value,
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


@app.command()
def insight(
    top: Annotated[int, typer.Option(min=1, max=100, help="How many themes to list.")] = 10,
    as_of: AsOf = None,
    seed: Seed = 0,
) -> None:
    """Customer insight: feedback themes with sentiment and trend, suggested feature links, and a digest."""
    day = _as_of(as_of)

    async def main() -> None:
        from agents.insight_agent import run_insight_digest
        from agents.insight_runs import InsightDeps
        from graph.insight_store import InsightStore
        from lodestar.insight_render import insight_report

        async with _session() as session:
            deps = InsightDeps(
                snapshot_id=session.snapshot_id,
                as_of=day,
                seed=seed,
                top_n=min(top, 25),
                run_key=f"cli-{day.isoformat()}",
                rejected_links=await InsightStore(session.store).rejected_links(),
            )
            insight_report(console, await run_insight_digest(deps), top=top)

    _run(main())


# -- the GraphQL API ---------------------------------------------------------------------------


def _reserve_port(host: str, port: int | None) -> socket.socket:
    """A socket listening on `port` (given), else on DEFAULT_PORT or, if that is taken, a free port.

    A port given explicitly that is taken ends the command with a one-line error naming a free port."""
    from api.server import PortInUseError, reserve_port

    try:
        listening = reserve_port(host, port or DEFAULT_PORT, fall_back=port is None)
    except PortInUseError as error:
        typer.echo(f"error: {error.strerror}; pass a free one, e.g. --port {error.free_port}", err=True)
        raise typer.Exit(1) from error
    except OSError as error:
        typer.echo(f"error: cannot listen on {host}:{port or DEFAULT_PORT}: {error.strerror}", err=True)
        raise typer.Exit(1) from error
    chosen = listening.getsockname()[1]
    if port is None and chosen != DEFAULT_PORT:
        console.print(
            f"[yellow]Port {DEFAULT_PORT} is in use; using port {chosen} instead "
            f"(pass --port to choose one).[/]"
        )
    return listening


def _socket_url(listening: socket.socket) -> str:
    from api.server import socket_url

    return socket_url(listening)


def _serve(listening: socket.socket, *, with_worker: bool, dev: bool) -> None:
    from api.server import serve as serve_api
    from api.settings import ApiMode, ApiSettings

    settings = ApiSettings.from_env()
    if dev:
        settings = settings.model_copy(update={"mode": ApiMode.DEVELOPMENT})

    def ready(url: str) -> None:
        console.print(
            f"[bold]Lodestar API[/] ({settings.mode.value}) at {url}"
            + (" with a worker" if with_worker else ""),
            soft_wrap=True,
        )

    _run(serve_api(sock=listening, settings=settings, with_worker=with_worker, on_ready=ready))


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=65535,
            help=f"Port to listen on; default {DEFAULT_PORT}, or a free one if that is taken.",
        ),
    ] = None,
    with_worker: Annotated[
        bool,
        typer.Option("--with-worker", help="Also run a Temporal worker in this process (the local default)."),
    ] = False,
    dev: Annotated[
        bool,
        typer.Option("--dev", help="Development mode: GraphiQL at /graphql, introspection, console spans."),
    ] = False,
) -> None:
    """Serve the GraphQL API at http://HOST:PORT/graphql (subscriptions over WebSocket at the same path).

    The port is checked before the graph and Temporal are opened."""
    _serve(_reserve_port(host, port), with_worker=with_worker, dev=dev)


@app.command()
def init() -> None:
    """Prepare the services for Lodestar: graph constraints and indexes, Temporal search attributes.

    Idempotent; run it once per deployment before the API and workers (the Helm chart's init job does).
    Uses the graph at NEO4J_URI (else the local database) and registers the search attributes on
    TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE; without TEMPORAL_ADDRESS there is nothing to register,
    since the local dev server registers them itself when it starts.
    """
    from graph.entity_reads import EntityReads
    from workflows.search_attributes import SearchAttributeConflictError, ensure_search_attributes

    async def main() -> None:
        async with open_graph() as store:  # open_graph runs GraphStore.ensure_schema
            await EntityReads(store.driver, store.database).ensure_schema()
        console.print("Graph: constraints and indexes are in place.")
        settings = TemporalSettings.from_env()
        if settings.address is None:
            console.print(
                "Temporal: TEMPORAL_ADDRESS is not set; the local dev server registers the search "
                "attributes when it starts."
            )
            return
        async with temporal_endpoint(settings) as endpoint:
            client = await connect_temporal(endpoint)
            try:
                added = await ensure_search_attributes(client)
            except (SearchAttributeConflictError, RPCError) as error:
                console.print(
                    f"[red]Temporal namespace {endpoint.namespace!r} at {endpoint.address}: cannot register "
                    f"the search attributes: {error}[/]\nOn Temporal Cloud, add them with `tcld` "
                    "(see deploy/README.md)."
                )
                raise typer.Exit(1) from error
        done = f"registered {', '.join(added)}" if added else "the search attributes were already registered"
        console.print(f"Temporal namespace {endpoint.namespace!r}: {done}.")

    _run(main())


def local_user() -> str:
    """Who runs the CLI, for `LodestarRequestedBy`: the login name, else `cli`."""
    try:
        return getpass.getuser() or "cli"
    except (KeyError, OSError):
        return "cli"


@app.command()
def schema() -> None:
    """Print the GraphQL schema (SDL), as committed in api/schema.graphql."""
    from api.schema import schema_sdl

    typer.echo(schema_sdl(), nl=False)


@app.command("codec-server")
def codec_server(
    host: Annotated[
        str, typer.Option(help="Interface to listen on (it serves payloads in clear).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8888,
    ui_origin: Annotated[
        list[str],
        typer.Option(help="Origin of the Temporal UI allowed by CORS; repeat for several."),
    ] = [],  # noqa: B006
) -> None:
    """Serve /codec/decode and /codec/encode for the Temporal UI with the key of LODESTAR_PAYLOAD_KEY."""
    import os

    import uvicorn

    from api.codec_server import ORIGINS_VARIABLE, TOKEN_VARIABLE, codec_app
    from workflows.codec import PayloadKeyError, codec_from_env

    try:
        codec = codec_from_env()
    except PayloadKeyError as error:
        _fail(str(error))
    if codec is None:
        _fail("LODESTAR_PAYLOAD_KEY is not set: there is nothing to decode")
    origins = ui_origin or [o.strip() for o in os.environ.get(ORIGINS_VARIABLE, "").split(",") if o.strip()]
    origins = origins or ["http://localhost:8233"]
    app_ = codec_app(codec, ui_origins=origins, token=os.environ.get(TOKEN_VARIABLE))
    console.print(
        f"Codec server for key {codec.key_id} at http://{host}:{port}/codec (UI origins: {origins})"
    )
    uvicorn.run(app_, host=host, port=port, log_level="warning")


@app.command("erase-customer")
def erase_customer(
    customer_id: Annotated[str, typer.Argument(metavar="ID", help="The id of the customer to erase.")],
) -> None:
    """Erase a customer (GDPR): its node, requests, usage and feedback, and its mentions in stored results."""
    from pydantic import ValidationError

    from graph.erasure import CustomerEraser, ErasureRequest

    try:
        request = ErasureRequest(customer_id=customer_id, requested_by=f"cli:{local_user()}")
    except ValidationError:
        _fail(f"{customer_id!r} is not a valid id")

    async def main() -> None:
        async with open_graph() as store:
            report = await CustomerEraser(store).erase(request)
        if report.erasure_id is None:
            _fail(f"nothing to erase: no customer or stored result holds {customer_id!r}")
        console.print(
            f"Erased {customer_id}: {report.requests} requests, {report.product_usages} product usages, "
            f"{report.feedback} feedback, {report.results_redacted} stored results rewritten "
            f"(entry {report.erasure_id})."
        )

    _run(main())


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
    from graph.entity_reads import EntityReads

    try:
        chosen = Role(role.lower())
    except ValueError as error:
        raise typer.BadParameter(
            f"unknown role {role!r}; choose one of {', '.join(r.value for r in Role)}"
        ) from error

    async def main() -> None:
        async with open_graph() as store:
            queries = EntityReads(store.driver, store.database)
            await queries.ensure_schema()
            issued = await create_api_key(queries, name, chosen)
        console.print(f"key id {issued.key_id}, role {issued.role.value}, name {issued.name!r}")
        typer.echo(issued.secret_key)

    _run(main())


if __name__ == "__main__":
    app()
