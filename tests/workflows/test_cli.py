"""`lodestar demo` runs the three analyses as workflows through Temporal and prints their reports."""

from __future__ import annotations

import asyncio
import os
import sys
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

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]


async def test_demo_runs_the_three_workflows_and_prints_their_reports(
    temporal_server: LocalTemporalServer,
    temporal_client: Client,
    local_graph_database: LocalGraphDatabase,
    demo_store: GraphStore,
    tmp_path: Path,
) -> None:
    user, password = local_graph_database.auth
    task_queue = fresh_task_queue()
    environment = {
        **os.environ,
        "TEMPORAL_ADDRESS": temporal_server.address,
        "LODESTAR_TASK_QUEUE": task_queue,
        "NEO4J_URI": local_graph_database.uri,
        "NEO4J_USER": user,
        "NEO4J_PASSWORD": password,
        "LODESTAR_DATA_DIR": str(tmp_path / "data"),
        "COLUMNS": "160",
    }
    environment.pop("LODESTAR_MODEL", None)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "lodestar.cli",
        "demo",
        "--trials",
        "500",
        cwd=REPO_ROOT,
        env=environment,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output_bytes, _ = await asyncio.wait_for(process.communicate(), timeout=240)
    output = output_bytes.decode(errors="replace")
    assert process.returncode == 0, output[-4000:]

    for heading in ("ScenarioSimulationWorkflow", "RoadmapDraftingWorkflow", "RiskAssessmentWorkflow"):
        assert heading in output
    assert f"Temporal at {temporal_server.address}" in output
    assert "published by 'lodestar demo' (current roadmap)" in output
    for panel in ("Scenario analysis", "Roadmap analysis", "Top risks"):
        assert panel in output
    # The local data dir stayed unused: the configured servers were used, nothing was started.
    assert not (tmp_path / "data" / "temporal").exists()

    results = ResultStore(demo_store)
    for label in (NodeLabel.SCENARIO_ANALYSIS, NodeLabel.ROADMAP_VERSION, NodeLabel.RISK_ASSESSMENT):
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
    assert requesters == dict.fromkeys(("scenario", "roadmap", "risk"), local_user())
