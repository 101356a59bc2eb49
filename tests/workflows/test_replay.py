"""Recorded histories (tests/workflows/histories, see record_histories.py) replay against today's code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic_ai.durable_exec.temporal import PydanticAIPlugin
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer
from temporalio.workflow import NondeterminismError

from workflows.payloads import WORKFLOW_NAMES
from workflows.worker import workflow_runner
from workflows.workflows import ALL_WORKFLOWS

from .nondeterministic_variant import RiskAssessmentWithoutPrecompute
from .record_histories import HISTORIES

HISTORY_FILES = sorted(HISTORIES.glob("*.json"))


def _history(path: Path) -> WorkflowHistory:
    workflow_id = path.stem.split("__", 1)[1]
    return WorkflowHistory.from_json(workflow_id, json.loads(path.read_text()))


def test_every_workflow_has_a_recorded_history() -> None:
    assert {path.stem.split("__", 1)[0] for path in HISTORY_FILES} == set(WORKFLOW_NAMES)


@pytest.mark.parametrize("path", HISTORY_FILES, ids=[path.stem for path in HISTORY_FILES])
async def test_recorded_history_replays_deterministically(path: Path) -> None:
    replayer = Replayer(
        workflows=list(ALL_WORKFLOWS), plugins=[PydanticAIPlugin()], workflow_runner=workflow_runner()
    )
    result = await replayer.replay_workflow(_history(path), raise_on_replay_failure=False)
    assert result.replay_failure is None


async def test_a_non_deterministic_change_is_caught() -> None:
    path = next(path for path in HISTORY_FILES if path.stem.startswith("RiskAssessmentWorkflow__"))
    replayer = Replayer(
        workflows=[RiskAssessmentWithoutPrecompute],
        plugins=[PydanticAIPlugin()],
        workflow_runner=workflow_runner(),
    )
    result = await replayer.replay_workflow(_history(path), raise_on_replay_failure=False)
    assert isinstance(result.replay_failure, NondeterminismError)
