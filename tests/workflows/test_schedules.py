"""Review schedules on the real Temporal server: create, trigger a review, pause, unpause, delete."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from graph.result_store import ResultStore
from graph.vocabulary import NodeLabel
from workflows import client as lodestar
from workflows import schedules
from workflows.payloads import PortfolioReviewOutcome

from .support import eventually, review_request

pytestmark = pytest.mark.integration


async def test_a_review_schedule_runs_reviews_and_can_be_paused_and_deleted(
    temporal_client: Client, task_queue: str, results: ResultStore
) -> None:
    schedule_id = f"weekly-{uuid.uuid4().hex[:8]}"
    created = await schedules.create_review_schedule(
        temporal_client, schedule_id, task_queue=task_queue, every=timedelta(days=7), request=review_request()
    )
    assert not created.paused and created.intervals_seconds == [7 * 24 * 3600.0]
    assert created.task_queue == task_queue
    assert created.workflow_id_prefix == schedules.review_workflow_id_prefix(schedule_id)
    assert len(created.next_action_times) > 0 and created.actions_taken == 0

    try:
        await schedules.trigger_review_schedule(temporal_client, schedule_id)

        async def started() -> str | None:
            info = await schedules.describe_review_schedule(temporal_client, schedule_id)
            return info.recent_workflow_ids[-1] if info.recent_workflow_ids else None

        review_id = await eventually(started, within=30, what="the triggered review to start")
        assert review_id.startswith(schedules.review_workflow_id_prefix(schedule_id))
        outcome = await lodestar.get_result(temporal_client, review_id)
        assert isinstance(outcome, PortfolioReviewOutcome)
        stored = await results.get_result(NodeLabel.PORTFOLIO_REVIEW, review_id)
        assert stored is not None and stored.figures["schedule_id"] == schedule_id
        described = await temporal_client.get_workflow_handle(review_id).describe()
        attributes = {pair.key.name: pair.value for pair in described.typed_search_attributes}
        assert attributes["LodestarKind"] == "review"
        assert attributes["LodestarRequestedBy"] == f"schedule:{schedule_id}"
        assert attributes["LodestarStage"] == "completed"

        paused = await schedules.pause_review_schedule(temporal_client, schedule_id, note="release freeze")
        assert paused.paused and paused.note == "release freeze"
        unpaused = await schedules.unpause_review_schedule(temporal_client, schedule_id)
        assert not unpaused.paused and unpaused.actions_taken == 1
    finally:
        await schedules.delete_review_schedule(temporal_client, schedule_id)
    with pytest.raises(RPCError) as missing:
        await schedules.describe_review_schedule(temporal_client, schedule_id)
    assert missing.value.status == RPCStatusCode.NOT_FOUND
