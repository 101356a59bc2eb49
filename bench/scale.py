"""Scale benchmark: Lodestar as a cluster runs it, on one machine, in separate processes.

One Temporal dev server, the graph database, two `lodestar serve` processes on different ports and up to
three `lodestar worker` processes, all on 127.0.0.1 and configured only through the environment
(`NEO4J_*`, `TEMPORAL_*`, `LODESTAR_*`), exactly as the Helm chart configures pods. Runs of mixed kinds
(risk assessment, scenario simulation, roadmap draft approved through the API) are started with GraphQL
mutations over HTTP, alternating between the two APIs. Phase one runs a batch on one worker; phase two
starts two more workers and runs a second batch; phase three runs a third batch and SIGKILLs one worker
while it executes `precompute_engines` (a heartbeating activity, so Temporal hands it to another worker
once its 30 s heartbeat timeout passes; that wait is in phase three's time). Afterwards every run must
have completed exactly once (one execution of its workflow id, state COMPLETED) and stored exactly one
result node (counted by id in the graph).

It prints runs/s with one worker and with three, each worker's resident memory, and the graph statements
one run of each kind sends (measured in this process on an instrumented in-process worker).

Run from the repository root: `.venv/bin/python -m bench.scale [--runs 30] [--trials 10000]`.
`tests/deploy/test_scale.py` runs a smaller batch of the same harness in the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import os
import signal
import subprocess
import sys
import sysconfig
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import IO, Any

import httpx
import neo4j
from temporalio.api.enums.v1 import PendingActivityState
from temporalio.client import Client, WorkflowExecutionStatus

from api.auth import Role, create_api_key
from graph.demo import SCALES, generate_portfolio
from graph.entity_reads import EntityReads
from graph.local_db import LocalGraphDatabase, free_port
from graph.portfolio import Portfolio
from graph.store import GraphStore
from graph.vocabulary import NodeLabel
from workflows.client import connect
from workflows.local_temporal import LocalTemporalServer, TemporalEndpoint

AS_OF = date(2026, 11, 23)
KINDS: tuple[str, ...] = ("risk", "scenario", "roadmap")
RESULT_LABEL = {
    "risk": NodeLabel.RISK_ASSESSMENT,
    "scenario": NodeLabel.SCENARIO_ANALYSIS,
    "roadmap": NodeLabel.ROADMAP_VERSION,
}
HEARTBEATING_ACTIVITIES = frozenset({"precompute_engines"})
"""Activities whose loss to a killed worker Temporal notices within their heartbeat timeout (30 s).
Every other activity is noticed only at its start-to-close timeout (minutes), so the victim is chosen
while it runs one of these and nothing else."""

_STARTED = "... on RunStarted { run { id } } ... on ValidationErrors { issues { location message } }"
_MUTATIONS = {
    "risk": "mutation($o: AnalysisOptions) { r: startRiskAssessment(input: {options: $o}) { "
    + _STARTED
    + " } }",
    "scenario": "mutation($o: AnalysisOptions, $team: ID!) { r: startScenarioSimulation(input: {"
    'scenarios: [{id: "hire", name: "One hire", changes: [{capacity: {teamId: $team, delta: 1}}]}], '
    "options: $o}) { " + _STARTED + " } }",
    "roadmap": "mutation($o: AnalysisOptions) { r: startRoadmapDraft(input: {quarters: 4, "
    "plannerTimeLimitSeconds: 5, options: $o}) { " + _STARTED + " } }",
}
_STAGE = "query($id: ID!) { run(id: $id) { state progress { stage } } }"
_APPROVE = (
    'mutation($id: ID!) { r: approveRoadmap(runId: $id, comment: "scale") { __typename '
    "... on InvalidState { message } } }"
)


class ScaleError(RuntimeError):
    """A process did not start, a run did not finish in time, or a run was not exactly-once."""


@dataclass
class Phase:
    workers: int
    runs: int
    seconds: float
    killed: bool = False

    @property
    def runs_per_second(self) -> float:
        return self.runs / self.seconds


@dataclass(frozen=True)
class HistoryFigures:
    """The Temporal history one run leaves: events, serialised size, and model requests among them."""

    events: int
    bytes: int
    model_requests: int


@dataclass
class ScaleFigures:
    phases: list[Phase]
    killed_worker_pid: int
    killed_during: str
    worker_rss_mib: list[float]
    api_rss_mib: list[float]
    kinds: Counter[str] = field(default_factory=Counter)
    statements_per_run: dict[str, int] = field(default_factory=dict)
    histories: dict[str, HistoryFigures] = field(default_factory=dict)

    def lines(self) -> list[str]:
        out = [
            f"{p.runs} runs on {p.workers} worker(s){' (one SIGKILLed mid-way)' if p.killed else ''}: "
            f"{p.seconds:.1f} s, {p.runs_per_second:.2f} runs/s"
            for p in self.phases
        ]
        out.append(f"killed worker pid {self.killed_worker_pid} with SIGKILL during {self.killed_during}")
        out.append(
            f"runs by kind: {dict(sorted(self.kinds.items()))}; every run completed once, one result each"
        )
        out.append("worker RSS (MiB): " + ", ".join(f"{value:.0f}" for value in self.worker_rss_mib))
        out.append("API RSS (MiB): " + ", ".join(f"{value:.0f}" for value in self.api_rss_mib))
        for kind, history in sorted(self.histories.items()):
            out.append(
                f"{kind} run history: {history.events} events, {history.bytes / 1024:.0f} KiB, "
                f"{history.model_requests} model requests"
            )
        if self.statements_per_run:
            out.append(
                "graph statements per run (warm snapshot cache): "
                + ", ".join(f"{kind} {count}" for kind, count in sorted(self.statements_per_run.items()))
            )
        return out


# -- processes -------------------------------------------------------------------------------------


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    port: int

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def rss_mib(self) -> float:
        """Resident memory of the process (VmRSS), in MiB; 0 once it has exited."""
        try:
            for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        except OSError:
            pass
        return 0.0


class ProcessGroup:
    """Child processes, each in its own session (process group), all stopped by `stop_all`."""

    def __init__(self, work_dir: Path, env: dict[str, str]) -> None:
        self.work_dir = work_dir
        self.env = env
        self.children: list[Child] = []
        self._logs: list[IO[bytes]] = []
        self._ports: set[int] = set()

    def free_port(self) -> int:
        """A free loopback port that no child of this group has been given yet."""
        taken = {child.port for child in self.children} | self._ports
        while (port := free_port()) in taken:
            pass
        self._ports.add(port)
        return port

    def start(self, name: str, argv: Sequence[str], port: int) -> Child:
        log_path = self.work_dir / f"{name}.log"
        log = log_path.open("wb")
        self._logs.append(log)
        process = subprocess.Popen(
            list(argv),
            env=self.env,
            cwd=self.work_dir,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        child = Child(name, process, log_path, port)
        self.children.append(child)
        return child

    @staticmethod
    def kill(child: Child) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.process.pid, signal.SIGKILL)
        child.process.wait(timeout=10)

    def stop_all(self, timeout: float = 10.0) -> None:
        for child in self.children:
            if child.process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.process.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for child in self.children:
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.process.pid, signal.SIGKILL)  # the group, in case anything lingers
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.process.wait(timeout=5)
        for log in self._logs:
            log.close()


def lodestar_command() -> str:
    path = Path(sysconfig.get_path("scripts")) / "lodestar"
    if not path.is_file():
        raise ScaleError(f"{path} not found: install the project into this interpreter's environment")
    return str(path)


def child_environment(
    graph: LocalGraphDatabase, endpoint: TemporalEndpoint, data_dir: Path
) -> dict[str, str]:
    """Only what a pod gets: the graph, Temporal and Lodestar variables; no model provider, no keys."""
    user, password = graph.auth
    env = {name: os.environ[name] for name in ("PATH", "HOME", "LANG", "TMPDIR") if name in os.environ}
    env.update(
        {
            "NEO4J_URI": graph.uri,
            "NEO4J_USER": user,
            "NEO4J_PASSWORD": password,
            "NEO4J_DATABASE": graph.database,
            "TEMPORAL_ADDRESS": endpoint.address,
            "TEMPORAL_NAMESPACE": endpoint.namespace,
            "LODESTAR_TASK_QUEUE": endpoint.task_queue,
            "LODESTAR_MODEL": "offline",
            "LODESTAR_API_MODE": "production",
            "LODESTAR_DATA_DIR": str(data_dir),
            "OTEL_SDK_DISABLED": "true",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


async def wait_healthy(http: httpx.AsyncClient, child: Child, within_s: float) -> None:
    deadline = time.monotonic() + within_s
    url = f"http://127.0.0.1:{child.port}/healthz"
    while time.monotonic() < deadline:
        if child.process.poll() is not None:
            raise ScaleError(f"{child.name} exited with {child.process.returncode}:\n{child.log_tail()}")
        with contextlib.suppress(httpx.TransportError):
            if (await http.get(url, timeout=2)).status_code == 200 and child.process.poll() is None:
                return
        await asyncio.sleep(0.2)
    raise ScaleError(f"{child.name} not healthy after {within_s:.0f} s:\n{child.log_tail()}")


# -- runs ------------------------------------------------------------------------------------------


class Runs:
    """Starts runs through the APIs in turn and waits for them, approving roadmap drafts on the way."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        apis: Sequence[Child],
        keys: dict[Role, str],
        client: Client,
        *,
        team_id: str,
        trials: int,
    ) -> None:
        self.http = http
        self.apis = itertools.cycle(apis)
        self.keys = keys
        self.client = client
        self.team_id = team_id
        self.trials = trials
        self.kind_of: dict[str, str] = {}

    async def _graphql(self, query: str, variables: dict[str, Any], role: Role) -> dict[str, Any]:
        api = next(self.apis)
        response = await self.http.post(
            f"http://127.0.0.1:{api.port}/graphql",
            json={"query": query, "variables": variables},
            headers={"Authorization": f"Bearer {self.keys[role]}"},
            timeout=30,
        )
        body = response.json()
        if response.status_code != 200 or body.get("errors"):
            raise ScaleError(f"{api.name} answered {response.status_code}: {body}")
        return body["data"]

    async def start(self, kind: str, trials: int | None = None) -> str:
        chosen = trials if trials is not None else self.trials
        variables: dict[str, Any] = {"o": {"asOf": AS_OF.isoformat(), "trials": chosen}}
        if kind == "scenario":
            variables["team"] = self.team_id
        data = (await self._graphql(_MUTATIONS[kind], variables, Role.PLANNER))["r"]
        if "run" not in data:
            raise ScaleError(f"{kind} run refused: {data}")
        run_id = str(data["run"]["id"])
        self.kind_of[run_id] = kind
        return run_id

    async def finish(self, run_id: str, within_s: float) -> None:
        """Approve the draft of a roadmap run once it waits for review; wait for the run to complete."""
        if self.kind_of[run_id] == "roadmap":
            deadline = time.monotonic() + within_s
            while True:
                run = (await self._graphql(_STAGE, {"id": run_id}, Role.VIEWER))["run"]
                if run["progress"] is not None and run["progress"]["stage"] == "AWAITING_REVIEW":
                    break
                if run["state"] != "RUNNING":
                    raise ScaleError(f"roadmap run {run_id} ended {run['state']} before review")
                if time.monotonic() > deadline:
                    raise ScaleError(f"roadmap run {run_id} did not reach review in {within_s:.0f} s")
                await asyncio.sleep(0.3)
            answer = (await self._graphql(_APPROVE, {"id": run_id}, Role.APPROVER))["r"]
            if answer["__typename"] != "RoadmapReviewed":
                raise ScaleError(f"approving {run_id}: {answer}")
        await asyncio.wait_for(self.client.get_workflow_handle(run_id).result(), within_s)

    async def batch(
        self, count: int, offset: int, within_s: float, *, trials: int | None = None
    ) -> tuple[list[str], list[asyncio.Task[None]]]:
        run_ids = [await self.start(KINDS[(offset + index) % len(KINDS)], trials) for index in range(count)]
        return run_ids, [asyncio.create_task(self.finish(run_id, within_s)) for run_id in run_ids]


