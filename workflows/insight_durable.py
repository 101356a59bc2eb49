"""The insight agent made durable, like `workflows.durable_agents`: its model requests and tool calls run as
activities named `agent__lodestar_insight__model_request` and
`agent__lodestar_insight__toolset__insight_tools__call_tool` (durable contracts)."""

from __future__ import annotations

from datetime import timedelta

from pydantic_ai import Agent
from pydantic_ai.durable_exec.temporal import TemporalDurability
from temporalio.workflow import ActivityConfig

from agents import insight_agent
from agents.insight_runs import InsightDeps, InsightFindings
from agents.model_config import build_model, configured_model_resolver
from workflows.durable_agents import MODEL_REQUEST_TIMEOUT, MODEL_RETRY, TOOL_CALL_TIMEOUT, TOOL_RETRY
from workflows.payloads import OFFLINE_MODEL_KEY


def _durable_insight_agent() -> Agent[InsightDeps, InsightFindings]:
    offline = build_model(None, insight_agent.OFFLINE_PLAN)
    durability = TemporalDurability[InsightDeps](
        models={OFFLINE_MODEL_KEY: offline},
        activity_config=ActivityConfig(start_to_close_timeout=timedelta(minutes=2), retry_policy=TOOL_RETRY),
        model_activity_config=ActivityConfig(
            start_to_close_timeout=MODEL_REQUEST_TIMEOUT,
            heartbeat_timeout=timedelta(seconds=60),
            retry_policy=MODEL_RETRY,
        ),
        toolset_activity_config={
            insight_agent.INSIGHT_TOOLSET_ID: ActivityConfig(
                start_to_close_timeout=TOOL_CALL_TIMEOUT, retry_policy=TOOL_RETRY
            )
        },
    )
    return insight_agent.build_insight_agent(offline, [configured_model_resolver(), durability])


insight_agent_durable: Agent[InsightDeps, InsightFindings] = _durable_insight_agent()
