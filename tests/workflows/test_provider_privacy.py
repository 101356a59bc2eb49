"""No personal data reaches a real model provider: every agent runs inside Temporal against the scripted
OpenAI-compatible server (tests/agents/scripted_openai.py) over a portfolio whose feedback names customers
and holds emails and phone numbers; not one recorded request holds a customer name, email or phone number.
The model answers with a pseudonym it saw; the run's outcome and stored report hold the customer's id.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator

import neo4j
import pytest
import pytest_asyncio
from temporalio.client import Client

from agents.privacy import CUSTOMER_TOKEN_PREFIX, customer_token
from graph.local_db import LocalGraphDatabase
from graph.portfolio import Portfolio
from graph.result_store import ResultStore
from graph.store import GraphStore
from graph.vocabulary import NodeLabel
from tests.agents.scripted_openai import (
    OUTPUT_TOOL_NAME,
    ChatRequest,
    Reply,
    Script,
    ScriptedOpenAIServer,
    _reply_with,  # pyright: ignore[reportPrivateUsage]
    planned_calls,
)
from tests.personal_data import personal_data, with_personal_feedback
from workflows import client as lodestar
from workflows.insight_payloads import InsightRunRequest
from workflows.payloads import RiskAssessmentOutcome, Stage

from .support import AS_OF, SEED, TRIALS, risk_request, roadmap_request, scenario_request, wait_for_stage

pytestmark = pytest.mark.integration

_TOKEN = re.compile(rf"{CUSTOMER_TOKEN_PREFIX}[0-9a-f]{{8}}")


def names_a_pseudonym() -> Script:
    """Well-behaved, and a final answer whose recommendation names the first customer pseudonym it saw."""

    def script(request: ChatRequest) -> Reply:
        calls = planned_calls(request)
        seen = _TOKEN.search(json.dumps(request.messages))
        if seen is not None:
            calls = [
                (name, {**args, "recommendation": f"{args['recommendation']} Call {seen.group(0)} first."})
                if name == OUTPUT_TOOL_NAME
                else (name, args)
                for name, args in calls
            ]
        return _reply_with(request, calls)

    return script


@pytest_asyncio.fixture(loop_scope="session")
async def private_store(
    graph_driver: neo4j.AsyncDriver, local_graph_database: LocalGraphDatabase, demo_portfolio: Portfolio
) -> AsyncIterator[tuple[GraphStore, Portfolio]]:
    store = GraphStore(graph_driver, local_graph_database.database)
    portfolio = with_personal_feedback(demo_portfolio)
    await store.clear()
    await store.import_portfolio(portfolio)
    yield store, portfolio
    await store.clear()  # the workflow tests' `demo_store` re-imports the demo portfolio


async def test_no_customer_name_email_or_phone_reaches_the_model(
    temporal_client: Client,
    private_store: tuple[GraphStore, Portfolio],
    scripted_openai: ScriptedOpenAIServer,
) -> None:
    store, portfolio = private_store
    scripted_openai.play(names_a_pseudonym())
    from tests.temporal_fixtures import running_worker

    async with running_worker(temporal_client, store) as queue:
        scenario = await lodestar.start_scenario_simulation(
            temporal_client, scenario_request(portfolio), task_queue=queue
        )
        risk = await lodestar.start_risk_assessment(temporal_client, risk_request(), task_queue=queue)
        roadmap = await lodestar.start_roadmap_drafting(temporal_client, roadmap_request(), task_queue=queue)
        insight = await lodestar.start_insight_digest(
            temporal_client, InsightRunRequest(as_of=AS_OF, trials=TRIALS, seed=SEED), task_queue=queue
        )
        await wait_for_stage(temporal_client, roadmap, Stage.AWAITING_REVIEW, within=120)
        await lodestar.approve_roadmap(temporal_client, roadmap, reviewer="Reviewer")
        outcomes = {
            run: await lodestar.get_result(temporal_client, run) for run in (scenario, risk, roadmap, insight)
        }

    texts = scripted_openai.request_texts()
    assert len(scripted_openai.chat_requests) >= 4 * 3, "every agent asked the model"
    offered = {name for r in scripted_openai.chat_requests for name in ChatRequest(r.body, 1, 1).tool_names}
    assert {"customer_feedback", "theme_feedback", "simulate_requested_scenarios"} <= offered
    secrets = personal_data(portfolio)
    leaked = sorted({secret for secret in secrets for text in texts if secret in text})
    assert not leaked, f"sent to the model: {leaked[:5]}"
    sent = "\n".join(texts)
    assert "fb-personal-" in sent and "[email]" in sent and "[phone]" in sent, "the feedback was read, masked"

    risk_outcome = outcomes[risk]
    assert isinstance(risk_outcome, RiskAssessmentOutcome)
    named = _TOKEN.findall(sent)
    assert named, "tool results carried pseudonyms"
    recommendation = risk_outcome.recommendation
    assert CUSTOMER_TOKEN_PREFIX not in recommendation, "the outcome holds ids, not pseudonyms"
    snapshot = risk_outcome.snapshot_id
    by_token = {customer_token(snapshot, c.id): c.id for c in portfolio.customers}
    called = re.search(r"Call (\S+) first\.", recommendation)
    assert called is not None and called.group(1) in by_token.values(), recommendation
    stored = await ResultStore(store).get_result(NodeLabel.RISK_ASSESSMENT, risk, with_report=True)
    assert stored is not None and stored.report_json is not None
    assert (
        CUSTOMER_TOKEN_PREFIX not in stored.report_json
        and f"Call {called.group(1)} first." in stored.report_json
    )
