"""Every agent on the Anthropic provider inside Temporal: `LODESTAR_MODEL=anthropic:<model>` with
`ANTHROPIC_BASE_URL` pointing at the scripted server's Messages API dialect (tests/agents/scripted_openai.py)
and the key in `ANTHROPIC_API_KEY`, for the in-process worker, on the real dev server and graph database.

The model string is all that crosses the wire; the worker builds pydantic-ai's AnthropicModel from its
environment when the model activity runs. The checks are those of test_provider_workflows.py, on the
Anthropic wire format: the usage the server delivered, no key in a history, the output validator's
feedback as an `is_error` tool_result, a 500 retried a bounded number of times and a 400 never.
"""

from __future__ import annotations

import json

import pytest
from pydantic import BaseModel
from temporalio.client import Client

from graph.portfolio import Portfolio
from graph.result_store import ResultStore
from tests.agents.scripted_openai import (
    OUTPUT_TOOL_NAME,
    UNKNOWN_ID,
    ScriptedOpenAIServer,
    cites_unknown_id,
    well_behaved,
)
from tests.conftest import SCRIPTED_API_KEY

from .provider_runs import (
    AgentCase,
    agent_cases,
    assert_client_error_is_sent_once,
    assert_server_error_is_retried_a_bounded_number_of_times,
    delivered_usage,
    failure_text,
    history_text,
    requests_of,
    risk_only,
    run_all,
    usage_of,
)

pytestmark = pytest.mark.integration


async def _assert_completed_on_anthropic(
    client: Client,
    server: ScriptedOpenAIServer,
    runs: list[tuple[AgentCase, str, BaseModel | BaseException]],
) -> None:
    assert server.messages_requests and not server.chat_requests, "only the Messages API was called"
    for case, workflow_id, outcome in runs:
        if not isinstance(outcome, BaseModel):
            raise AssertionError(f"{case.name} failed: {failure_text(outcome)}")
        requests = requests_of(server, case)
        usage = usage_of(outcome)
        assert (usage.requests, usage.input_tokens, usage.output_tokens) == delivered_usage(requests), (
            case.name
        )
        assert usage.requests == len(requests) >= 3, case.name
        assert usage.tool_calls >= 2, case.name
        facts = outcome.model_dump()
        assert facts["offline"] is False
        assert facts["model_name"] == f"anthropic:{server.model_name}"
        assert all(r.authorized and r.path.startswith("/v1/messages") for r in requests), case.name
        assert SCRIPTED_API_KEY not in json.dumps([r.headers for r in requests])
        assert SCRIPTED_API_KEY not in await history_text(client, workflow_id), f"{case.name}: key in history"


async def test_every_agent_completes_on_the_anthropic_provider_with_the_usage_the_server_reported(
    temporal_client: Client,
    task_queue: str,
    scripted_anthropic: ScriptedOpenAIServer,
    demo_portfolio: Portfolio,
) -> None:
    scripted_anthropic.play(well_behaved())
    runs = await run_all(temporal_client, task_queue, agent_cases(demo_portfolio))
    assert sorted(case.name for case, _, _ in runs) == ["insight", "risk", "roadmap", "scenario"]
    await _assert_completed_on_anthropic(temporal_client, scripted_anthropic, runs)
    for case, _workflow_id, _outcome in runs:
        requests = requests_of(scripted_anthropic, case)
        first = requests[0].body
        assert first["model"] == scripted_anthropic.model_name and not first.get("stream")
        assert {OUTPUT_TOOL_NAME, case.signature_tool} <= set(requests[0].tool_names)
        assert all("input_schema" in tool for tool in first["tools"])
        final = [
            block
            for r in requests[1:]
            for message in r.body["messages"]
            if message["role"] == "assistant"
            for block in message["content"]
            if block["type"] == "tool_use"
        ]
        assert final and all(isinstance(block["input"], dict) for block in final), case.name


async def test_an_unknown_cited_id_is_sent_back_as_an_error_tool_result_and_the_correction_accepted(
    temporal_client: Client,
    task_queue: str,
    scripted_anthropic: ScriptedOpenAIServer,
    demo_portfolio: Portfolio,
) -> None:
    scripted_anthropic.play(cites_unknown_id())
    runs = await run_all(temporal_client, task_queue, risk_only(demo_portfolio))
    await _assert_completed_on_anthropic(temporal_client, scripted_anthropic, runs)
    for case, _workflow_id, outcome in runs:
        last = requests_of(scripted_anthropic, case)[-1].body["messages"]
        feedback = [
            block
            for message in last
            if message["role"] == "user" and isinstance(message["content"], list)
            for block in message["content"]
            if block.get("type") == "tool_result" and UNKNOWN_ID in json.dumps(block.get("content"))
        ]
        assert len(feedback) == 1 and feedback[0]["is_error"] is True, case.name
        assert isinstance(outcome, BaseModel)
        assert UNKNOWN_ID not in outcome.model_dump_json()


async def test_an_anthropic_500_is_retried_a_bounded_number_of_times_then_fails_the_run(
    temporal_client: Client,
    task_queue: str,
    scripted_anthropic: ScriptedOpenAIServer,
    demo_portfolio: Portfolio,
    results: ResultStore,
) -> None:
    await assert_server_error_is_retried_a_bounded_number_of_times(
        temporal_client, task_queue, scripted_anthropic, demo_portfolio, results
    )


async def test_an_anthropic_400_is_not_retried(
    temporal_client: Client,
    task_queue: str,
    scripted_anthropic: ScriptedOpenAIServer,
    demo_portfolio: Portfolio,
) -> None:
    await assert_client_error_is_sent_once(temporal_client, task_queue, scripted_anthropic, demo_portfolio)