async def _pending_activities(client: Client, run_ids: Sequence[str]) -> list[tuple[str, str]]:
    """(activity type, worker identity) of every activity a worker is executing now."""
    found: list[tuple[str, str]] = []
    for run_id in run_ids:
        description = await client.get_workflow_handle(run_id).describe()
        if description.status is not WorkflowExecutionStatus.RUNNING:
            continue
        for pending in description.raw_description.pending_activities:
            if pending.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED:
                found.append((pending.activity_type.name, pending.last_worker_identity))
    return found


async def choose_victim(
    client: Client, workers: Sequence[Child], run_ids: Sequence[str], within_s: float
) -> tuple[Child, str]:
    """A live worker executing only heartbeating activities right now; after `within_s`, one executing
    anything (its runs then wait for that activity's start-to-close timeout), else the first live one."""
    live = [worker for worker in workers if worker.process.poll() is None]
    deadline = time.monotonic() + within_s
    while True:
        busy: dict[int, set[str]] = {}
        for activity_type, identity in await _pending_activities(client, run_ids):
            pid = identity.partition("@")[0]
            if pid.isdigit():
                busy.setdefault(int(pid), set()).add(activity_type)
        candidates = [(worker, busy[worker.process.pid]) for worker in live if busy.get(worker.process.pid)]
        for worker, types in candidates:
            if types <= HEARTBEATING_ACTIVITIES:
                return worker, ", ".join(sorted(types))
        if time.monotonic() >= deadline:
            if candidates:
                worker, types = candidates[0]
                return worker, ", ".join(sorted(types))
            return live[0], "no activity observed"
        await asyncio.sleep(0.02)


