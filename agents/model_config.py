"""Which language model drives the agents: `LODESTAR_MODEL`, or the deterministic offline model.

`LODESTAR_MODEL` takes any pydantic-ai model string (`openai:gpt-4o`, `anthropic:claude-sonnet-4-5`,
`google:gemini-2.5-pro`, `ollama:llama3.1`, ...), whose provider reads its own key variable
(`OPENAI_API_KEY`, ...), or the base URL of an OpenAI-compatible server (`http://localhost:8000/v1`, with
the model name in `LODESTAR_MODEL_NAME` and the key, if any, in `LODESTAR_API_KEY`). Unset, empty or
`offline` selects the offline model.

Inside Temporal workflows only the model string crosses the wire (it is in the workflow's request, and
so in its history); keys never do. The model-request activity builds the model on the worker from the
worker's environment (`build_worker_model`, through the `ResolveModelId` capability of
`configured_model_resolver`), with the SDK's own retries off, because Temporal retries the activity,
and an HTTP timeout of `LODESTAR_MODEL_TIMEOUT_SECONDS` (default 120 s, inside the activity's own
start-to-close timeout). The workflow side only sees a stand-in built without the environment
(`workflow_stand_in_model`): it never sends a request. Building one imports its provider's SDK, which
must not happen inside a workflow task (the Anthropic SDK takes 2 s or more to import in the sandbox, past
Temporal's deadlock detection), so workers import the SDKs first (`preload_provider_sdks`).

`LODESTAR_MAX_TOKENS_PER_RUN` (read by whoever starts a run) caps the tokens, in and out, of one run.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from typing import Any

from pydantic_ai.capabilities import ResolveModelId
from pydantic_ai.exceptions import ModelHTTPError, ModelQuotaExceededError, ModelRequestRejectedError
from pydantic_ai.messages import ModelMessage, ModelResponse
from pydantic_ai.models import (
    Model,
    ModelRequestParameters,
    ModelResolutionContext,
    infer_model,
    parse_model_id,
)
from pydantic_ai.models.function import FunctionDef, FunctionModel
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.models.wrapper import WrapperModel
from pydantic_ai.providers import infer_provider_class
from pydantic_ai.providers.openai import OpenAIProvider
from pydantic_ai.settings import ModelSettings, merge_model_settings
from pydantic_ai.usage import UsageLimits
from temporalio import workflow

OFFLINE_MODEL_NAME = "lodestar-offline"
OFFLINE_MODEL_KEY = "offline"
OFFLINE_DISCLAIMER = (
    "Generated without a language model: Lodestar's deterministic offline planner called the "
    "analysis tools in a fixed order and wrote this text from their results."
)

MODEL_ENV = "LODESTAR_MODEL"
MODEL_NAME_ENV = "LODESTAR_MODEL_NAME"
API_KEY_ENV = "LODESTAR_API_KEY"
MODEL_TIMEOUT_ENV = "LODESTAR_MODEL_TIMEOUT_SECONDS"
MAX_TOKENS_ENV = "LODESTAR_MAX_TOKENS_PER_RUN"
DEFAULT_MODEL_TIMEOUT_SECONDS = 120.0
"""One model request's HTTP timeout on a worker; below the model activity's start-to-close timeout."""
DEFAULT_OPENAI_COMPATIBLE_NAME = "default"
STAND_IN_KEY = "stand-in-never-used"
NO_KEY = "not-needed"
"""What an OpenAI-compatible server without authentication is sent as a key (the client needs one)."""


class ModelConfigError(ValueError):
    """The model configuration (`LODESTAR_*` variables) is invalid."""


def _env(environ: Mapping[str, str] | None) -> Mapping[str, str]:
    return environ if environ is not None else os.environ


def model_spec(environ: Mapping[str, str] | None = None) -> str | None:
    """The configured model string, or None for the offline model; `ModelConfigError` when it names no
    provider this installation can build (checked here, so a typo fails where it is read, not in a run)."""
    value = _env(environ).get(MODEL_ENV, "").strip()
    if value in ("", OFFLINE_MODEL_KEY):
        return None
    if not is_base_url(value):
        _check_provider(value)
    return value


def _check_provider(spec: str) -> None:
    provider_name, _model_name = parse_model_id(spec)
    usage = (
        "give provider:model (e.g. openai:gpt-4o, anthropic:claude-sonnet-4-5, google:gemini-2.5-pro, "
        "ollama:llama3.1), an OpenAI-compatible base URL, or offline"
    )
    if provider_name is None:
        raise ModelConfigError(f"{MODEL_ENV}={spec!r} names no provider: {usage}")
    try:
        infer_provider_class(provider_name)
    except ValueError as error:
        raise ModelConfigError(
            f"{MODEL_ENV}={spec!r}: {provider_name!r} is not a pydantic-ai provider; {usage}"
        ) from error
    except ImportError as error:
        raise ModelConfigError(
            f"{MODEL_ENV}={spec!r}: the SDK of provider {provider_name!r} is not installed ({error})"
        ) from error


def is_base_url(spec: str) -> bool:
    return spec.startswith(("http://", "https://"))


def max_tokens_per_run(environ: Mapping[str, str] | None = None) -> int | None:
    """`LODESTAR_MAX_TOKENS_PER_RUN` as a positive integer, or None when unset or blank."""
    raw = _env(environ).get(MAX_TOKENS_ENV, "").strip()
    if not raw:
        return None
    if not raw.isdigit() or int(raw) < 1:
        raise ModelConfigError(f"{MAX_TOKENS_ENV} must be a positive whole number of tokens, got {raw!r}")
    return int(raw)


def within_token_budget(limits: UsageLimits, max_tokens: int | None) -> UsageLimits:
    """`limits` with at most `max_tokens` tokens in and out in all (None: `limits` itself)."""
    if max_tokens is None:
        return limits
    total = limits.total_tokens_limit
    return replace(limits, total_tokens_limit=max_tokens if total is None else min(total, max_tokens))


def model_timeout_seconds(environ: Mapping[str, str] | None = None) -> float:
    raw = _env(environ).get(MODEL_TIMEOUT_ENV, "").strip()
    if not raw:
        return DEFAULT_MODEL_TIMEOUT_SECONDS
    try:
        seconds = float(raw)
    except ValueError:
        seconds = math.nan
    if not (0 < seconds <= 3600):
        raise ModelConfigError(f"{MODEL_TIMEOUT_ENV} must be a number of seconds in (0, 3600], got {raw!r}")
    return seconds


def _openai_compatible(
    base_url: str, model_name: str, api_key: str, settings: ModelSettings | None = None
) -> Model:
    provider = OpenAIProvider(base_url=base_url, api_key=api_key)
    return OpenAIChatModel(model_name, provider=provider, settings=settings)


def build_model(
    spec: str | None, offline_plan: FunctionDef, environ: Mapping[str, str] | None = None
) -> Model:
    """The model for one agent run in this process: a real provider from `spec` (configured from
    `environ`), or `offline_plan` wrapped in a FunctionModel."""
    if spec is None:
        return FunctionModel(offline_plan, model_name=OFFLINE_MODEL_NAME)
    env = _env(environ)
    if is_base_url(spec):
        return _openai_compatible(
            spec,
            env.get(MODEL_NAME_ENV) or DEFAULT_OPENAI_COMPATIBLE_NAME,
            env.get(API_KEY_ENV) or NO_KEY,
            ModelSettings(timeout=model_timeout_seconds(env)),
        )
    return infer_model(spec)


RETRYABLE_CLIENT_STATUSES = frozenset({408, 409, 425, 429})
"""4xx answers another attempt may fix (timeout, conflict, too early, rate limit); every other 4xx is final."""


class ClientErrorsAreFinal(WrapperModel):
    """Raises an HTTP 4xx answer that pydantic-ai leaves uncategorised (413 payload too large, ...) as a
    `ModelRequestRejectedError`, which the model activity does not retry (`RETRYABLE_CLIENT_STATUSES` aside)."""

    async def request(
        self,
        messages: list[ModelMessage],
        model_settings: ModelSettings | None,
        model_request_parameters: ModelRequestParameters,
    ) -> ModelResponse:
        try:
            return await super().request(messages, model_settings, model_request_parameters)
        except ModelHTTPError as error:
            final = (
                400 <= error.status_code < 500
                and error.status_code not in RETRYABLE_CLIENT_STATUSES
                and not isinstance(error, ModelRequestRejectedError | ModelQuotaExceededError)
            )
            if not final:
                raise
            raise ModelHTTPError.for_category(
                ModelRequestRejectedError,
                status_code=error.status_code,
                model_name=error.model_name,
                body=error.body,
            ) from error


def build_worker_model(spec: str, environ: Mapping[str, str] | None = None) -> Model:
    """The model a model-request activity sends `spec`'s request with, built from the worker's environment:
    the SDK retries nothing (Temporal retries the activity, never a final 4xx: `ClientErrorsAreFinal`) and
    times out after `LODESTAR_MODEL_TIMEOUT_SECONDS`."""
    env = _env(environ)
    settings = ModelSettings(timeout=model_timeout_seconds(env), max_retries=0)
    if is_base_url(spec):
        model = _openai_compatible(
            spec,
            env.get(MODEL_NAME_ENV) or DEFAULT_OPENAI_COMPATIBLE_NAME,
            env.get(API_KEY_ENV) or NO_KEY,
            settings,
        )
    else:
        model = infer_model(spec)
        # infer_model takes no settings; a model's own settings are its defaults for every request.
        model._settings = merge_model_settings(model.settings, settings)  # pyright: ignore[reportPrivateUsage]
    return ClientErrorsAreFinal(model)


_STAND_IN_PROVIDERS: dict[str, Any] = {}
"""The stand-ins' providers by provider name or base URL, built once per process and never dropped: a
provider freed inside a workflow task frees its SDK client on the workflow's event loop, and google-genai's
client schedules its own closing there (`AsyncClient.__del__`), which fails while Temporal evicts the
workflow. `preload_provider_sdks` builds those of `SDK_PROVIDERS` before any workflow runs."""


def _stand_in_provider(key: str, build: Callable[[], Any]) -> Any:
    provider = _STAND_IN_PROVIDERS.get(key)
    if provider is None:
        provider = _STAND_IN_PROVIDERS.setdefault(key, build())
    return provider


def _stand_in_openai_compatible(base_url: str, model_name: str) -> Model:
    provider = _stand_in_provider(base_url, lambda: OpenAIProvider(base_url=base_url, api_key=STAND_IN_KEY))
    return OpenAIChatModel(model_name, provider=provider)


def workflow_stand_in_model(spec: str) -> Model:
    """What the workflow side resolves `spec` to: a model of the same kind, built without reading the
    environment and never sent a request (requests run as activities, on a model `build_worker_model`
    builds). Its key is a placeholder: the workflow must not hold the real one."""
    if is_base_url(spec):
        return _stand_in_openai_compatible(spec, DEFAULT_OPENAI_COMPATIBLE_NAME)

    def build(provider_name: str) -> Any:
        provider_class: Any = infer_provider_class(provider_name)
        try:
            return provider_class(api_key=STAND_IN_KEY)
        except TypeError:
            return provider_class()

    try:
        return infer_model(spec, provider_factory=lambda name: _stand_in_provider(name, lambda: build(name)))
    except Exception:
        # A provider whose SDK cannot be loaded or built here (in the sandbox) still gets a stand-in: the
        # workflow only needs a model object; the worker builds the real one.
        return _stand_in_openai_compatible("http://stand-in.invalid/v1", spec.partition(":")[2] or spec)


SDK_PROVIDERS: tuple[str, ...] = ("openai", "openai-chat", "anthropic", "google")
"""The providers, one per kind of model, whose SDKs Lodestar's dependencies install (pydantic-ai-slim's
extras); `openai-chat` is also the kind of an OpenAI-compatible base URL's model."""


