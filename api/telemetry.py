"""OpenTelemetry for the API process, configured through the standard `OTEL_*` variables.

- `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) set: spans go to that OTLP
  (HTTP/protobuf) endpoint; the exporter reads its own `OTEL_EXPORTER_OTLP_*` headers, timeout, etc.
- Development mode: spans are also printed to the console.
- `OTEL_SERVICE_NAME` and `OTEL_RESOURCE_ATTRIBUTES` name the service (default `lodestar-api`).
- `OTEL_SDK_DISABLED=true`: no provider is installed; every span is a no-op.

The provider becomes the global one, so the strawberry extension, the ASGI middleware, the graph
statements and the Temporal `TracingInterceptor` all record into the same traces. It is Temporal's
replay-safe provider, because a worker may run in the same process (`lodestar serve --with-worker`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from opentelemetry import trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import SpanProcessor
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from opentelemetry.trace import ProxyTracerProvider, SpanKind
from temporalio.contrib.opentelemetry import ReplaySafeTracerProvider, create_tracer_provider

from graph.cypher import Query

DEFAULT_SERVICE_NAME = "lodestar-api"
_OTLP_ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")


def otlp_configured(environ: Mapping[str, str] | None = None) -> bool:
    env = os.environ if environ is None else environ
    return any(env.get(name, "").strip() for name in _OTLP_ENDPOINT_VARIABLES)


def tracing_disabled(environ: Mapping[str, str] | None = None) -> bool:
    env = os.environ if environ is None else environ
    return env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true"


def span_processors(*, development: bool, environ: Mapping[str, str] | None = None) -> list[SpanProcessor]:
    """The processors the environment asks for: OTLP when an endpoint is set, console in development."""
    processors: list[SpanProcessor] = []
    if otlp_configured(environ):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        processors.append(BatchSpanProcessor(OTLPSpanExporter()))
    if development:
        processors.append(BatchSpanProcessor(ConsoleSpanExporter()))
    return processors


def build_tracer_provider(
    *,
    development: bool,
    extra_exporters: list[SpanExporter] | None = None,
    environ: Mapping[str, str] | None = None,
) -> ReplaySafeTracerProvider:
    env = os.environ if environ is None else environ
    resource = Resource.create({SERVICE_NAME: env.get("OTEL_SERVICE_NAME") or DEFAULT_SERVICE_NAME})
    provider = create_tracer_provider(resource=resource)
    for processor in span_processors(development=development, environ=env):
        provider.add_span_processor(processor)
    for exporter in extra_exporters or []:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


def configure_tracing(*, development: bool) -> trace.TracerProvider | None:
    """Install the global tracer provider the environment asks for; None if tracing is disabled
    or a provider was installed already (OpenTelemetry allows one per process; the first one stays)."""
    if tracing_disabled():
        return None
    if not isinstance(trace.get_tracer_provider(), ProxyTracerProvider):
        return None
    provider = build_tracer_provider(development=development)
    trace.set_tracer_provider(provider)
    return provider


_graph_tracer = trace.get_tracer("lodestar.graph")


def record_graph_query(query: Query) -> None:
    """A `GraphStore` query observer: a span marking each statement the store sends.

    The store calls observers just before it runs a statement and offers no hook around the call,
    so the span marks the moment and the statement, not its duration.
    """
    _graph_tracer.start_span(
        f"graph.query {query.name}",
        kind=SpanKind.CLIENT,
        attributes={"db.system.name": "neo4j", "db.operation.name": query.name},
    ).end()
