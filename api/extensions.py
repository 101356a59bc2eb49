"""The schema extensions: limits on documents, masking of unexpected errors, and tracing.

- Depth, token and alias limits reject abusive documents before execution (`QueryDepthLimiter`,
  `MaxTokensLimiter`, `MaxAliasesLimiter`); batched HTTP requests are capped by the schema's
  batching config (`api.schema.build_schema`), page sizes by `api.pagination`.
- `MaskErrors`: an exception raised while resolving that is not a `ClientError` reaches the client
  as "Unexpected error." (with its path), never its message, stack or Cypher. Errors about the
  document itself (syntax, validation, variable coercion) carry no resolver internals and pass.
- `RootFieldTracing` (strawberry's `OpenTelemetryExtension`, for root fields only): a span per
  operation and per root field, children of the HTTP request's span; large or sensitive arguments (the
  imported document) are left out of span attributes.
- In production, introspection is disabled.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from graphql import GraphQLError, GraphQLResolveInfo
from strawberry.extensions import (
    AddValidationRules,
    DisableIntrospection,
    MaskErrors,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    SchemaExtension,
    ValidationCache,
)
from strawberry.extensions.tracing import OpenTelemetryExtension

from api.errors import ClientError
from api.settings import ApiSettings

MASKED_MESSAGE = "Unexpected error."
_UNTRACED_ARGUMENTS = frozenset({"document", "comment"})


def should_mask(error: GraphQLError) -> bool:
    """Mask errors raised by resolvers unless they are meant for the client."""
    original = error.original_error
    if original is None:
        return False
    if isinstance(original, ClientError):
        return False
    # Errors located outside execution come from parsing or coercing the client's own document.
    return error.path is not None or not isinstance(original, (GraphQLError, ValueError, TypeError))


class RootFieldTracing(OpenTelemetryExtension):
    """OpenTelemetry spans for the operation and its root fields only.

    strawberry's extension opens a span around every resolver and, being async, turns every field into an
    awaitable: for a page of 100 items with nested fields that is thousands of spans and coroutines.
    Root fields are what a trace needs (they start workflows, and the graph statements below them have
    spans of their own), so nested fields pass straight through, synchronously.
    """

    def resolve(  # pyright: ignore[reportIncompatibleMethodOverride]
        self, _next: Callable[..., Any], root: Any, info: GraphQLResolveInfo, *args: Any, **kwargs: Any
    ) -> Any:
        if info.path.prev is not None:
            return _next(root, info, *args, **kwargs)
        return super().resolve(_next, root, info, *args, **kwargs)


def _traced_arguments(arguments: dict[str, Any], info: GraphQLResolveInfo) -> dict[str, Any]:
    return {name: value for name, value in arguments.items() if name not in _UNTRACED_ARGUMENTS}


def schema_extensions(settings: ApiSettings, *, tracing: bool = True) -> list[Callable[[], SchemaExtension]]:
    """Extension factories (strawberry builds one instance per operation from each).

    The validation rules (depth, aliases, no introspection) are built once, so that the validation
    cache recognises a document it has already validated under the same rules.
    """
    rules = [
        *QueryDepthLimiter(max_depth=settings.max_depth).validation_rules,
        *MaxAliasesLimiter(max_alias_count=settings.max_aliases).validation_rules,
    ]
    if not settings.development:
        rules += DisableIntrospection().validation_rules
    factories: list[Callable[[], SchemaExtension]] = [
        partial(ParserCache, maxsize=256),
        partial(MaxTokensLimiter, max_token_count=settings.max_tokens),
        partial(AddValidationRules, rules),
        partial(ValidationCache, maxsize=256),
    ]
    if tracing:
        factories.append(partial(RootFieldTracing, arg_filter=_traced_arguments))
    factories.append(partial(MaskErrors, should_mask_error=should_mask, error_message=MASKED_MESSAGE))
    return factories
