"""Every agent on a real model provider inside Temporal: the scripted OpenAI-compatible server on loopback
(tests/agents/scripted_openai.py), configured as `LODESTAR_MODEL` (a base URL, a model name and a key) for
the in-process worker, on the real dev server and graph database.

Each test plays one script and runs the agents concurrently (one workflow each), then checks each run's
outcome against what the server received and answered: completed with the usage the server reported, or
failed with a typed error after the bounded attempts. No API key may appear in any workflow history.
"""

from __future__ import annotations

import json

import pytest
from pydantic import BaseModel
from temporalio.client import Client, WorkflowFailureError

from api.runs import describe_failure
from graph.portfolio import Portfolio
from graph.result_store import ResultStore
from tests.agents.scripted_openai import (
    UNKNOWN_ID,
    ScriptedOpenAIServer,
    cites_unknown_id,
    invalid_json,
    rate_limited,
    server_error,
    slow,
    well_behaved,
)
from tests.conftest import SCRIPTED_API_KEY
from workflows.durable_agents import MODEL_RETRY

from .provider_runs import (
    AgentCase,
    agent_cases,
    delivered_usage,
    failure_text,
    history_text,
    requests_of,
    run_all,
    usage_of,
)

pytestmark = pytest.mark.integration


async def _assert_completed_with_server_usage(
    client: Client,
    server: ScriptedOpenAIServer,
    runs: list[tuple[AgentCase, str, BaseModel | BaseException]],
    *,
    extra_requests: int = 0,
) -> None:
    for case, workflow_id, outcome in runs:
        if not isinstance(outcome, BaseModel):
            raise AssertionError(f"{case.name} failed: {failure_text(outcome)}")
        requests = requests_of(server, case)
        answered, prompt_tokens, completion_tokens = delivered_usage(requests)
        usage = usage_of(outcome)
        assert (usage.requests, usage.input_tokens, usage.output_tokens) == (
            answered,
            prompt_tokens,
            completion_tokens,
        ), case.name
        assert usage.tool_calls >= 2, case.name
        facts = outcome.model_dump()
        assert facts["offline"] is False
        assert facts["model_name"] == f"{server.model_name} at {server.base_url}"
        assert all(r.authorized for r in requests), "every request carries the key"
        history = await history_text(client, workflow_id)
        assert SCRIPTED_API_KEY not in history, f"{case.name}: the API key is in the history"
        assert SCRIPTED_API_KEY not in json.dumps([r.headers for r in requests])
    if extra_requests:
        for case, _workflow_id, outcome in runs:
            assert isinstance(outcome, BaseModel)
            assert usage_of(outcome).requests >= 4 + extra_requests, case.name


async def test_well_behaved_runs_complete_with_the_usage_the_server_reported(
    temporal_client: Client, task_queue: str, scripted_openai: ScriptedOpenAIServer, demo_portfolio: Portfolio
) -> None:
    scripted_openai.play(well_behaved())
    runs = await run_all(temporal_client, task_queue, agent_cases(demo_portfolio))
    await _assert_completed_with_server_usage(temporal_client, scripted_openai, runs)
    for case, _workflow_id, _outcome in runs:
        requests = requests_of(scripted_openai, case)
        first = requests[0].body
        assert first["model"] == scripted_openai.model_name
        assert OUTPUT_TOOL in {t["function"]["name"] for t in first["tools"]}
        assert not first.get("stream")


OUTPUT_TOOL = "final_result"


