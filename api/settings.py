"""How the API behaves: development or production mode, and its limits. Read from `LODESTAR_API_*`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

MODE_ENV = "LODESTAR_API_MODE"


class ApiMode(StrEnum):
    DEVELOPMENT = "development"
    """GraphiQL at /graphql, introspection on, spans also printed to the console."""
    PRODUCTION = "production"
    """No GraphiQL, no introspection."""


class ApiSettings(BaseModel):
    model_config = ConfigDict(frozen=True)

    mode: ApiMode = ApiMode.PRODUCTION
    max_depth: int = Field(default=12, ge=1, description="Deepest selection nesting an operation may have.")
    max_tokens: int = Field(default=2_000, ge=10, description="Most lexical tokens in one document.")
    max_aliases: int = Field(default=20, ge=0, description="Most field aliases in one document.")
    max_batch: int = Field(default=5, ge=1, description="Most operations in one batched HTTP request.")
    max_page_size: int = Field(default=100, ge=1, description="Most items one connection page returns.")
    default_page_size: int = Field(default=20, ge=1)
    max_ids: int = Field(default=100, ge=1, description="Most ids one `nodes(ids:)` lookup accepts.")
    request_timeout_s: float = Field(default=15.0, gt=0, description="Budget for executing one operation.")
    api_key_cache_s: float = Field(
        default=30.0, ge=0, description="How long a verified key is trusted before it is checked again."
    )
    max_import_bytes: int = Field(
        default=20_000_000, ge=1, description="Largest portfolio document accepted."
    )
    progress_poll_s: float = Field(default=0.5, gt=0, description="How often runProgress polls a run.")

    @property
    def development(self) -> bool:
        return self.mode is ApiMode.DEVELOPMENT

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