async def history_figures(client: Client, kind_of: dict[str, str]) -> dict[str, HistoryFigures]:
    """The largest history among the runs of each kind."""
    figures: dict[str, HistoryFigures] = {}
    for run_id, kind in kind_of.items():
        history = await client.get_workflow_handle(run_id).fetch_history()
        model_requests = sum(
            1
            for event in history.events
            if event.HasField("activity_task_scheduled_event_attributes")
            and event.activity_task_scheduled_event_attributes.activity_type.name.endswith("__model_request")
        )
        found = HistoryFigures(
            events=len(history.events),
            bytes=sum(event.ByteSize() for event in history.events),
            model_requests=model_requests,
        )
        if kind not in figures or found.bytes > figures[kind].bytes:
            figures[kind] = found
    return figures


async def verify_exactly_once(
    client: Client, driver: neo4j.AsyncDriver, database: str, kind_of: dict[str, str]
) -> None:
    """Each run: one execution of its workflow id, COMPLETED; one result node with its id, and no others."""
    problems: list[str] = []
    for run_id in kind_of:
        executions = [execution async for execution in client.list_workflows(f'WorkflowId = "{run_id}"')]
        statuses = [execution.status for execution in executions]
        if statuses != [WorkflowExecutionStatus.COMPLETED]:
            problems.append(f"{run_id}: executions {statuses}")
    for kind, label in RESULT_LABEL.items():
        expected = sorted(run_id for run_id, k in kind_of.items() if k == kind)
        records, _, _ = await driver.execute_query(
            f"MATCH (n:{label.value}) RETURN n.id AS id",  # label from the NodeLabel enum
            database_=database,
        )
        stored = Counter(str(record["id"]) for record in records)
        for run_id in expected:
            if stored[run_id] != 1:
                problems.append(f"{run_id}: {stored[run_id]} {label.value} nodes")
        extra = sorted(set(stored) - set(expected))
        if extra:
            problems.append(f"{label.value} nodes of runs not started here: {extra}")
    if problems:
        raise ScaleError("not exactly once:\n" + "\n".join(problems))


