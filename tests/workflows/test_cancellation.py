"""Cancelling a run at each stage: before persisting nothing is written; a started write completes;
a stored roadmap draft is marked cancelled."""

from __future__ import annotations

import pytest
from temporalio import activity
from temporalio.client import Client, WorkflowFailureError

from agents.snapshots import snapshots
from graph.portfolio import Portfolio
from graph.result_store import ResultStore, RoadmapStatus
from graph.store import GraphStore
from graph.vocabulary import NodeLabel
from workflows import client as lodestar
from workflows.payloads import RiskAssessmentOutcome, Stage
from workflows.worker import build_worker

from .conftest import fresh_task_queue
from .support import Gate, risk_request, roadmap_request, wait_for_stage, worker_gated_at

pytestmark = pytest.mark.integration


async def _wait_cancelled(client: Client, workflow_id: str) -> None:
    with pytest.raises(WorkflowFailureError) as failure:
        await lodestar.get_result(client, workflow_id)
    assert "cancel" in str(failure.value.cause).lower()
    assert (await lodestar.get_status(client, workflow_id)).state is lodestar.RunState.CANCELLED


async def test_cancelled_before_any_worker_picks_it_up(
    temporal_client: Client, demo_store: GraphStore, results: ResultStore
) -> None:
    queue = fresh_task_queue()
    workflow_id = await lodestar.start_risk_assessment(temporal_client, risk_request(), task_queue=queue)
    await lodestar.cancel_run(temporal_client, workflow_id)
    # The worker's first task of the run holds both the start and the cancellation.
    async with build_worker(temporal_client, demo_store, task_queue=queue, max_cached_workflows=0):
        await _wait_cancelled(temporal_client, workflow_id)
        progress = await lodestar.get_progress(temporal_client, workflow_id)
    assert progress.stage is Stage.CANCELLED
    assert await results.count_results(NodeLabel.RISK_ASSESSMENT, workflow_id) == 0


@pytest.mark.parametrize(
    ("activity_name", "stage"),
    [("load_snapshot", Stage.LOADING_SNAPSHOT), ("precompute_engines", Stage.PRECOMPUTING)],
)
async def test_cancelled_before_persisting_leaves_nothing(
    temporal_client: Client, demo_store: GraphStore, results: ResultStore, activity_name: str, stage: Stage
) -> None:
    async with worker_gated_at(temporal_client, demo_store, activity_name) as (gate, queue):
        workflow_id = await lodestar.start_risk_assessment(temporal_client, risk_request(), task_queue=queue)
        await gate.arrived.wait()
        assert (await lodestar.get_progress(temporal_client, workflow_id)).stage is stage
        await lodestar.cancel_run(temporal_client, workflow_id)
        await _wait_cancelled(temporal_client, workflow_id)
        gate.released.set()
        progress = await lodestar.get_progress(temporal_client, workflow_id)
    assert progress.stage is Stage.CANCELLED
    assert await results.count_results(NodeLabel.RISK_ASSESSMENT, workflow_id) == 0


async def test_a_write_under_way_completes_and_the_run_succeeds(
    temporal_client: Client, demo_store: GraphStore, results: ResultStore
) -> None:
    async with worker_gated_at(temporal_client, demo_store, "persist_risk_assessment") as (gate, queue):
        workflow_id = await lodestar.start_risk_assessment(temporal_client, risk_request(), task_queue=queue)
        await gate.arrived.wait()
        await lodestar.cancel_run(temporal_client, workflow_id)
        await wait_for_stage(temporal_client, workflow_id, Stage.PERSISTING)
        gate.released.set()
        outcome = await lodestar.get_result(temporal_client, workflow_id)
    assert isinstance(outcome, RiskAssessmentOutcome)
    assert (await lodestar.get_status(temporal_client, workflow_id)).state is lodestar.RunState.COMPLETED
    assert await results.count_results(NodeLabel.RISK_ASSESSMENT, workflow_id) == 1


async def test_a_cancelled_roadmap_draft_is_marked_cancelled_and_cannot_be_approved(
    temporal_client: Client, task_queue: str, results: ResultStore
) -> None:
    workflow_id = await lodestar.start_roadmap_drafting(
        temporal_client, roadmap_request(), task_queue=task_queue
    )
    await wait_for_stage(temporal_client, workflow_id, Stage.AWAITING_REVIEW)
    await lodestar.cancel_run(temporal_client, workflow_id)
    await _wait_cancelled(temporal_client, workflow_id)
    stored = await results.get_result(NodeLabel.ROADMAP_VERSION, workflow_id)
    assert stored is not None and stored.roadmap is not None
    assert stored.roadmap.status is RoadmapStatus.CANCELLED and not stored.roadmap.current
    assert await results.current_roadmap_markers() == (0, 0)
    with pytest.raises(lodestar.ReviewRefusedError):
        await lodestar.approve_roadmap(temporal_client, workflow_id, reviewer="Too Late")


async def test_cancelled_while_the_agent_runs_leaves_nothing(
    temporal_client: Client,
    task_queue: str,
    results: ResultStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    gate = Gate()
    load = snapshots.get

    async def gated_get(snapshot_id: str) -> Portfolio:
        # Only the agent's tool activities wait: the run is then inside its durable agent loop.
        if activity.in_activity() and activity.info().activity_type.startswith("agent__"):
            await gate.pass_through()
        return await load(snapshot_id)

    monkeypatch.setattr(snapshots, "get", gated_get)
    workflow_id = await lodestar.start_risk_assessment(temporal_client, risk_request(), task_queue=task_queue)
    await gate.arrived.wait()
    assert (await lodestar.get_progress(temporal_client, workflow_id)).stage is Stage.RUNNING_AGENT
    await lodestar.cancel_run(temporal_client, workflow_id)
    await _wait_cancelled(temporal_client, workflow_id)
    gate.released.set()
    assert (await lodestar.get_progress(temporal_client, workflow_id)).stage is Stage.CANCELLED
    assert await results.count_results(NodeLabel.RISK_ASSESSMENT, workflow_id) == 0
