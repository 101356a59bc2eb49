"""`lodestar demo` runs the three analyses as workflows through Temporal and prints their reports."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import Client

from graph.local_db import LocalGraphDatabase
from graph.result_store import ResultStore
from graph.store import GraphStore
from graph.vocabulary import NodeLabel
from lodestar.cli import local_user
from workflows.local_temporal import LocalTemporalServer

from .conftest import fresh_task_queue
from .support import cli_environment, run_cli

pytestmark = pytest.mark.integration


async def test_demo_runs_the_three_workflows_and_prints_their_reports(
    temporal_server: LocalTemporalServer,
    temporal_client: Client,
    local_graph_database: LocalGraphDatabase,
    demo_store: GraphStore,
    tmp_path: Path,
) -> None:
    task_queue = fresh_task_queue()
    environment = cli_environment(
        temporal_server.address,
        local_graph_database,
        tmp_path / "data",
        LODESTAR_TASK_QUEUE=task_queue,
        COLUMNS="160",
    )
    environment.pop("LODESTAR_MODEL", None)
    returncode, output = await run_cli(environment, "demo", "--trials", "500", timeout_s=240)
    assert returncode == 0, output[-4000:]

    for heading in (
        "ScenarioSimulationWorkflow",
        "RoadmapDraftingWorkflow",
        "RiskAssessmentWorkflow",
        "CustomerInsightWorkflow",
    ):
        assert heading in output
    assert f"Temporal at {temporal_server.address}" in output
    assert "published by 'lodestar demo' (current roadmap)" in output
    for panel in ("Scenario analysis", "Roadmap analysis", "Top risks", "Insight digest"):
        assert panel in output
    # The local data dir stayed unused: the configured servers were used, nothing was started.
    assert not (tmp_path / "data" / "temporal").exists()

    results = ResultStore(demo_store)
    for label in (
        NodeLabel.SCENARIO_ANALYSIS,
        NodeLabel.ROADMAP_VERSION,
        NodeLabel.RISK_ASSESSMENT,
        NodeLabel.INSIGHT_DIGEST,
    ):
        stored = await results.list_results(label)
        assert len(stored) == 1 and stored[0].id in output
    current = await results.current_roadmap()
    assert current is not None and current.roadmap is not None and current.roadmap.reviewer == "lodestar demo"

    # Each run says who started it: the local user of the CLI.
    requesters: dict[str, str] = {}
    async for execution in temporal_client.list_workflows(f'TaskQueue="{task_queue}"'):
        described = await temporal_client.get_workflow_handle(execution.id).describe()
        attributes = {pair.key.name: pair.value for pair in described.typed_search_attributes}
        requesters[attributes["LodestarKind"]] = attributes["LodestarRequestedBy"]
    assert requesters == dict.fromkeys(("scenario", "roadmap", "risk", "insight"), local_user())