# -- statements per run ----------------------------------------------------------------------------


@contextlib.contextmanager
def counting_statements() -> Iterator[Counter[str]]:
    """Count every statement this process's neo4j driver sends inside managed transactions."""
    from neo4j._async.work.transaction import AsyncTransactionBase

    counts: Counter[str] = Counter()
    original = AsyncTransactionBase.run

    async def run(self: Any, query: Any, parameters: Any = None, **kwargs: Any) -> Any:
        counts["statements"] += 1
        return await original(self, query, parameters, **kwargs)

    AsyncTransactionBase.run = run  # type: ignore[method-assign]
    try:
        yield counts
    finally:
        AsyncTransactionBase.run = original  # type: ignore[method-assign]


async def statements_per_run(
    driver: neo4j.AsyncDriver, database: str, endpoint: TemporalEndpoint, team_id: str, trials: int
) -> dict[str, int]:
    """One run of each kind on an in-process worker, after one warm-up run: statements each sent."""
    from engines.scenario_changes import CapacityChange, Scenario
    from workflows import client as lodestar
    from workflows.payloads import (
        RiskAssessmentRequest,
        RoadmapDraftingRequest,
        ScenarioSimulationRequest,
        Stage,
    )
    from workflows.worker import build_worker

    client = await connect(endpoint)
    store = GraphStore(driver, database)
    queue = f"scale-statements-{uuid.uuid4().hex[:8]}"
    common: dict[str, Any] = {"as_of": AS_OF, "trials": trials, "model": "offline"}
    starters: dict[str, Callable[[], Any]] = {
        "risk": lambda: lodestar.start_risk_assessment(
            client, RiskAssessmentRequest(**common), task_queue=queue
        ),
        "scenario": lambda: lodestar.start_scenario_simulation(
            client,
            ScenarioSimulationRequest(
                scenarios=[
                    Scenario(id="hire", name="One hire", changes=[CapacityChange(team_id=team_id, delta=1)])
                ],
                **common,
            ),
            task_queue=queue,
        ),
        "roadmap": lambda: lodestar.start_roadmap_drafting(
            client, RoadmapDraftingRequest(planner_time_limit_s=5, **common), task_queue=queue
        ),
    }

    async def one(kind: str) -> None:
        workflow_id = await starters[kind]()
        if kind == "roadmap":
            for _ in range(600):
                if (await lodestar.get_progress(client, workflow_id)).stage is Stage.AWAITING_REVIEW:
                    break
                await asyncio.sleep(0.05)
            await lodestar.approve_roadmap(client, workflow_id, reviewer="bench")
        await client.get_workflow_handle(workflow_id).result()

    figures: dict[str, int] = {}
    async with build_worker(client, store, task_queue=queue):
        await one("risk")  # loads the snapshot into this worker's cache
        for kind in KINDS:
            with counting_statements() as counts:
                await one(kind)
            figures[kind] = counts["statements"]
    return figures