async def test_an_unknown_cited_id_is_sent_back_and_the_corrected_answer_accepted(
    temporal_client: Client, task_queue: str, scripted_openai: ScriptedOpenAIServer, demo_portfolio: Portfolio
) -> None:
    scripted_openai.play(cites_unknown_id())
    runs = await run_all(temporal_client, task_queue, agent_cases(demo_portfolio))
    await _assert_completed_with_server_usage(temporal_client, scripted_openai, runs)
    for case, _workflow_id, outcome in runs:
        requests = requests_of(scripted_openai, case)
        feedback = [
            m["content"]
            for r in requests
            for m in r.body["messages"]
            if m.get("role") == "tool" and UNKNOWN_ID in str(m.get("content"))
        ]
        assert feedback, f"{case.name}: the validator named the unknown id back to the model"
        assert isinstance(outcome, BaseModel)
        assert UNKNOWN_ID not in outcome.model_dump_json()


async def test_invalid_json_arguments_and_output_are_sent_back_and_then_accepted(
    temporal_client: Client, task_queue: str, scripted_openai: ScriptedOpenAIServer, demo_portfolio: Portfolio
) -> None:
    scripted_openai.play(invalid_json())
    runs = await run_all(temporal_client, task_queue, agent_cases(demo_portfolio))
    await _assert_completed_with_server_usage(temporal_client, scripted_openai, runs, extra_requests=2)
    for case, _workflow_id, _outcome in runs:
        retries = [
            m
            for r in requests_of(scripted_openai, case)[-1:]
            for m in r.body["messages"]
            if m.get("role") == "tool" and "json_invalid" in str(m.get("content"))
        ]
        assert len(retries) == 2, case.name


async def test_invalid_json_past_the_retries_fails_the_run_with_a_typed_error(
    temporal_client: Client,
    task_queue: str,
    scripted_openai: ScriptedOpenAIServer,
    demo_portfolio: Portfolio,
    results: ResultStore,
) -> None:
    scripted_openai.play(invalid_json(times=10))
    cases = [c for c in agent_cases(demo_portfolio) if c.name == "risk"]
    runs = await run_all(temporal_client, task_queue, cases)
    for case, workflow_id, outcome in runs:
        assert isinstance(outcome, WorkflowFailureError), case.name
        assert "UnexpectedModelBehavior" in failure_text(outcome)
        assert describe_failure(outcome).type == "UnexpectedModelBehavior", failure_text(outcome)
        if case.label is not None:
            assert await results.get_result(case.label, workflow_id) is None


