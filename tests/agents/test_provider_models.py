"""The provider path outside Temporal: how models are built from the environment, how provider errors are
classified, and the scripted OpenAI-compatible server itself (tests/agents/scripted_openai.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic_ai.exceptions import (
    ModelConnectionError,
    ModelHTTPError,
    ModelRateLimitError,
    ModelRequestRejectedError,
    ModelServerError,
)
from pydantic_ai.messages import ModelRequest, UserPromptPart
from pydantic_ai.models import ModelRequestParameters
from pydantic_ai.models.openai import OpenAIChatModel, OpenAIResponsesModel

from agents.analysis_agent import DEFAULT_USAGE_LIMITS
from agents.deps import AnalysisDeps
from agents.model_config import (
    ClientErrorsAreFinal,
    ModelConfigError,
    build_model,
    build_worker_model,
    max_tokens_per_run,
    model_spec,
    model_timeout_seconds,
    within_token_budget,
    workflow_stand_in_model,
)
from agents.reports import RiskAssessmentReport
from agents.risk_agent import RISK_AGENT
from tests.agents.scripted_openai import (
    UNKNOWN_ID,
    ScriptedOpenAIServer,
    cites_unknown_id,
    error_reply,
    well_behaved,
)
from tests.conftest import SCRIPTED_API_KEY, allow_loopback_model_requests

SCRIPTED_ENV = {"LODESTAR_MODEL_NAME": "scripted-model", "LODESTAR_API_KEY": SCRIPTED_API_KEY}


async def test_a_worker_model_leaves_retries_to_temporal_and_times_out_as_configured() -> None:
    async with build_worker_model(
        "http://127.0.0.1:9/v1", {**SCRIPTED_ENV, "LODESTAR_MODEL_TIMEOUT_SECONDS": "7.5"}
    ) as model:
        pass
    assert isinstance(model, ClientErrorsAreFinal)
    inner = model.wrapped
    assert isinstance(inner, OpenAIChatModel)
    assert inner.model_name == "scripted-model"
    assert inner.settings == {"timeout": 7.5, "max_retries": 0}
    assert (inner.base_url or "").rstrip("/") == "http://127.0.0.1:9/v1"


async def test_a_worker_model_from_a_provider_string_gets_the_same_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-the-worker-environment")
    async with build_worker_model("openai:gpt-4o-mini", {}) as model:
        pass
    assert isinstance(model, ClientErrorsAreFinal)
    assert model.wrapped.settings == {"timeout": 120.0, "max_retries": 0}
    assert model.model_name == "gpt-4o-mini"


async def test_the_workflow_stand_in_reads_no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-must-not-be-read")
    anthropic = workflow_stand_in_model("anthropic:claude-sonnet-4-5")
    async with anthropic:
        assert anthropic.model_name == "claude-sonnet-4-5"
    for spec in ("openai:gpt-4o-mini", "http://127.0.0.1:9/v1"):
        stand_in = workflow_stand_in_model(spec)
        async with stand_in:
            pass
        assert isinstance(stand_in, OpenAIChatModel | OpenAIResponsesModel)
        assert stand_in.client.api_key == "stand-in-never-used"


_STAND_INS_AFTER_PRELOAD = """
import sys
from agents.model_config import SDK_PROVIDERS, preload_provider_sdks, workflow_stand_in_model
specs = [f"{provider}:a-model" for provider in SDK_PROVIDERS] + ["http://127.0.0.1:9/v1"]
missing = [m for m in ("anthropic", "google.genai") if m not in sys.modules]
preload_provider_sdks()
before = set(sys.modules)
kinds = [type(workflow_stand_in_model(spec)).__name__ for spec in specs]
print(missing, sorted(set(sys.modules) - before), kinds)
"""


def test_after_the_preload_no_provider_stand_in_imports_anything() -> None:
    """A workflow task builds its model's stand-in; after a worker's preload that imports no module (an SDK
    import inside a workflow task can outlast Temporal's 2 s deadlock detection). Run in a fresh
    interpreter, so what this test process already imported cannot hide an import."""
    output = subprocess.run(
        [sys.executable, "-c", _STAND_INS_AFTER_PRELOAD],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    ).stdout
    assert output.strip() == (
        "['anthropic', 'google.genai'] [] ['OpenAIResponsesModel', 'OpenAIChatModel', 'AnthropicModel', "
        "'GoogleModel', 'OpenAIChatModel']"
    )


@pytest.mark.parametrize(
    ("configured", "read"),
    [
        ("", None),
        ("offline", None),
        (" anthropic:claude-sonnet-4-5 ", "anthropic:claude-sonnet-4-5"),
        ("google:gemini-2.5-pro", "google:gemini-2.5-pro"),
        ("ollama:llama3.1", "ollama:llama3.1"),
        ("http://127.0.0.1:8000/v1", "http://127.0.0.1:8000/v1"),
    ],
)
def test_the_model_string_is_read_as_configured(configured: str, read: str | None) -> None:
    assert model_spec({"LODESTAR_MODEL": configured}) == read


@pytest.mark.parametrize(
    ("configured", "says"),
    [
        ("google-gla:gemini-2.5-pro", "'google-gla' is not a pydantic-ai provider"),
        ("gpt-4o", "names no provider"),
    ],
)
def test_a_model_string_no_provider_can_build_is_a_clear_error(configured: str, says: str) -> None:
    with pytest.raises(ModelConfigError, match=f"^LODESTAR_MODEL='{configured}'.*{says}.*e.g. openai:gpt-4o"):
        model_spec({"LODESTAR_MODEL": configured})


@pytest.mark.parametrize("raw", ["0", "-1", "abc", "4000"])
def test_an_invalid_timeout_is_a_clear_error(raw: str) -> None:
    with pytest.raises(ModelConfigError, match="LODESTAR_MODEL_TIMEOUT_SECONDS"):
        model_timeout_seconds({"LODESTAR_MODEL_TIMEOUT_SECONDS": raw})


def test_the_token_budget_is_read_and_applied() -> None:
    assert max_tokens_per_run({}) is None
    assert max_tokens_per_run({"LODESTAR_MAX_TOKENS_PER_RUN": " 5000 "}) == 5000
    for raw in ("0", "1.5", "lots"):
        with pytest.raises(ModelConfigError, match="LODESTAR_MAX_TOKENS_PER_RUN"):
            max_tokens_per_run({"LODESTAR_MAX_TOKENS_PER_RUN": raw})
    assert within_token_budget(DEFAULT_USAGE_LIMITS, None) is DEFAULT_USAGE_LIMITS
    capped = within_token_budget(DEFAULT_USAGE_LIMITS, 5000)
    assert capped.total_tokens_limit == 5000
    assert capped.request_limit == DEFAULT_USAGE_LIMITS.request_limit
    assert within_token_budget(DEFAULT_USAGE_LIMITS, 10**9).total_tokens_limit == (
        DEFAULT_USAGE_LIMITS.total_tokens_limit
    )


async def test_the_guard_refuses_model_requests_beyond_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    allow_loopback_model_requests(monkeypatch)
    async with build_model("http://192.0.2.1:9/v1", RISK_AGENT.offline_plan, SCRIPTED_ENV) as model:
        with pytest.raises(Exception, match="only reach a model on loopback"):
            await model.request(
                [ModelRequest(parts=[UserPromptPart("hello")])], None, ModelRequestParameters()
            )


async def test_model_requests_stay_refused_without_the_scripted_server() -> None:
    async with build_model("http://127.0.0.1:9/v1", RISK_AGENT.offline_plan, SCRIPTED_ENV) as model:
        with pytest.raises(RuntimeError, match="ALLOW_MODEL_REQUESTS"):
            await model.request(
                [ModelRequest(parts=[UserPromptPart("hello")])], None, ModelRequestParameters()
            )


async def test_an_agent_runs_on_the_scripted_server_and_every_request_is_recorded(
    scripted_openai: ScriptedOpenAIServer, demo_deps: AnalysisDeps
) -> None:
    scripted_openai.play(well_behaved())
    async with build_model(scripted_openai.base_url, RISK_AGENT.offline_plan) as model:
        report = await RISK_AGENT.run(demo_deps, agent=RISK_AGENT.build(model))

    assert isinstance(report, RiskAssessmentReport)
    assert report.offline is False and report.model_name == "scripted-model"
    requests = scripted_openai.chat_requests
    assert [r.status for r in requests] == [200] * len(requests)
    assert (report.usage.requests, report.usage.input_tokens, report.usage.output_tokens) == (
        scripted_openai.delivered_usage()
    )
    assert all(r.authorized and "authorization" not in r.headers for r in requests)
    assert not any(SCRIPTED_API_KEY in text for text in scripted_openai.request_texts())
    called = [
        call["function"]["name"]
        for m in requests[-1].body["messages"]
        if m["role"] == "assistant"
        for call in m.get("tool_calls") or []
    ]
    assert called[:3] == ["portfolio_overview", "baseline_forecast", "assess_risks"]


async def test_the_output_validator_sends_an_unknown_id_back(
    scripted_openai: ScriptedOpenAIServer, demo_deps: AnalysisDeps
) -> None:
    scripted_openai.play(cites_unknown_id())
    async with build_model(scripted_openai.base_url, RISK_AGENT.offline_plan) as model:
        report = await RISK_AGENT.run(demo_deps, agent=RISK_AGENT.build(model))
    assert UNKNOWN_ID not in report.analysis.model_dump_json()
    last = scripted_openai.chat_requests[-1].body["messages"][-1]
    assert last["role"] == "tool" and UNKNOWN_ID in last["content"]


@pytest.mark.parametrize(
    ("status", "error_type"),
    [
        (400, ModelRequestRejectedError),
        (401, ModelRequestRejectedError),
        (413, ModelRequestRejectedError),
        (429, ModelRateLimitError),
        (500, ModelServerError),
    ],
)
async def test_worker_models_classify_provider_errors(
    scripted_openai: ScriptedOpenAIServer, status: int, error_type: type[Exception]
) -> None:
    scripted_openai.play(lambda _request: error_reply(status, "scripted failure", {"retry-after": "3"}))
    async with build_worker_model(scripted_openai.base_url) as model:
        with pytest.raises(error_type) as raised:
            await model.request(
                [ModelRequest(parts=[UserPromptPart("hello")])], None, ModelRequestParameters()
            )
    assert isinstance(raised.value, ModelHTTPError) and raised.value.status_code == status
    assert len(scripted_openai.chat_requests) == 1, "the SDK retries nothing"
    if status == 429:
        assert raised.value.retry_after == 3


# --- the Anthropic Messages dialect -----------------------------------------------------------------


async def test_the_guard_refuses_anthropic_requests_beyond_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    """The anthropic SDK sends through `httpx2.AsyncClient.send` too: the guard refuses before connecting
    (the SDK reports it as a connection error, caused by the guard's refusal)."""
    allow_loopback_model_requests(monkeypatch)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://192.0.2.1:9")
    monkeypatch.setenv("ANTHROPIC_API_KEY", SCRIPTED_API_KEY)
    async with build_worker_model("anthropic:scripted-model", {}) as model:
        with pytest.raises(ModelConnectionError) as raised:
            await model.request(
                [ModelRequest(parts=[UserPromptPart("hello")])], None, ModelRequestParameters()
            )
    refusals = [e for e in _chain(raised.value) if type(e) is RuntimeError]
    assert [str(e) for e in refusals] == ["tests may only reach a model on loopback, not 192.0.2.1"]


def _chain(error: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


async def test_an_agent_runs_on_the_anthropic_dialect_with_the_usage_the_server_reported(
    scripted_anthropic: ScriptedOpenAIServer, demo_deps: AnalysisDeps
) -> None:
    scripted_anthropic.play(cites_unknown_id())
    async with build_worker_model("anthropic:scripted-model", {}) as model:
        report = await RISK_AGENT.run(demo_deps, agent=RISK_AGENT.build(model))

    assert isinstance(report, RiskAssessmentReport)
    assert UNKNOWN_ID not in report.analysis.model_dump_json()
    requests = scripted_anthropic.messages_requests
    assert requests and not scripted_anthropic.chat_requests
    assert [r.status for r in requests] == [200] * len(requests)
    assert all(r.path.startswith("/v1/messages") and r.authorized for r in requests)
    assert all("x-api-key" not in r.headers for r in requests)
    assert not any(SCRIPTED_API_KEY in text for text in scripted_anthropic.request_texts())
    assert (report.usage.requests, report.usage.input_tokens, report.usage.output_tokens) == (
        scripted_anthropic.delivered_usage()
    )
    first = requests[0].body
    assert first["model"] == "scripted-model" and not first.get("stream")
    assert {"final_result", "assess_risks"} <= set(requests[0].tool_names)
    last = requests[-1].body["messages"]
    called = [
        b["name"] for m in last if m["role"] == "assistant" for b in m["content"] if b["type"] == "tool_use"
    ]
    assert called[:3] == ["portfolio_overview", "baseline_forecast", "assess_risks"]
    feedback = [
        b
        for m in last
        if m["role"] == "user" and isinstance(m["content"], list)
        for b in m["content"]
        if b.get("type") == "tool_result" and UNKNOWN_ID in json.dumps(b.get("content"))
    ]
    assert len(feedback) == 1 and feedback[0]["is_error"] is True


@pytest.mark.parametrize(
    ("status", "error_type", "anthropic_type"),
    [
        (400, ModelRequestRejectedError, "invalid_request_error"),
        (413, ModelRequestRejectedError, "request_too_large"),
        (429, ModelRateLimitError, "rate_limit_error"),
        (500, ModelServerError, "api_error"),
    ],
)
async def test_anthropic_errors_come_in_anthropic_s_shape_and_are_classified(
    scripted_anthropic: ScriptedOpenAIServer, status: int, error_type: type[Exception], anthropic_type: str
) -> None:
    scripted_anthropic.play(lambda _request: error_reply(status, "scripted failure", {"retry-after": "3"}))
    async with build_worker_model("anthropic:scripted-model", {}) as model:
        with pytest.raises(error_type) as raised:
            await model.request(
                [ModelRequest(parts=[UserPromptPart("hello")])], None, ModelRequestParameters()
            )
    assert isinstance(raised.value, ModelHTTPError) and raised.value.status_code == status
    assert len(scripted_anthropic.messages_requests) == 1, "the SDK retries nothing"
    assert raised.value.body == {
        "type": "error",
        "error": {"type": anthropic_type, "message": "scripted failure"},
    }
    if status == 429:
        assert raised.value.retry_after == 3


# --- the Gemini generateContent dialect ---------------------------------------------------------------


async def test_the_guard_refuses_google_requests_beyond_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    """google-genai sends through the `httpx2.AsyncClient` pydantic-ai's provider gives it (its `request` calls
    `send`): the guard refuses before connecting, and nothing reaches the (unroutable) host."""
    allow_loopback_model_requests(monkeypatch)
    monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", "http://192.0.2.1:9")
    monkeypatch.setenv("GOOGLE_API_KEY", SCRIPTED_API_KEY)
    async with build_worker_model("google:scripted-model", {}) as model:
        with pytest.raises(Exception) as raised:
            await model.request(
                [ModelRequest(parts=[UserPromptPart("hello")])], None, ModelRequestParameters()
            )
    refusals = [e for e in _chain(raised.value) if type(e) is RuntimeError]
    assert [str(e) for e in refusals] == ["tests may only reach a model on loopback, not 192.0.2.1"]


async def test_an_agent_runs_on_the_gemini_dialect_with_the_usage_the_server_reported(
    scripted_google: ScriptedOpenAIServer, demo_deps: AnalysisDeps
) -> None:
    scripted_google.play(cites_unknown_id())
    async with build_worker_model("google:scripted-model", {}) as model:
        report = await RISK_AGENT.run(demo_deps, agent=RISK_AGENT.build(model))

    assert isinstance(report, RiskAssessmentReport)
    assert report.offline is False
    assert UNKNOWN_ID not in report.analysis.model_dump_json()
    requests = scripted_google.gemini_requests
    assert requests and not scripted_google.chat_requests and not scripted_google.messages_requests
    assert [r.status for r in requests] == [200] * len(requests)
    assert all(r.path == "/v1beta/models/scripted-model:generateContent" for r in requests)
    assert all(r.authorized and "x-goog-api-key" not in r.headers for r in requests)
    assert not any(SCRIPTED_API_KEY in text for text in scripted_google.request_texts())
    assert (report.usage.requests, report.usage.input_tokens, report.usage.output_tokens) == (
        scripted_google.delivered_usage()
    )
    assert report.usage.requests == len(requests) >= 4
    assert {"final_result", "assess_risks"} <= set(requests[0].tool_names)
    assert requests[0].body["systemInstruction"]["parts"]
    contents = requests[-1].body["contents"]
    called = [
        p["functionCall"]["name"]
        for c in contents
        if c["role"] == "model"
        for p in c["parts"]
        if "functionCall" in p
    ]
    assert called[:3] == ["portfolio_overview", "baseline_forecast", "assess_risks"]
    feedback = [
        p["functionResponse"]
        for c in contents
        if c["role"] == "user"
        for p in c["parts"]
        if "functionResponse" in p and UNKNOWN_ID in json.dumps(p["functionResponse"])
    ]
    assert len(feedback) == 1 and feedback[0]["name"] == "final_result"
    assert set(feedback[0]["response"]) == {"error"}, "sent back on Gemini's error channel"


@pytest.mark.parametrize(
    ("status", "error_type", "google_status"),
    [
        (400, ModelRequestRejectedError, "INVALID_ARGUMENT"),
        (429, ModelRateLimitError, "RESOURCE_EXHAUSTED"),
        (500, ModelServerError, "INTERNAL"),
    ],
)
async def test_google_errors_come_in_google_s_shape_and_are_classified(
    scripted_google: ScriptedOpenAIServer, status: int, error_type: type[Exception], google_status: str
) -> None:
    scripted_google.play(lambda _request: error_reply(status, "scripted failure", {"retry-after": "3"}))
    async with build_worker_model("google:scripted-model", {}) as model:
        with pytest.raises(error_type) as raised:
            await model.request(
                [ModelRequest(parts=[UserPromptPart("hello")])], None, ModelRequestParameters()
            )
    assert isinstance(raised.value, ModelHTTPError) and raised.value.status_code == status
    assert len(scripted_google.gemini_requests) == 1, "the SDK retries nothing"
    [request] = scripted_google.gemini_requests
    assert request.status == status and request.usage is None
    error: dict[str, object] = {"code": status, "message": "scripted failure", "status": google_status}
    if status == 429:  # Gemini says how long to wait in a google.rpc.RetryInfo detail
        error["details"] = [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "3s"}]
        assert raised.value.retry_after == 3
    assert raised.value.body == {"error": error}


@pytest.mark.parametrize(
    "spec",
    [
        "openai:gpt-4o-mini",
        "anthropic:claude-sonnet-4-5",
        "google:gemini-2.5-pro",
    ],
)
async def test_dropping_a_workflow_stand_in_schedules_nothing_on_the_running_loop(spec: str) -> None:
    """A workflow builds and drops its model's stand-in inside its own event loop (Temporal's), so dropping
    one must leave that loop alone: no task may be scheduled by it (here, on the test's running loop)."""
    import asyncio
    import gc

    earlier = asyncio.all_tasks()
    gc.collect()  # what earlier tests left to the collector (their Google clients schedule aclose() too)
    await asyncio.gather(*(asyncio.all_tasks() - earlier))
    before = asyncio.all_tasks()
    stand_in = workflow_stand_in_model(spec)
    del stand_in
    gc.collect()
    scheduled = asyncio.all_tasks() - before
    names = sorted(getattr(task.get_coro(), "__qualname__", "?") for task in scheduled)
    await asyncio.gather(*scheduled)  # let what was scheduled finish here, not warn at teardown
    assert names == [], f"dropping the {spec} stand-in scheduled {names}"