def preload_provider_sdks(specs: Iterable[str] = ()) -> None:
    """Import, outside any workflow, what building the stand-in of a run's model needs: the SDK of every
    provider in `SDK_PROVIDERS` and of each of `specs` (e.g. the worker's own `LODESTAR_MODEL`).

    A run may name any model, and the workflow task that first builds a provider's stand-in would otherwise
    import its SDK itself: the Anthropic SDK takes 2 s or more inside the sandbox, and Temporal's deadlock
    detection interrupts a workflow task after 2 s, possibly in the middle of that import.
    """
    for spec in (*(f"{provider}:preload" for provider in SDK_PROVIDERS), *specs):
        workflow_stand_in_model(spec)


def resolve_configured_model(_ctx: ModelResolutionContext[Any], model_id: str) -> Model | None:
    """`ResolveModelId` resolver for durable agents: the offline key is left to the durability's registry;
    any other model string becomes the worker's model in an activity, a stand-in in the workflow."""
    if model_id == OFFLINE_MODEL_KEY:
        return None
    if workflow.in_workflow():
        return workflow_stand_in_model(model_id)
    return build_worker_model(model_id)


def configured_model_resolver() -> ResolveModelId[Any]:
    """The capability a durable agent needs to run on any `LODESTAR_MODEL` (see the module docstring)."""
    return ResolveModelId(resolve_configured_model)


def is_offline(model: Model) -> bool:
    return model.model_name == OFFLINE_MODEL_NAME
