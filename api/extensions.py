"""The schema extensions: limits on documents, masking of unexpected errors, and tracing.

- Depth, token and alias limits reject abusive documents before execution (`QueryDepthLimiter`,
  `MaxTokensLimiter`, `MaxAliasesLimiter`); batched HTTP requests are capped by the schema's
  batching config (`api.schema.build_schema`), page sizes by `api.pagination`.
- `DocumentCache`: parsed and validated documents, kept by query text and bounded in bytes of that
  text (the size limits of `api.transport` refuse oversized documents before anything parses them).
- `TypedErrors` (strawberry's `MaskErrors`): an exception raised while resolving that is not a
  `ClientError` reaches the client as "Unexpected error." (with its path, code INTERNAL_SERVER_ERROR),
  never its message, stack or Cypher. Errors about the document itself (syntax, validation, variable
  coercion) carry no resolver internals and pass. Every error gets an `extensions.code`, and in
  production no "Did you mean ...?" suggestions.
- `OperationTracing` (strawberry's `OpenTelemetryExtension`) and `RootFieldSpan`: a span per operation,
  a child of the HTTP request's span, and below it a span per root field; large or sensitive arguments
  (the imported document) are left out of span attributes.
- In production, introspection is disabled (unless GraphiQL is turned on, which needs it).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Generator, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from functools import partial
from typing import Any

from cachetools import LRUCache
from graphql import DocumentNode, GraphQLError, GraphQLSyntaxError, parse, validate
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
    QueryDepthLimiter,
    SchemaExtension,
)
from strawberry.extensions.tracing import OpenTelemetryExtension
from strawberry.extensions.utils import get_path_from_info
from strawberry.schema.validation_rules.maybe_null import MaybeNullValidationRule
from strawberry.schema.validation_rules.one_of import OneOfInputValidationRule
from strawberry.types import Info
from strawberry.types.base import StrawberryObjectDefinition

from api.errors import ClientError
from api.settings import ApiSettings

MASKED_MESSAGE = "Unexpected error."
PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
BAD_USER_INPUT = "BAD_USER_INPUT"
INTERNAL_SERVER_ERROR = "INTERNAL_SERVER_ERROR"
REQUEST_ERROR_CODES = frozenset({PARSE_FAILED, VALIDATION_FAILED, BAD_USER_INPUT})
"""Codes of errors that stop an operation before it executes (a GraphQL over HTTP "request error")."""
_SUGGESTION = re.compile(r"\s*Did you mean [^?]*\?")
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

    The validation rules (depth, aliases, no introspection) are fixed per schema, so the document cache,
    one per schema, may remember that a query text passed them.
    """
    rules = [
        *QueryDepthLimiter(max_depth=settings.max_depth).validation_rules,
        *MaxAliasesLimiter(max_alias_count=settings.max_aliases).validation_rules,
    ]
    if not settings.development and not settings.graphiql_enabled:
        rules += DisableIntrospection().validation_rules
    documents = DocumentStore(max_bytes=settings.parse_cache_bytes)
    factories: list[Callable[[], SchemaExtension]] = [
        partial(MaxTokensLimiter, max_token_count=settings.max_tokens),
        partial(AddValidationRules, rules),
        partial(DocumentCache, documents, hide_suggestions=not settings.development),
    ]
    if tracing:
        factories.append(OperationTracing)
    factories.append(partial(TypedErrors, hide_suggestions=not settings.development))
    return factories


@dataclass(frozen=True, slots=True)
class _Document:
    document: DocumentNode
    size: int
    valid: bool = False


class DocumentStore:
    """Parsed documents by query text, least recently used dropped first, at most `max_bytes` of text.

    strawberry's `ParserCache` and `ValidationCache` are bounded only in entries, so 256 distinct
    documents of 10 MB each stay resident; here the bound is the sum of the texts' sizes (a parsed
    document takes a small multiple of its text). Only documents that passed validation are marked so.
    """

    def __init__(self, max_bytes: int) -> None:
        self._entries: LRUCache[str, _Document] = LRUCache(
            maxsize=max(max_bytes, 1), getsizeof=lambda entry: entry.size
        )
        self.max_bytes = max_bytes

    def get(self, query: str) -> _Document | None:
        return self._entries.get(query)

    def put(self, query: str, document: DocumentNode, *, valid: bool = False) -> None:
        size = len(query)
        if size <= self.max_bytes:
            self._entries[query] = _Document(document, size, valid)

    @property
    def cached_bytes(self) -> int:
        return int(self._entries.currsize)

    def __len__(self) -> int:
        return len(self._entries)


class DocumentCache(SchemaExtension):
    """Parse and validate through a `DocumentStore`; validation hides suggestions when asked to.

    A document that fails to parse is left to strawberry, which reports the syntax error; one that
    fails validation is not remembered, and its errors carry GRAPHQL_VALIDATION_FAILED.
    """

    def __init__(self, documents: DocumentStore, *, hide_suggestions: bool) -> None:
        self.documents = documents
        self.hide_suggestions = hide_suggestions
        self._cached: _Document | None = None

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        query = context.query
        if query and context.graphql_document is None:
            self._cached = self.documents.get(query)
            if self._cached is not None:
                context.graphql_document = self._cached.document
            else:
                with suppress(GraphQLError):  # strawberry parses again and reports it
                    context.graphql_document = parse(query, **context.parse_options)
                    self.documents.put(query, context.graphql_document)
        yield

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        if self._cached is not None and self._cached.valid:
            context.pre_execution_errors = []
        elif context.graphql_document is not None and context.validation_rules:
            errors = validate(
                context.schema._schema,  # pyright: ignore[reportPrivateUsage]
                context.graphql_document,
                (*context.validation_rules, MaybeNullValidationRule, OneOfInputValidationRule),
                hide_suggestions=self.hide_suggestions,
            )
            context.pre_execution_errors = [_with_code(error, VALIDATION_FAILED) for error in errors]
            if not errors and context.query:
                self.documents.put(context.query, context.graphql_document, valid=True)
        yield


def _with_code(error: GraphQLError, code: str, message: str | None = None) -> GraphQLError:
    return GraphQLError(
        message if message is not None else error.message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        original_error=error.original_error,
        extensions={**(error.extensions or {}), "code": code},
    )


def error_code(error: GraphQLError) -> str:
    """The code an error reaches the client with: its own, or one for where it came from."""
    own = (error.extensions or {}).get("code")
    if isinstance(own, str):
        return own
    if isinstance(error, GraphQLSyntaxError) or isinstance(error.original_error, GraphQLSyntaxError):
        return PARSE_FAILED
    if error.path is None:
        return BAD_USER_INPUT  # variable coercion or operation selection, before execution
    return INTERNAL_SERVER_ERROR


class TypedErrors(MaskErrors):
    """`MaskErrors` (see `should_mask`), then an `extensions.code` on every error, and suggestions
    ("Did you mean ...?") dropped from messages when `hide_suggestions` is set."""

    def __init__(self, *, hide_suggestions: bool) -> None:
        super().__init__(should_mask_error=should_mask, error_message=MASKED_MESSAGE)
        self.hide_suggestions = hide_suggestions

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        return _with_code(super().anonymise_error(error), INTERNAL_SERVER_ERROR)

    def _process_errors(self, errors: list[GraphQLError]) -> list[GraphQLError]:
        typed: list[GraphQLError] = []
        for error in super()._process_errors(errors):
            message = _SUGGESTION.sub("", error.message) if self.hide_suggestions else error.message
            if message != error.message or "code" not in (error.extensions or {}):
                error = _with_code(error, error_code(error), message)
            typed.append(error)
        return typed
