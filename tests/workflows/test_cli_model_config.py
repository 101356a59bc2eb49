"""A `LODESTAR_MODEL` that names no provider this installation can build ends `lodestar serve`,
`lodestar worker` and a direct analysis at once with one line naming the variable, before any run could
fail on it; a run that fails (on its provider, say) ends the command with the run's typed failure in one
line."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ActivityError, ApplicationError, RetryState

from graph.local_db import LocalGraphDatabase
from lodestar.cli import _run  # pyright: ignore[reportPrivateUsage]
from workflows.local_temporal import LocalTemporalServer

from .support import cli_environment, run_cli

MISTYPED = "google-gla:gemini-2.5-pro"
EXPECTED = (
    f"error: LODESTAR_MODEL='{MISTYPED}': 'google-gla' is not a pydantic-ai provider; give provider:model"
)


@pytest.fixture
def environment(
    temporal_server: LocalTemporalServer, local_graph_database: LocalGraphDatabase, tmp_path: Path
) -> dict[str, str]:
    return cli_environment(temporal_server.address, local_graph_database, tmp_path / "data", COLUMNS="400")


@pytest.mark.integration
@pytest.mark.asyncio(loop_scope="session")
@pytest.mark.parametrize("command", [["serve"], ["worker"], ["demo", "--no-serve"]])
async def test_a_mistyped_model_ends_the_command_with_one_line(
    environment: dict[str, str], command: list[str]
) -> None:
    environment = {**environment, "LODESTAR_MODEL": MISTYPED}
    if command[0] == "demo":  # were the check missing, the demo would write its own graph, not the session's
        for name in ("NEO4J_URI", "NEO4J_USER", "NEO4J_PASSWORD", "TEMPORAL_ADDRESS"):
            environment.pop(name)
    code, output = await run_cli(environment, *command, timeout_s=120)
    assert code == 1, output
    assert output.strip().splitlines()[-1].startswith(EXPECTED), output
    assert "Traceback" not in output and "╭" not in output, output
    assert "Demo portfolio loaded" not in output, "nothing is written before the check"


def test_a_run_failed_by_its_provider_ends_the_command_with_its_typed_failure(
    capsys: pytest.CaptureFixture[str],
) -> None:
    async def a_run_that_failed() -> None:
        provider_said = ApplicationError("Connection error.", type="ModelAPIError")
        activity_failed = ActivityError(
            "activity failed",
            scheduled_event_id=5,
            started_event_id=6,
            identity="worker",
            activity_type="request",
            activity_id="1",
            retry_state=RetryState.MAXIMUM_ATTEMPTS_REACHED,
        )
        activity_failed.__cause__ = provider_said
        raise WorkflowFailureError(cause=activity_failed)

    with pytest.raises(typer.Exit) as exited:
        _run(a_run_that_failed())
    assert exited.value.exit_code == 1
    assert capsys.readouterr().err == (
        "error: the run failed: ModelProviderError: the language model provider failed (after the bounded "
        "retries, or it rejected the request); the worker logs have its answer\n"
    )
