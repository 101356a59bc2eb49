"""Every agent on the Google (Gemini API) provider inside Temporal: `LODESTAR_MODEL=google:<model>` with
`GOOGLE_GEMINI_BASE_URL` pointing at the scripted server's generateContent dialect
(tests/agents/scripted_openai.py) and the key in `GOOGLE_API_KEY`, for the in-process worker, on the real dev
server and graph database.

The model string is all that crosses the wire; the worker builds pydantic-ai's GoogleModel (google-genai, over
the provider's httpx2 client) from its environment when the model activity runs. The checks are those of
test_provider_anthropic.py, on Gemini's wire format: the usage the server delivered (`usageMetadata`), no key
in a history, the output validator's feedback as a functionResponse on Gemini's error channel
(`{"error": ...}`), a 500 (`INTERNAL`) retried a bounded number of times and a 400 (`INVALID_ARGUMENT`) never.
"""

from __future__ import annotations

import json
from typing import Any

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


def _route(server: ScriptedOpenAIServer) -> str:
    return f"/v1beta/models/{server.model_name}:generateContent"


def _parts(request_body: dict[str, Any], role: str, kind: str) -> list[dict[str, Any]]:
    """The `kind` parts (functionCall, functionResponse, ...) of the `role` turns of a request's contents."""
    contents = request_body["contents"]
    assert isinstance(contents, list)
    return [
        part[kind]
        for content in contents
        if content["role"] == role
        for part in content["parts"]
        if kind in part
    ]


async def _assert_completed_on_google(
    client: Client,
    server: ScriptedOpenAIServer,
    runs: list[tuple[AgentCase, str, BaseModel | BaseException]],
) -> None:
    assert server.gemini_requests, "the Gemini API was called"
    assert not server.chat_requests and not server.messages_requests, "only the Gemini API was called"
    for case, workflow_id, outcome in runs:
        if not isinstance(outcome, BaseModel):
            raise AssertionError(f"{case.name} failed: {failure_text(outcome)}")
        requests = requests_of(server, case)
        usage = usage_of(outcome)
        assert (usage.requests, usage.input_tokens, usage.output_tokens) == delivered_usage(requests), (
            case.name
        )
        assert usage.requests == len(requests) >= 3, case.name
        assert usage.input_tokens > 0 and usage.output_tokens > 0, case.name
        assert usage.tool_calls >= 2, case.name
        facts = outcome.model_dump()
        assert facts["offline"] is False
        assert facts["model_name"] == f"google:{server.model_name}"
        assert all(r.authorized and r.path == _route(server) for r in requests), case.name
        assert SCRIPTED_API_KEY not in json.dumps([r.headers for r in requests])
        assert SCRIPTED_API_KEY not in await history_text(client, workflow_id), f"{case.name}: key in history"


async def test_every_agent_completes_on_the_google_provider_with_the_usage_the_server_reported(
    temporal_client: Client,
    task_queue: str,
    scripted_google: ScriptedOpenAIServer,
    demo_portfolio: Portfolio,
) -> None:
    scripted_google.play(well_behaved())
    runs = await run_all(temporal_client, task_queue, agent_cases(demo_portfolio))
    assert sorted(case.name for case, _, _ in runs) == ["insight", "risk", "roadmap", "scenario"]
    await _assert_completed_on_google(temporal_client, scripted_google, runs)
    for case, _workflow_id, _outcome in runs:
        requests = requests_of(scripted_google, case)
        first = requests[0].body
        assert first["systemInstruction"]["parts"], case.name
        assert {OUTPUT_TOOL_NAME, case.signature_tool} <= set(requests[0].tool_names)
        calls = [call for r in requests[1:] for call in _parts(r.body, "model", "functionCall")]
        responses = [result for r in requests[1:] for result in _parts(r.body, "user", "functionResponse")]
        assert calls and all(isinstance(call["args"], dict) for call in calls), case.name
        assert {result["name"] for result in responses} <= {call["name"] for call in calls}, case.name
        assert all(set(result["response"]) != {"error"} for result in responses), f"{case.name}: no retries"


async def test_an_unknown_cited_id_is_sent_back_as_a_function_response_error_and_the_correction_accepted(
    temporal_client: Client,
    task_queue: str,
    scripted_google: ScriptedOpenAIServer,
    demo_portfolio: Portfolio,
) -> None:
    scripted_google.play(cites_unknown_id())
    runs = await run_all(temporal_client, task_queue, risk_only(demo_portfolio))
    await _assert_completed_on_google(temporal_client, scripted_google, runs)
    for case, _workflow_id, outcome in runs:
        last = requests_of(scripted_google, case)[-1].body
        feedback = [
            result
            for result in _parts(last, "user", "functionResponse")
            if UNKNOWN_ID in json.dumps(result.get("response"))
        ]
        assert len(feedback) == 1, case.name
        assert feedback[0]["name"] == OUTPUT_TOOL_NAME
        response = feedback[0]["response"]
        assert isinstance(response, dict) and set(response) == {"error"}, "Gemini's error channel"
        assert isinstance(outcome, BaseModel)
        assert UNKNOWN_ID not in outcome.model_dump_json()


async def test_a_google_500_is_retried_a_bounded_number_of_times_then_fails_the_run(
    temporal_client: Client,
    task_queue: str,
    scripted_google: ScriptedOpenAIServer,
    demo_portfolio: Portfolio,
    results: ResultStore,
) -> None:
    await assert_server_error_is_retried_a_bounded_number_of_times(
        temporal_client, task_queue, scripted_google, demo_portfolio, results
    )


async def test_a_google_400_is_not_retried(
    temporal_client: Client,
    task_queue: str,
    scripted_google: ScriptedOpenAIServer,
    demo_portfolio: Portfolio,
) -> None:
    text = await assert_client_error_is_sent_once(
        temporal_client, task_queue, scripted_google, demo_portfolio
    )
    assert "INVALID_ARGUMENT" in text, text