# -- the whole measurement -------------------------------------------------------------------------


async def prepare_graph(driver: neo4j.AsyncDriver, database: str, portfolio: Portfolio) -> dict[Role, str]:
    """An empty graph holding `portfolio`, and one API key per role the runs need."""
    store = GraphStore(driver, database)
    await store.clear()
    await store.ensure_schema()
    await store.import_portfolio(portfolio)
    queries = EntityReads(driver, database)
    await queries.ensure_schema()
    return {
        role: (await create_api_key(queries, f"scale-{role.value}", role)).secret_key
        for role in (Role.VIEWER, Role.PLANNER, Role.APPROVER)
    }


async def measure(
    graph: LocalGraphDatabase,
    endpoint: TemporalEndpoint,
    work_dir: Path,
    *,
    runs_one_worker: int,
    runs_three_workers: int,
    runs_with_kill: int,
    trials: int,
    kill_trials: int | None = None,
    scale: str = "small",
    run_timeout: float = 240.0,
    measure_statements: bool = False,
) -> ScaleFigures:
    """The phases on `graph` (emptied first) and the Temporal service at `endpoint`: runs on one worker,
    runs on three, then runs during which one of the three is SIGKILLed (its recovery included)."""
    portfolio = generate_portfolio(scale=scale, anchor=AS_OF)
    team_id = sorted(team.id for team in portfolio.teams)[0]
    async with neo4j.AsyncGraphDatabase.driver(graph.uri, auth=graph.auth) as driver:
        keys = await prepare_graph(driver, graph.database, portfolio)
        client = await connect(endpoint)
        group = ProcessGroup(work_dir, child_environment(graph, endpoint, work_dir / "data"))
        lodestar = lodestar_command()
        try:
            async with httpx.AsyncClient() as http:
                apis = [
                    group.start(
                        f"api-{n}", [lodestar, "serve", "--host", "127.0.0.1", "--port", str(port)], port
                    )
                    for n, port in ((1, group.free_port()), (2, group.free_port()))
                ]

                def start_worker(n: int) -> Child:
                    port = group.free_port()
                    argv = [lodestar, "worker", "--health-port", str(port), "--health-host", "127.0.0.1"]
                    return group.start(f"worker-{n}", argv, port)

                workers = [start_worker(1)]
                await asyncio.gather(
                    *(wait_healthy(http, child, within_s=120) for child in [*apis, *workers])
                )
                runs = Runs(http, apis, keys, client, team_id=team_id, trials=trials)

                started = time.perf_counter()
                _, waits = await runs.batch(runs_one_worker, 0, run_timeout)
                await asyncio.gather(*waits)
                phases = [Phase(1, runs_one_worker, time.perf_counter() - started)]

                workers += [start_worker(2), start_worker(3)]
                await asyncio.gather(*(wait_healthy(http, child, within_s=120) for child in workers))
                started = time.perf_counter()
                _, waits = await runs.batch(runs_three_workers, runs_one_worker, run_timeout)
                await asyncio.gather(*waits)
                phases.append(Phase(3, runs_three_workers, time.perf_counter() - started))
                rss = [worker.rss_mib() for worker in workers]

                started = time.perf_counter()
                offset = runs_one_worker + runs_three_workers
                # More trials here make precompute_engines long enough to catch a worker inside it.
                run_ids, waits = await runs.batch(
                    runs_with_kill, offset, run_timeout, trials=kill_trials or trials * 5
                )
                victim, during = await choose_victim(client, workers, run_ids, within_s=30)
                group.kill(victim)
                await asyncio.gather(*waits)
                phases.append(Phase(3, runs_with_kill, time.perf_counter() - started, killed=True))
                api_rss = [api.rss_mib() for api in apis]
                await verify_exactly_once(client, driver, graph.database, runs.kind_of)
                histories = await history_figures(client, runs.kind_of)
        finally:
            group.stop_all()
        figures = ScaleFigures(
            phases=phases,
            killed_worker_pid=victim.process.pid,
            killed_during=during,
            worker_rss_mib=rss,
            api_rss_mib=api_rss,
            kinds=Counter(runs.kind_of.values()),
            histories=histories,
        )
        if measure_statements:
            figures.statements_per_run = await statements_per_run(
                driver, graph.database, endpoint, team_id, trials
            )
        return figures