async def test_a_request_past_the_http_timeout_is_retried_and_then_succeeds(
    temporal_client: Client,
    task_queue: str,
    scripted_openai: ScriptedOpenAIServer,
    demo_portfolio: Portfolio,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LODESTAR_MODEL_TIMEOUT_SECONDS", "1")
    scripted_openai.play(slow(2.5))
    runs = await run_all(temporal_client, task_queue, agent_cases(demo_portfolio))
    await _assert_completed_with_server_usage(temporal_client, scripted_openai, runs)
    for case, _workflow_id, _outcome in runs:
        first, second = requests_of(scripted_openai, case)[:2]
        assert first.delayed and first.body == second.body and not second.delayed, case.name


async def test_a_429_waits_for_retry_after_then_succeeds(
    temporal_client: Client, task_queue: str, scripted_openai: ScriptedOpenAIServer, demo_portfolio: Portfolio
) -> None:
    scripted_openai.play(rate_limited(retry_after_seconds=2))
    runs = await run_all(temporal_client, task_queue, agent_cases(demo_portfolio))
    await _assert_completed_with_server_usage(temporal_client, scripted_openai, runs)
    for case, _workflow_id, _outcome in runs:
        limited, retried = requests_of(scripted_openai, case)[:2]
        assert limited.status == 429 and retried.status == 200 and limited.body == retried.body
        # Retry-After (2 s) replaces the policy's first interval (1 s); generous margin below it.
        assert retried.received_at - limited.received_at >= 1.8, case.name


async def test_a_500_is_retried_a_bounded_number_of_times_then_fails_the_run(
    temporal_client: Client,
    task_queue: str,
    scripted_openai: ScriptedOpenAIServer,
    demo_portfolio: Portfolio,
    results: ResultStore,
) -> None:
    scripted_openai.play(server_error())
    runs = await run_all(temporal_client, task_queue, agent_cases(demo_portfolio))
    for case, workflow_id, outcome in runs:
        assert isinstance(outcome, WorkflowFailureError), case.name
        text = failure_text(outcome)
        assert "ModelServerError" in text or "status_code: 500" in text, text
        assert describe_failure(outcome).type == "ModelProviderError", text
        requests = requests_of(scripted_openai, case)
        assert len(requests) == MODEL_RETRY.maximum_attempts, case.name
        assert all(r.body == requests[0].body for r in requests)
        if case.label is not None:
            assert await results.get_result(case.label, workflow_id) is None


@pytest.mark.parametrize("status", [400, 413])
async def test_a_client_error_is_not_retried(
    temporal_client: Client,
    task_queue: str,
    scripted_openai: ScriptedOpenAIServer,
    demo_portfolio: Portfolio,
    status: int,
) -> None:
    scripted_openai.play(server_error(status=status))
    cases = [c for c in agent_cases(demo_portfolio) if c.name == "risk"]
    runs = await run_all(temporal_client, task_queue, cases)
    for case, _workflow_id, outcome in runs:
        assert isinstance(outcome, WorkflowFailureError), case.name
        assert "ModelHTTPError" in failure_text(outcome) or f"status_code: {status}" in failure_text(outcome)
        assert len(requests_of(scripted_openai, case)) == 1, "a rejected request is sent once"
        assert describe_failure(outcome).type == "ModelProviderError"


async def test_a_run_over_its_token_budget_fails_with_usage_limit_exceeded(
    temporal_client: Client,
    task_queue: str,
    scripted_openai: ScriptedOpenAIServer,
    demo_portfolio: Portfolio,
    monkeypatch: pytest.MonkeyPatch,
    results: ResultStore,
) -> None:
    monkeypatch.setenv("LODESTAR_MAX_TOKENS_PER_RUN", "2000")
    scripted_openai.play(well_behaved())
    cases = [c for c in agent_cases(demo_portfolio) if c.name == "risk"]
    runs = await run_all(temporal_client, task_queue, cases)
    for case, workflow_id, outcome in runs:
        assert isinstance(outcome, WorkflowFailureError), case.name
        assert "UsageLimitExceeded" in failure_text(outcome), failure_text(outcome)
        api_error = describe_failure(outcome)
        assert api_error.type == "UsageLimitExceeded" and "2000" in api_error.message, api_error
        answered, prompt_tokens, completion_tokens = delivered_usage(requests_of(scripted_openai, case))
        assert prompt_tokens + completion_tokens > 2000
        assert answered < 5, "the run stopped before its final answer"
        if case.label is not None:
            assert await results.get_result(case.label, workflow_id) is None


async def test_a_provider_string_is_built_on_the_worker_from_its_environment(
    temporal_client: Client,
    task_queue: str,
    scripted_openai: ScriptedOpenAIServer,
    demo_portfolio: Portfolio,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LODESTAR_MODEL", f"openai-chat:{scripted_openai.model_name}")
    monkeypatch.setenv("OPENAI_BASE_URL", scripted_openai.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", SCRIPTED_API_KEY)
    scripted_openai.play(well_behaved())
    cases = [c for c in agent_cases(demo_portfolio) if c.name == "risk"]
    runs = await run_all(temporal_client, task_queue, cases)
    for case, workflow_id, outcome in runs:
        if not isinstance(outcome, BaseModel):
            raise AssertionError(f"{case.name} failed: {failure_text(outcome)}")
        facts = outcome.model_dump()
        assert facts["model_name"] == f"openai-chat:{scripted_openai.model_name}"
        requests = requests_of(scripted_openai, case)
        assert usage_of(outcome).requests == len(requests) >= 4
        assert all(r.authorized for r in requests)
        assert SCRIPTED_API_KEY not in await history_text(temporal_client, workflow_id)
