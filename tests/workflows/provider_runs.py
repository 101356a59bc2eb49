"""Runs of every agent inside Temporal on the scripted model server (tests/agents/scripted_openai.py), in
either of its dialects: the agent cases, starting them concurrently, and reading what each run sent and
recorded. Shared by test_provider_workflows.py (OpenAI chat completions) and test_provider_anthropic.py
(the Anthropic Messages API)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from pydantic import BaseModel
from temporalio.client import Client, WorkflowFailureError

from agents.reports import UsageReport
from api.runs import describe_failure
from graph.portfolio import Portfolio
from graph.result_store import ResultStore
from graph.vocabulary import NodeLabel
from tests.agents.scripted_openai import RecordedRequest, ScriptedOpenAIServer, delivered_usage, server_error
from workflows import client as lodestar
from workflows.durable_agents import MODEL_RETRY
from workflows.payloads import Stage

from .support import eventually, risk_request, roadmap_request, scenario_request

__all__ = [
    "AgentCase",
    "agent_cases",
    "assert_client_error_is_sent_once",
    "assert_server_error_is_retried_a_bounded_number_of_times",
    "delivered_usage",
    "failure_text",
    "history_text",
    "requests_of",
    "risk_only",
    "run_all",
    "usage_of",
]


@dataclass(frozen=True)
class AgentCase:
    name: str
    signature_tool: str
    """A tool only this agent offers: tells its requests apart on the shared server."""
    label: NodeLabel | None
    start: Callable[[Client, str], Awaitable[str]]
    finish: Callable[[Client, str], Awaitable[BaseModel]]


async def _result(client: Client, workflow_id: str) -> BaseModel:
    return await lodestar.get_result(client, workflow_id)


async def _approved(client: Client, workflow_id: str) -> BaseModel:
    """The roadmap draft approved once it waits for review; a run that fails first raises its failure."""

    async def waiting_or_ended() -> Stage | None:
        stage = (await lodestar.get_progress(client, workflow_id)).stage
        return stage if stage in (Stage.AWAITING_REVIEW, Stage.FAILED, Stage.CANCELLED) else None

    if (
        await eventually(waiting_or_ended, within=240, what=f"{workflow_id} to draft")
        is not Stage.AWAITING_REVIEW
    ):
        return await lodestar.get_result(client, workflow_id)
    return await lodestar.approve_roadmap(client, workflow_id, reviewer="Reviewer")


def agent_cases(demo_portfolio: Portfolio) -> list[AgentCase]:
    cases = [
        AgentCase(
            "scenario",
            "simulate_requested_scenarios",
            NodeLabel.SCENARIO_ANALYSIS,
            lambda c, q: lodestar.start_scenario_simulation(
                c, scenario_request(demo_portfolio), task_queue=q
            ),
            _result,
        ),
        AgentCase(
            "roadmap",
            "draft_plan",
            NodeLabel.ROADMAP_VERSION,
            lambda c, q: lodestar.start_roadmap_drafting(c, roadmap_request(), task_queue=q),
            _approved,
        ),
        AgentCase(
            "risk",
            "assess_risks",
            NodeLabel.RISK_ASSESSMENT,
            lambda c, q: lodestar.start_risk_assessment(c, risk_request(), task_queue=q),
            _result,
        ),
    ]
    start_insight = getattr(lodestar, "start_insight_digest", None)
    if start_insight is not None:
        from workflows.insight_payloads import InsightRunRequest

        from .support import AS_OF, SEED, TRIALS

        cases.append(
            AgentCase(
                "insight",
                "insight_overview",
                None,
                lambda c, q: start_insight(
                    c, InsightRunRequest(as_of=AS_OF, trials=TRIALS, seed=SEED), task_queue=q
                ),
                _result,
            )
        )
    return cases


def requests_of(server: ScriptedOpenAIServer, case: AgentCase) -> list[RecordedRequest]:
    """The model requests (either dialect) of `case`'s agent: those offering its signature tool."""
    return [r for r in server.model_requests if case.signature_tool in r.tool_names]


async def history_text(client: Client, workflow_id: str) -> str:
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    return history.to_json()


async def run_all(
    client: Client, task_queue: str, cases: list[AgentCase]
) -> list[tuple[AgentCase, str, BaseModel | BaseException]]:
    async def one(case: AgentCase) -> tuple[AgentCase, str, BaseModel | BaseException]:
        workflow_id = await case.start(client, task_queue)
        try:
            return case, workflow_id, await case.finish(client, workflow_id)
        except WorkflowFailureError as error:
            return case, workflow_id, error

    return await asyncio.gather(*(one(case) for case in cases))


def usage_of(outcome: BaseModel) -> UsageReport:
    usage = getattr(outcome, "usage", None)
    assert isinstance(usage, UsageReport)
    return usage


def _causes(error: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None:
        chain.append(current)
        current = current.__cause__
    return chain


def failure_text(error: BaseException) -> str:
    return " | ".join(f"{type(e).__name__}: {e}" for e in _causes(error))


def risk_only(demo_portfolio: Portfolio) -> list[AgentCase]:
    return [c for c in agent_cases(demo_portfolio) if c.name == "risk"]


async def assert_server_error_is_retried_a_bounded_number_of_times(
    client: Client,
    task_queue: str,
    server: ScriptedOpenAIServer,
    demo_portfolio: Portfolio,
    results: ResultStore,
) -> None:
    """The risk run on a server that answers 500 (in its dialect) fails as `ModelProviderError` after
    `MODEL_RETRY.maximum_attempts` identical requests, and stores nothing."""
    server.play(server_error())
    for case, workflow_id, outcome in await run_all(client, task_queue, risk_only(demo_portfolio)):
        assert isinstance(outcome, WorkflowFailureError), case.name
        text = failure_text(outcome)
        assert "ModelServerError" in text or "status_code: 500" in text, text
        assert describe_failure(outcome).type == "ModelProviderError", text
        requests = requests_of(server, case)
        assert len(requests) == MODEL_RETRY.maximum_attempts, case.name
        assert all(r.status == 500 and r.body == requests[0].body for r in requests)
        assert case.label is not None and await results.get_result(case.label, workflow_id) is None


async def assert_client_error_is_sent_once(
    client: Client, task_queue: str, server: ScriptedOpenAIServer, demo_portfolio: Portfolio
) -> str:
    """The risk run on a server that answers 400 fails as `ModelProviderError` after one request; returns
    the failure's text for the dialect's own checks."""
    server.play(server_error(status=400))
    texts: list[str] = []
    for case, _workflow_id, outcome in await run_all(client, task_queue, risk_only(demo_portfolio)):
        assert isinstance(outcome, WorkflowFailureError), case.name
        text = failure_text(outcome)
        assert "ModelRequestRejectedError" in text or "status_code: 400" in text, text
        assert describe_failure(outcome).type == "ModelProviderError", text
        assert [r.status for r in requests_of(server, case)] == [400], "sent once"
        texts.append(text)
    return " ".join(texts)
