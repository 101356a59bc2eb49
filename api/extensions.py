"""The schema extensions: limits on documents, masking of unexpected errors, and tracing.

- Depth, token and alias limits reject abusive documents before execution (`QueryDepthLimiter`,
  `MaxTokensLimiter`, `MaxAliasesLimiter`); batched HTTP requests are capped by the schema's
  batching config (`api.schema.build_schema`), page sizes by `api.pagination`.
- `MaskErrors`: an exception raised while resolving that is not a `ClientError` reaches the client
  as "Unexpected error." (with its path), never its message, stack or Cypher. Errors about the
  document itself (syntax, validation, variable coercion) carry no resolver internals and pass.
- `OperationTracing` (strawberry's `OpenTelemetryExtension`) and `RootFieldSpan`: a span per operation,
  a child of the HTTP request's span, and below it a span per root field; large or sensitive arguments
  (the imported document) are left out of span attributes.
- In production, introspection is disabled.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator, Iterator
from contextlib import contextmanager, suppress
from functools import partial
from typing import Any

from graphql import GraphQLError
from opentelemetry import context, trace
from opentelemetry.trace import SpanKind
from strawberry.extensions import (
    AddValidationRules,
    DisableIntrospection,
    FieldExtension,
    LifecycleStep,
    MaskErrors,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    SchemaExtension,
    ValidationCache,
)
from strawberry.extensions.tracing import OpenTelemetryExtension
from strawberry.extensions.utils import get_path_from_info
from strawberry.types import Info
from strawberry.types.base import StrawberryObjectDefinition

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


class OperationTracing(OpenTelemetryExtension):
    """strawberry's OpenTelemetry extension for the operation and its parsing and validation, with the
    operation's span made current while it runs, so that the root fields' spans (`RootFieldSpan`) and
    everything below them (workflow starts, graph statements) nest under it.

    Its per-resolver hook is off: a schema extension's `resolve` is graphql-core middleware, which wraps
    every field of every object (thousands for a page of roadmap items) and cost 5-8% of such a query.
    """

    resolve = SchemaExtension.resolve  # pyright: ignore[reportAssignmentType]

    def on_operation(self) -> Generator[None, None, None]:
        steps = super().on_operation()
        next(steps)  # starts the operation's span
        attached = context.attach(trace.set_span_in_context(self._span_holder[LifecycleStep.OPERATION]))
        try:
            yield
        finally:
            context.detach(attached)
            with suppress(StopIteration):
                next(steps)  # names and ends it


_tracer = trace.get_tracer("lodestar.api")


class RootFieldSpan(FieldExtension):
    """A span around a root field's resolver ("GraphQL Resolving: <field>"), current while it runs."""

    def resolve(self, next_: Callable[..., Any], source: Any, info: Info, **kwargs: Any) -> Any:
        with _root_field_span(info, kwargs):
            return next_(source, info, **kwargs)

    async def resolve_async(
        self, next_: Callable[..., Awaitable[Any]], source: Any, info: Info, **kwargs: Any
    ) -> Any:
        with _root_field_span(info, kwargs):
            return await next_(source, info, **kwargs)


@contextmanager
def _root_field_span(info: Info, arguments: dict[str, Any]) -> Iterator[None]:
    raw = info._raw_info  # pyright: ignore[reportPrivateUsage]
    with _tracer.start_as_current_span(
        f"GraphQL Resolving: {raw.field_name}", kind=SpanKind.INTERNAL
    ) as span:
        span.set_attribute("component", "graphql")
        span.set_attribute("graphql.parentType", raw.parent_type.name)
        span.set_attribute("graphql.path", ".".join(map(str, get_path_from_info(raw))))
        for name, value in arguments.items():
            if name not in _UNTRACED_ARGUMENTS:
                span.set_attribute(f"graphql.param.{name}", _attribute(value))
        yield


def _attribute(value: Any) -> bool | str | int | float:
    return value if isinstance(value, (bool, str, int, float)) else str(value)


def trace_root_fields(*roots: type) -> None:
    """Give every field of the root types `roots` a `RootFieldSpan` (once; before a schema is built)."""
    for root in roots:
        definition: StrawberryObjectDefinition = root.__strawberry_definition__  # pyright: ignore[reportAttributeAccessIssue]
        for field in definition.fields:
            if not any(isinstance(extension, RootFieldSpan) for extension in field.extensions):
                field.extensions.append(RootFieldSpan())


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
        factories.append(OperationTracing)
    factories.append(partial(MaskErrors, should_mask_error=should_mask, error_message=MASKED_MESSAGE))
    return factories
