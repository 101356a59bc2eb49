"""Helpers shared by the workflow tests, the history recorder and the workflow benchmark."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from datetime import date
from pathlib import Path
from typing import TypeVar

import neo4j
from pydantic_ai import models
from temporalio import activity
from temporalio.client import Client

from engines.scenario_changes import Scenario
from graph.demo import generate_portfolio
from graph.local_db import LocalGraphDatabase
from graph.portfolio import Portfolio
from graph.store import GraphStore
from lodestar.cli import default_scenarios
from tests.temporal_fixtures import running_worker
from workflows.activities import LodestarActivities
from workflows.client import connect, get_progress
from workflows.local_temporal import LocalTemporalServer
from workflows.payloads import (
    PersistRiskAssessment,
    PortfolioReviewRequest,
    PrecomputeJob,
    PrecomputeReport,
    RiskAssessmentOutcome,
    RiskAssessmentRequest,
    RoadmapDraftingRequest,
    ScenarioSimulationRequest,
    SnapshotRef,
    SnapshotRequest,
    Stage,
    WorkflowProgress,
)

T = TypeVar("T")

AS_OF = date(2026, 11, 23)
TRIALS = 1_000
SEED = 3


def demo_portfolio_for_tests() -> Portfolio:
    return generate_portfolio(seed=7, scale="small", anchor=AS_OF)


REPO_ROOT = Path(__file__).resolve().parents[2]


def cli_environment(
    temporal_address: str, database: LocalGraphDatabase, data_dir: Path, **settings: str
) -> dict[str, str]:
    """The environment of a `lodestar` subprocess that uses the given Temporal server and graph database
    (so it starts neither of its own) and keeps its local data under `data_dir`; `settings` add to it."""
    user, password = database.auth
    return {
        **os.environ,
        "TEMPORAL_ADDRESS": temporal_address,
        "NEO4J_URI": database.uri,
        "NEO4J_USER": user,
        "NEO4J_PASSWORD": password,
        "LODESTAR_DATA_DIR": str(data_dir),
        **settings,
    }


async def start_cli(environment: Mapping[str, str], *arguments: str) -> asyncio.subprocess.Process:
    """`lodestar ARGUMENTS` in a subprocess, its stdout and stderr together on one pipe."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "lodestar.cli",
        *arguments,
        cwd=REPO_ROOT,
        env=environment,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )


async def run_cli(
    environment: Mapping[str, str], *arguments: str, timeout_s: float
) -> tuple[int | None, str]:
    """`lodestar ARGUMENTS` run to its end in a subprocess: its exit code and its output (stdout and stderr)."""
    process = await start_cli(environment, *arguments)
    output_bytes, _ = await asyncio.wait_for(process.communicate(), timeout=timeout_s)
    return process.returncode, output_bytes.decode(errors="replace")


@asynccontextmanager
async def private_services(directory: Path, portfolio: Portfolio) -> AsyncIterator[tuple[GraphStore, Client]]:
    """A private local graph database holding `portfolio` and a Temporal dev server, both under
    `directory`, with real model providers switched off: the store and a client connected to the server."""
    models.ALLOW_MODEL_REQUESTS = False
    async with (
        LocalGraphDatabase(directory / "graph") as database,
        LocalTemporalServer(directory / "temporal") as server,
        neo4j.AsyncGraphDatabase.driver(database.uri, auth=database.auth) as driver,
    ):
        store = GraphStore(driver, database.database)
        await store.ensure_schema()
        await store.import_portfolio(portfolio)
        yield store, await connect(server.endpoint())


def scenarios_for(portfolio: Portfolio) -> list[Scenario]:
    return default_scenarios(portfolio)


def scenario_request(portfolio: Portfolio) -> ScenarioSimulationRequest:
    return ScenarioSimulationRequest(
        as_of=AS_OF, trials=TRIALS, seed=SEED, scenarios=scenarios_for(portfolio)
    )


def risk_request() -> RiskAssessmentRequest:
    return RiskAssessmentRequest(as_of=AS_OF, trials=TRIALS, seed=SEED)


def roadmap_request(review_timeout_seconds: float = 600.0) -> RoadmapDraftingRequest:
    return RoadmapDraftingRequest(
        as_of=AS_OF, trials=TRIALS, seed=SEED, review_timeout_seconds=review_timeout_seconds
    )


def review_request() -> PortfolioReviewRequest:
    return PortfolioReviewRequest(as_of=AS_OF, trials=TRIALS, seed=SEED)


async def eventually(probe: Callable[[], Awaitable[T | None]], *, within: float = 60.0, what: str = "") -> T:
    """Poll `probe` until it returns something other than None."""
    deadline = time.monotonic() + within
    while True:
        value = await probe()
        if value is not None:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {within:.0f} s waiting for {what or probe}")
        await asyncio.sleep(0.1)


async def wait_for_stage(
    client: Client, workflow_id: str, stage: Stage, *, within: float = 60.0
) -> WorkflowProgress:
    async def probe() -> WorkflowProgress | None:
        progress = await get_progress(client, workflow_id)
        return progress if progress.stage is stage else None

    return await eventually(probe, within=within, what=f"{workflow_id} to reach {stage.value}")


class Gate:
    """Holds an activity until the test releases it; tells the test when the activity has arrived."""

    def __init__(self) -> None:
        self.arrived = asyncio.Event()
        self.released = asyncio.Event()

    async def pass_through(self) -> None:
        self.arrived.set()
        while not self.released.is_set():
            activity.heartbeat()  # lets the activity learn about a cancellation
            try:
                await asyncio.wait_for(self.released.wait(), timeout=0.2)
            except TimeoutError:
                continue


class GatedActivities(LodestarActivities):
    """The real activities, each able to wait at a gate first: lets a test act at an exact stage."""

    gates: dict[str, Gate]

    def gate(self, activity_name: str) -> Gate:
        gates = self.__dict__.setdefault("gates", {})
        return gates.setdefault(activity_name, Gate())

    async def _wait(self, activity_name: str) -> None:
        gate = self.__dict__.get("gates", {}).get(activity_name)
        if gate is not None:
            await gate.pass_through()

    @activity.defn(name="load_snapshot")
    async def load_snapshot(self, request: SnapshotRequest) -> SnapshotRef:
        await self._wait("load_snapshot")
        return await super().load_snapshot(request)

    @activity.defn(name="precompute_engines")
    async def precompute_engines(self, job: PrecomputeJob) -> PrecomputeReport:
        await self._wait("precompute_engines")
        return await super().precompute_engines(job)

    @activity.defn(name="persist_risk_assessment")
    async def persist_risk_assessment(self, job: PersistRiskAssessment) -> RiskAssessmentOutcome:
        await self._wait("persist_risk_assessment")
        return await super().persist_risk_assessment(job)


@asynccontextmanager
async def worker_gated_at(
    client: Client, store: GraphStore, activity_name: str
) -> AsyncIterator[tuple[Gate, str]]:
    """A replaying worker whose `activity_name` activity first waits at a gate: the gate and the task queue."""
    activities = GatedActivities(store)
    gate = activities.gate(activity_name)
    async with running_worker(client, store, activities=activities) as queue:
        yield gate, queue