@contextlib.asynccontextmanager
async def local_services(work_dir: Path) -> AsyncIterator[tuple[LocalGraphDatabase, TemporalEndpoint]]:
    """A private graph database and Temporal dev server under `work_dir`, on a fresh task queue."""
    async with (
        LocalGraphDatabase(work_dir / "graph") as graph,
        LocalTemporalServer(work_dir / "temporal") as temporal,
    ):
        yield graph, temporal.endpoint(task_queue=f"scale-{uuid.uuid4().hex[:8]}")


async def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--runs",
        type=int,
        default=30,
        help="Runs in all: 30%% on one worker, 40%% on three, 30%% with a kill.",
    )
    parser.add_argument("--trials", type=int, default=10_000)
    parser.add_argument("--scale", choices=sorted(SCALES), default="small", help="Demo portfolio size.")
    args, _ = parser.parse_known_args(argv)
    runs_one = max(3, args.runs * 3 // 10)
    runs_kill = max(3, args.runs * 3 // 10)
    with tempfile.TemporaryDirectory(prefix="lodestar-scale-") as tmp:
        work_dir = Path(tmp)
        async with local_services(work_dir) as (graph, endpoint):
            figures = await measure(
                graph,
                endpoint,
                work_dir,
                runs_one_worker=runs_one,
                runs_three_workers=max(3, args.runs - runs_one - runs_kill),
                runs_with_kill=runs_kill,
                trials=args.trials,
                scale=args.scale,
                measure_statements=True,
            )
    print(
        f"bench.scale: {args.runs} runs, {args.trials} trials, {args.scale} portfolio, "
        f"2 APIs, 1 then 3 workers, {os.cpu_count()} CPUs"
    )
    for line in figures.lines():
        print("  " + line)
    sys.stdout.flush()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # so that SIGTERM, too, stops every child in `finally`


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _interrupt)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
