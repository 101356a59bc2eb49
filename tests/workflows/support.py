"""Helpers shared by the workflow tests and the history recorder."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import date
from typing import TypeVar

from temporalio import activity
from temporalio.client import Client

from engines.scenario_changes import Scenario
from graph.demo import generate_portfolio
from graph.portfolio import Portfolio
from lodestar.cli import default_scenarios
from workflows.activities import LodestarActivities
from workflows.client import get_progress
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
