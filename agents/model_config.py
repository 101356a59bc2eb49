"""Which language model drives the agents: `LODESTAR_MODEL`, or the deterministic offline model.

`LODESTAR_MODEL` takes any pydantic-ai model string (`openai:gpt-4o`, `anthropic:claude-sonnet-4-5`,
`google-gla:gemini-2.5-pro`, `ollama:llama3.1`, ...), or the base URL of an OpenAI-compatible
server (`http://localhost:8000/v1`, with the model name in `LODESTAR_MODEL_NAME` and the key, if
any, in `LODESTAR_API_KEY`). Unset, empty or `offline` selects the offline model.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from pydantic_ai.models import Model, infer_model
from pydantic_ai.models.function import FunctionDef, FunctionModel

OFFLINE_MODEL_NAME = "lodestar-offline"
OFFLINE_DISCLAIMER = (
    "Generated without a language model: Lodestar's deterministic offline planner called the "
    "analysis tools in a fixed order and wrote this text from their results."
)


def model_spec(environ: Mapping[str, str] | None = None) -> str | None:
    """The configured model string, or None for the offline model."""
    value = (environ if environ is not None else os.environ).get("LODESTAR_MODEL", "").strip()
    return None if value in ("", "offline") else value


def build_model(
    spec: str | None, offline_plan: FunctionDef, environ: Mapping[str, str] | None = None
) -> Model:
    """The model for one agent: a real provider from `spec`, or `offline_plan` wrapped in a FunctionModel."""
    if spec is None:
        return FunctionModel(offline_plan, model_name=OFFLINE_MODEL_NAME)
    if spec.startswith(("http://", "https://")):
        from pydantic_ai.models.openai import OpenAIChatModel
        from pydantic_ai.providers.openai import OpenAIProvider

        env = environ if environ is not None else os.environ
        provider = OpenAIProvider(base_url=spec, api_key=env.get("LODESTAR_API_KEY") or "not-needed")
        return OpenAIChatModel(env.get("LODESTAR_MODEL_NAME", "default"), provider=provider)
    return infer_model(spec)


def is_offline(model: Model) -> bool:
    return model.model_name == OFFLINE_MODEL_NAME
