"""RoadmapDraftingWorkflow: a draft version waits for a reviewer; approve publishes, reject and timeout close it."""

from __future__ import annotations

import pytest
from temporalio.client import Client

from engines.roadmap import draft_roadmap
from graph.portfolio import Portfolio
from graph.result_store import ResultStore, RoadmapStatus
from graph.store import GraphStore
from graph.vocabulary import NodeLabel
from workflows import client as lodestar
from workflows.payloads import ReviewDecision, ReviewVerdict, RoadmapDraftOutcome, Stage

from .support import AS_OF, roadmap_request, wait_for_stage, worker_gated_at

pytestmark = pytest.mark.integration


async def _draft_waiting(client: Client, task_queue: str, timeout_seconds: float = 600.0) -> str:
    workflow_id = await lodestar.start_roadmap_drafting(
        client, roadmap_request(timeout_seconds), task_queue=task_queue
    )
    await wait_for_stage(client, workflow_id, Stage.AWAITING_REVIEW)
    return workflow_id


async def _stored_status(results: ResultStore, workflow_id: str) -> tuple[RoadmapStatus, bool]:
    stored = await results.get_result(NodeLabel.ROADMAP_VERSION, workflow_id)
    assert stored is not None and stored.roadmap is not None
    return stored.roadmap.status, stored.roadmap.current


async def test_approval_publishes_the_draft_as_the_one_current_roadmap(
    temporal_client: Client, task_queue: str, results: ResultStore, demo_portfolio: Portfolio
) -> None:
    workflow_id = await _draft_waiting(temporal_client, task_queue)
    assert await _stored_status(results, workflow_id) == (RoadmapStatus.DRAFT, False)
    draft = await temporal_client.get_workflow_handle(workflow_id).query(
        "draft", result_type=RoadmapDraftOutcome
    )
    assert draft.status is RoadmapStatus.DRAFT and draft.version == 1
    expected_plan = draft_roadmap(demo_portfolio, as_of=AS_OF, quarters=4)
    assert draft.commitment_count == sum(len(q.commitments) for q in expected_plan.quarters)
    assert draft.total_value == round(expected_plan.total_value, 4)

    published = await lodestar.approve_roadmap(temporal_client, workflow_id, reviewer="Ann Lee", comment="Go")
    assert published.status is RoadmapStatus.PUBLISHED and published.current
    assert published.review is not None
    assert (published.review.verdict, published.review.reviewer, published.review.comment) == (
        ReviewVerdict.APPROVE,
        "Ann Lee",
        "Go",
    )
    assert await lodestar.get_result(temporal_client, workflow_id) == published
    assert await _stored_status(results, workflow_id) == (RoadmapStatus.PUBLISHED, True)
    assert await results.current_roadmap_markers() == (1, 1)

    # A second draft, approved, supersedes the first: still exactly one current roadmap.
    second_id = await _draft_waiting(temporal_client, task_queue)
    second = await lodestar.approve_roadmap(temporal_client, second_id, reviewer="Bo")
    assert second.version == 2 and second.current
    assert await _stored_status(results, workflow_id) == (RoadmapStatus.PUBLISHED, False)
    current = await results.current_roadmap()
    assert current is not None and current.id == second_id
    assert await results.current_roadmap_markers() == (1, 1)


async def test_rejection_keeps_the_draft_unpublished_and_a_second_review_is_refused(
    temporal_client: Client, task_queue: str, results: ResultStore
) -> None:
    workflow_id = await _draft_waiting(temporal_client, task_queue)
    with pytest.raises(lodestar.ReviewRefusedError):
        await lodestar.review_roadmap(
            temporal_client,
            workflow_id,
            ReviewDecision.model_construct(verdict=ReviewVerdict.APPROVE, reviewer="  "),
        )
    rejected = await lodestar.reject_roadmap(
        temporal_client, workflow_id, reviewer="Cy", comment="Too much scope"
    )
    assert rejected.status is RoadmapStatus.REJECTED and not rejected.current
    assert rejected.review is not None and rejected.review.comment == "Too much scope"
    assert await _stored_status(results, workflow_id) == (RoadmapStatus.REJECTED, False)
    assert await results.current_roadmap() is None
    assert await results.current_roadmap_markers() == (0, 0)
    with pytest.raises(lodestar.ReviewRefusedError):
        await lodestar.approve_roadmap(temporal_client, workflow_id, reviewer="Dee")
    assert await _stored_status(results, workflow_id) == (RoadmapStatus.REJECTED, False)


async def test_without_a_review_the_draft_expires(
    temporal_client: Client, task_queue: str, results: ResultStore
) -> None:
    workflow_id = await lodestar.start_roadmap_drafting(
        temporal_client, roadmap_request(review_timeout_seconds=2.0), task_queue=task_queue
    )
    outcome = await lodestar.get_result(temporal_client, workflow_id)
    assert isinstance(outcome, RoadmapDraftOutcome)
    assert outcome.status is RoadmapStatus.EXPIRED and not outcome.current
    assert outcome.review is not None and outcome.review.verdict is None
    assert await _stored_status(results, workflow_id) == (RoadmapStatus.EXPIRED, False)
    assert await results.current_roadmap_markers() == (0, 0)
    progress = await lodestar.get_progress(temporal_client, workflow_id)
    assert progress.stage is Stage.COMPLETED
    assert any("expires" in message for message in progress.messages)


async def test_a_review_before_the_draft_exists_is_refused(
    temporal_client: Client, demo_store: GraphStore, results: ResultStore
) -> None:
    async with worker_gated_at(temporal_client, demo_store, "precompute_engines") as (gate, queue):
        workflow_id = await lodestar.start_roadmap_drafting(
            temporal_client, roadmap_request(), task_queue=queue
        )
        await gate.arrived.wait()
        with pytest.raises(lodestar.ReviewRefusedError):
            await lodestar.approve_roadmap(temporal_client, workflow_id, reviewer="Early Bird")
        gate.released.set()
        await wait_for_stage(temporal_client, workflow_id, Stage.AWAITING_REVIEW)
        published = await lodestar.approve_roadmap(temporal_client, workflow_id, reviewer="On Time")
    assert published.status is RoadmapStatus.PUBLISHED
    assert await results.count_results(NodeLabel.ROADMAP_VERSION, workflow_id) == 1
