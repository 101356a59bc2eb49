"""`lodestar insight` against the real graph: it prints the themes, the suggested links and the agent's digest."""

from __future__ import annotations

from pathlib import Path

import pytest

from agents.insight_runs import InsightDeps, insight_analysis
from agents.snapshots import snapshot_id_of
from graph.local_db import LocalGraphDatabase
from tests.api.conftest import AS_OF, ApiGraph
from tests.workflows.support import cli_environment, run_cli

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


async def test_the_insight_command_prints_themes_and_the_digest(
    insight_graph: ApiGraph, local_graph_database: LocalGraphDatabase, tmp_path: Path
) -> None:
    snapshot = await insight_graph.store.portfolio_snapshot()
    expected = insight_analysis(
        snapshot, InsightDeps(snapshot_id=snapshot_id_of(snapshot), as_of=AS_OF, run_key=f"cli-{AS_OF}")
    )
    environment = cli_environment("127.0.0.1:1", local_graph_database, tmp_path / "data", COLUMNS="200")
    environment.pop("LODESTAR_MODEL", None)
    returncode, output = await run_cli(environment, "insight", "--as-of", AS_OF.isoformat(), timeout_s=180)
    assert returncode == 0, output[-4000:]
    assert f"{len(snapshot.feedback)} feedback items, {len(expected.themes)} themes" in output
    assert f"{len(expected.suggestions)} suggested feature links" in output
    assert "Largest themes" in output and "Insight digest" in output
    assert expected.themes[0].theme.id in output
