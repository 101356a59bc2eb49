"""The three agents made durable: built once, at import, with Temporal durability.

Inside a workflow every model request and every tool call of these agents runs as a Temporal activity
(with the timeouts and retry policies below); outside a workflow they behave like the plain agents.
Agent names and toolset ids are part of the activity names, so they are durable contracts:
`agent__lodestar_scenario__model_request`, `agent__lodestar_scenario__toolset__scenario_tools__call_tool`,
and the same for `lodestar_roadmap` / `roadmap_tools` and `lodestar_risk` / `risk_tools`.

Each agent's default model is the deterministic offline planner, also registered under the key
`offline`. A run picks its model with `model=`: that key, a pydantic-ai model string such as
`openai:gpt-4o`, or an OpenAI-compatible base URL. The `ResolveModelId` capability of
`agents.model_config.configured_model_resolver` builds it from the worker's environment (keys included)
when the model activity runs, and gives the workflow a stand-in that never sends a request. Model
instances and keys never cross the wire, and nothing here reads the environment.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import TypeVar

from pydantic_ai import Agent
from pydantic_ai.capabilities import AbstractCapability
from pydantic_ai.durable_exec.temporal import TemporalDurability
from pydantic_ai.models import Model
from pydantic_ai.models.function import FunctionDef
from temporalio.common import RetryPolicy
from temporalio.workflow import ActivityConfig

from agents import risk_agent, roadmap_agent, scenario_agent
from agents.deps import AnalysisDeps
from agents.model_config import build_model, configured_model_resolver
from agents.reports import RiskAnalysis, RoadmapAnalysis, ScenarioAnalysis
from workflows.payloads import OFFLINE_MODEL_KEY

OutputT = TypeVar("OutputT")

MODEL_REQUEST_TIMEOUT = timedelta(minutes=3)
TOOL_CALL_TIMEOUT = timedelta(minutes=10)
"""A tool may run an engine (Monte Carlo, MILP) itself when the precompute ran on another worker."""

MODEL_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=4,
)
"""A failing provider is tried 4 times over about 7 s plus the attempts themselves, then the run fails.
A 429's Retry-After sets the next wait (up to `maximum_interval`); a rejected request (any 4xx but 408,
409, 425 and 429; see `agents.model_config.ClientErrorsAreFinal`), an exhausted quota and an oversized
payload are never retried. The HTTP timeout of one attempt is the worker's `LODESTAR_MODEL_TIMEOUT_SECONDS`
(default 120 s, inside `MODEL_REQUEST_TIMEOUT`)."""
TOOL_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=3,
)


def _durable(
    build: Callable[[Model | None, Sequence[AbstractCapability[AnalysisDeps]]], Agent[AnalysisDeps, OutputT]],
    offline_plan: FunctionDef,
    toolset_id: str,
) -> Agent[AnalysisDeps, OutputT]:
    offline = build_model(None, offline_plan)
    durability = TemporalDurability[AnalysisDeps](
        models={OFFLINE_MODEL_KEY: offline},
        activity_config=ActivityConfig(start_to_close_timeout=timedelta(minutes=2), retry_policy=TOOL_RETRY),
        model_activity_config=ActivityConfig(
            start_to_close_timeout=MODEL_REQUEST_TIMEOUT,
            heartbeat_timeout=timedelta(seconds=60),
            retry_policy=MODEL_RETRY,
        ),
        toolset_activity_config={
            toolset_id: ActivityConfig(start_to_close_timeout=TOOL_CALL_TIMEOUT, retry_policy=TOOL_RETRY)
        },
    )
    return build(offline, [configured_model_resolver(), durability])


scenario_agent_durable: Agent[AnalysisDeps, ScenarioAnalysis] = _durable(
    scenario_agent.build_scenario_agent, scenario_agent.OFFLINE_PLAN, scenario_agent.SCENARIO_TOOLSET_ID
)
roadmap_agent_durable: Agent[AnalysisDeps, RoadmapAnalysis] = _durable(
    roadmap_agent.build_roadmap_agent, roadmap_agent.OFFLINE_PLAN, roadmap_agent.ROADMAP_TOOLSET_ID
)
risk_agent_durable: Agent[AnalysisDeps, RiskAnalysis] = _durable(
    risk_agent.build_risk_agent, risk_agent.OFFLINE_PLAN, risk_agent.RISK_TOOLSET_ID
)
