"""How the API behaves: development or production mode, and its limits. Read from `LODESTAR_API_*`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator

MODE_ENV = "LODESTAR_API_MODE"


class ApiMode(StrEnum):
    DEVELOPMENT = "development"
    """GraphiQL at /graphql, introspection on, spans also printed to the console."""
    PRODUCTION = "production"
    """No GraphiQL (unless `LODESTAR_API_GRAPHIQL=true`), no introspection."""


class ApiSettings(BaseModel):
    model_config = ConfigDict(frozen=True)

    mode: ApiMode = ApiMode.PRODUCTION
    graphiql: bool | None = Field(
        default=None,
        description="GraphiQL at GET /graphql, its assets served by the API; unset: in development mode only. "
        "On in production, it also turns introspection on, which GraphiQL needs for its docs and completion.",
    )
    max_depth: int = Field(default=12, ge=1, description="Deepest selection nesting an operation may have.")
    max_tokens: int = Field(default=2_000, ge=10, description="Most lexical tokens in one document.")
    max_aliases: int = Field(default=20, ge=0, description="Most field aliases in one document.")
    max_batch: int = Field(default=5, ge=1, description="Most operations in one batched HTTP request.")
    max_page_size: int = Field(default=100, ge=1, description="Most items one connection page returns.")
    default_page_size: int = Field(default=20, ge=1)
    max_ids: int = Field(default=100, ge=1, description="Most ids one `nodes(ids:)` lookup accepts.")
    request_timeout_s: float = Field(
        default=15.0,
        gt=0,
        description="Deadline of one HTTP request: checking its API key, building its context, executing it.",
    )
    api_key_cache_s: float = Field(
        default=30.0, ge=0, description="How long a verified key is trusted before it is checked again."
    )
    api_key_outage_grace_s: float = Field(
        default=300.0,
        ge=0,
        description="How long after its last check a key is still accepted while the graph cannot be asked.",
    )
    api_key_cache_size: int = Field(default=10_000, ge=1, description="Most verified keys remembered.")
    readiness_timeout_s: float = Field(
        default=2.0, gt=0, description="How long /readyz waits for the graph and for Temporal."
    )
    max_import_bytes: int = Field(
        default=20_000_000, ge=1, description="Largest portfolio document accepted."
    )
    max_query_bytes: int = Field(
        default=100_000, ge=100, description="Largest query document (UTF-8 bytes), refused before parsing."
    )
    max_variables_depth: int = Field(
        default=10, ge=1, description="Deepest nesting of lists and objects in an operation's variables."
    )
    max_variables_items: int = Field(
        default=10_000,
        ge=1,
        description="Most list items and object entries in an operation's variables, all levels together. "
        "Their total size is bounded by the body limit (`max_body_bytes`), which holds an imported document.",
    )
    parse_cache_bytes: int = Field(
        default=4_000_000, ge=0, description="Most bytes of query text whose parsed documents are kept."
    )
    cors_origins: tuple[str, ...] | None = Field(
        default=None,
        description="Origins (comma-separated) whose pages may call the API; unset: none in production, "
        "`http://localhost:*` and `http://127.0.0.1:*` in development. The API's own origin always may.",
    )
    progress_poll_s: float = Field(
        default=0.15,
        gt=0,
        description="How often the API asks a followed run for its state and progress, in seconds (one poller "
        "per run, shared by all its runProgress subscribers).",
    )
    keep_alive_s: float = Field(
        default=75.0,
        gt=0,
        description="How long an idle HTTP connection stays open, in seconds. Longer than a client's or a "
        "load balancer's own idle timeout (httpx 5 s, browsers about 60 s, AWS ALB 60 s), so the client "
        "closes first and never sends a request on a connection the server is closing.",
    )
    cancel_wait_s: float = Field(
        default=5.0,
        ge=0,
        description="How long cancelRun waits for the run to stop before it answers "
        "(keep it well below `request_timeout_s`).",
    )

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(origin.strip().rstrip("/") for origin in value.split(",") if origin.strip())
        return value

    @property
    def max_body_bytes(self) -> int:
        """Largest request body: an imported document plus 1 MB for the rest of the request."""
        return self.max_import_bytes + 1_000_000

    @property
    def development(self) -> bool:
        return self.mode is ApiMode.DEVELOPMENT

    @property
    def graphiql_enabled(self) -> bool:
        return self.development if self.graphiql is None else self.graphiql

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> ApiSettings:
        """`LODESTAR_API_MODE` (development | production, default production) and
        `LODESTAR_API_<FIELD>` for each limit, e.g. `LODESTAR_API_MAX_DEPTH=8`."""
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for name in cls.model_fields:
            raw = env.get(f"LODESTAR_API_{name.upper()}")
            if raw:
                values[name] = raw
        values.update(overrides)
        return cls.model_validate(values)
