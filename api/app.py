"""The ASGI application: strawberry's GraphQL view on starlette, wrapped in OpenTelemetry's ASGI middleware.

- `POST /graphql` (and `GET` for queries): GraphQL over HTTP; batched requests up to the configured cap.
  Sizes are limited before parsing, transport errors are JSON with a code, `application/graphql-response+json`
  is served to clients that accept it, and CORS follows an allow-list (see `api.transport`).
- `GET /graphql` from a browser: GraphiQL, in development mode or with `LODESTAR_API_GRAPHIQL=true`; its
  assets are served from the package at `/static/graphiql/` (see `api.graphiql`), never from a CDN.
- `WS /graphql`: subscriptions over graphql-transport-ws or the legacy (Apollo) graphql-ws protocol, in
  text frames; a handshake that asks for neither is refused with 400.
- `GET /healthz`: liveness (never waits on the graph); `GET /readyz`: readiness (503 while the graph does
  not answer), with the graph and Temporal reported separately (see `api.health`).

Authentication happens once per request in `get_context` (HTTP) or on `connection_init` (WebSocket).
A request that presents a bad key is refused with 401 before any GraphQL runs; a request with no key
runs as an anonymous caller that only `me` answers. One deadline (`request_timeout_s`) covers the key's
check, the context and the execution: a graph that does not answer in time gives a typed
SERVICE_UNAVAILABLE (key not checkable) or TIMEOUT error with HTTP 503, never a hang or a 500.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from datetime import timedelta
from typing import Any

import orjson
from cross_web import HTTPException
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.trace import TracerProvider
from starlette.applications import Starlette
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.schema import BaseSchema
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL
from strawberry.types import ExecutionResult
from strawberry.types.unset import UNSET, UnsetType

from api.auth import AuthenticationUnavailableError, InvalidApiKeyError, Principal, parse_presented_key
from api.context import ApiServices, RequestContext
from api.dashboard import dashboard_routes
from api.errors import RequestTimeoutError, ServiceUnavailableError
from api.graphiql import graphiql_page, graphiql_routes
from api.schema import build_schema
from api.transport import ApiCors, HttpTransportView, OperationLimits, error_response, starlette_http_error

API_KEY_HEADER = "x-api-key"


def presented_key(headers: Any) -> str | None:
    return parse_presented_key(headers.get("authorization") or headers.get(API_KEY_HEADER))


SUBSCRIPTION_PROTOCOLS = (GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL)
"""The WebSocket subprotocols served, preferred first when a client offers both."""


class TextFrameWebSocketAdapter(ASGIWebSocketAdapter):
    """Sends every message as a text frame, as both GraphQL WebSocket protocols require.

    Strawberry sends whatever `encode_json` returns, and orjson's bytes would go out as binary frames,
    which clients (`graphql-ws` for Node, Python `gql`) refuse.
    """

    async def send_json(self, message: Mapping[str, object]) -> None:
        try:
            await self.ws.send_text(self.view.encode_json_string(message))
        except WebSocketDisconnect as error:
            raise WebSocketDisconnected from error


class LodestarGraphQL(HttpTransportView[RequestContext, None]):
    """The GraphQL view: per-request context with the caller and fresh DataLoaders, and a time budget."""

    websocket_adapter_class = TextFrameWebSocketAdapter

    def __init__(self, schema: BaseSchema, services: ApiServices) -> None:
        settings = services.settings
        super().__init__(
            schema,
            graphql_ide="graphiql" if settings.graphiql_enabled else None,
            subscription_protocols=SUBSCRIPTION_PROTOCOLS,
            connection_init_wait_timeout=timedelta(seconds=10),
            max_subscriptions_per_connection=20,
        )
        self.services = services
        self.operation_limits = OperationLimits.from_settings(settings)

    async def render_graphql_ide(self, request: Request) -> Response:
        """GraphiQL with its assets served by this API (strawberry's own page loads them from a CDN)."""
        return graphiql_page()

    def encode_json(self, data: object) -> bytes:
        """orjson: a 100-item roadmap answer (80 kB) encodes in a tenth of the time `json.dumps` takes."""
        return orjson.dumps(data)

    def decode_json(self, data: str | bytes) -> object:
        """JSON that is not UTF-8 is refused like any other unparsable body (400), not with a 500."""
        try:
            return super().decode_json(data)
        except UnicodeDecodeError as error:
            raise json.JSONDecodeError("the request body is not UTF-8", "", 0) from error

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> RequestContext:
        """The caller and fresh loaders. The request's deadline starts here: checking its key, building
        the context and executing its operations all fit in `request_timeout_s`.

        A key the graph cannot check in time does not fail here: the context carries the refusal, which
        `execute_single` answers (503) and `on_ws_connect` turns into a closed connection.
        """
        deadline = asyncio.get_running_loop().time() + self.services.settings.request_timeout_s
        context = RequestContext(
            services=self.services,
            loaders=self.services.loaders(),
            principal=None,
            request=request,
            response=response,
            deadline=deadline,
        )
        try:
            context.principal = await self.authenticate(presented_key(request.headers), deadline)
        except InvalidApiKeyError as error:
            if not isinstance(request, WebSocket):
                raise HTTPException(401, str(error)) from error
        except AuthenticationUnavailableError as error:
            context.refusal = ServiceUnavailableError(str(error))
        return context

    async def authenticate(self, presented: str | None, deadline: float) -> Principal | None:
        """`ApiKeyAuthenticator.authenticate` within `deadline`, telling the graph's health what it saw."""
        remaining = max(deadline - asyncio.get_running_loop().time(), 0.0)
        return await self.services.authenticator.authenticate(
            presented, timeout_s=remaining, observe_graph=self.services.health.graph.observe
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A WebSocket handshake must ask for one of `SUBSCRIPTION_PROTOCOLS`; it is refused otherwise."""
        if scope["type"] == "websocket":
            websocket = WebSocket(scope, receive=receive, send=send)
            if await self.pick_websocket_subprotocol(websocket) is None:
                await self.refuse_handshake(websocket)
                return
        await super().__call__(scope, receive, send)

    @staticmethod
    async def refuse_handshake(websocket: WebSocket) -> None:
        """400 with the reason where the server can answer a handshake with a response, else 403."""
        reason = "a GraphQL WebSocket subprotocol is required: " + " or ".join(SUBSCRIPTION_PROTOCOLS)
        if "websocket.http.response" in websocket.scope.get("extensions", {}):
            await websocket.send_denial_response(PlainTextResponse(reason, status_code=400))
        else:
            await websocket.close(code=1002, reason=reason)

    async def on_ws_connect(self, context: RequestContext) -> UnsetType | dict[str, object] | None:
        """A key in the `connection_init` payload (`apiKey` or `authorization`) overrides the headers'."""
        params = context.connection_params or {}
        raw = params.get("apiKey") or params.get("authorization")
        if raw is not None:
            deadline = asyncio.get_running_loop().time() + self.services.settings.request_timeout_s
            try:
                context.principal = await self.authenticate(parse_presented_key(str(raw)), deadline)
            except (InvalidApiKeyError, AuthenticationUnavailableError) as error:
                raise ConnectionRejectionError() from error
            context.refusal = None
        if context.refusal is not None:
            raise ConnectionRejectionError()
        return UNSET

    async def execute_single(
        self,
        request: Any,
        request_adapter: Any,
        sub_response: Any,
        context: RequestContext,
        root_value: None,
        request_data: Any,
    ) -> ExecutionResult:
        """One operation, by the request's deadline; a request that cannot be answered gets 503."""
        if context.refusal is not None:
            _unavailable(sub_response)
            return ExecutionResult(data=None, errors=[context.refusal])
        budget = self.services.settings.request_timeout_s
        try:
            async with asyncio.timeout_at(context.deadline):
                return await super().execute_single(
                    request, request_adapter, sub_response, context, root_value, request_data
                )
        except TimeoutError:
            _unavailable(sub_response)
            return ExecutionResult(
                data=None, errors=[RequestTimeoutError(f"the request took longer than {budget:g} s")]
            )


RETRY_AFTER_S = 5


def _unavailable(sub_response: Response) -> None:
    sub_response.status_code = 503
    sub_response.headers["Retry-After"] = str(RETRY_AFTER_S)


class BodySizeLimit:
    """Refuse request bodies larger than `max_bytes` with 413, whether or not they declare a length.

    The body is read here before the app sees it (the GraphQL view reads it whole anyway), so an
    oversized streamed body is refused before anything runs.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
            if not message.get("more_body", False):
                break
        buffered = iter(messages)

        async def replay() -> Message:
            return next(buffered, None) or await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        accept = dict(scope.get("headers", [])).get(b"accept", b"").decode("latin-1")
        message = f"The request body is larger than {self.max_bytes} bytes."
        await error_response(413, message, accept=accept)(scope, receive, send)


def health_routes(services: ApiServices) -> list[Route]:
    """`/healthz`: liveness, answered at once with the components' last known status.
    `/readyz`: readiness, asking the graph and Temporal now; 503 while the graph does not answer."""

    async def liveness(_: Request) -> Response:
        return JSONResponse(services.health.liveness())

    async def readiness(_: Request) -> Response:
        ready, body = await services.health.readiness()
        return JSONResponse(body, status_code=200 if ready else 503)

    return [Route("/healthz", liveness), Route("/readyz", readiness)]


Lifespan = Callable[[Starlette], AbstractAsyncContextManager[None]]


def create_app(
    services: ApiServices,
    *,
    schema: BaseSchema | None = None,
    lifespan: Callable[[Starlette], AsyncIterator[None]] | Lifespan | None = None,
    tracer_provider: TracerProvider | None = None,
) -> ASGIApp:
    """The whole ASGI app around `services` (build those with `api.server.open_services`)."""
    schema = schema or build_schema(services.settings)
    view = LodestarGraphQL(schema, services)
    app = Starlette(
        routes=[
            Route("/graphql", view, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", view),
            *health_routes(services),
            *graphiql_routes(services.settings),
            *dashboard_routes(),
        ],
        lifespan=lifespan,  # pyright: ignore[reportArgumentType]
        exception_handlers={StarletteHTTPException: starlette_http_error},
    )
    limited = BodySizeLimit(app, max_bytes=services.settings.max_body_bytes)
    return OpenTelemetryMiddleware(
        ApiCors(limited, services.settings),
        excluded_urls="healthz,readyz,static/graphiql/,app/",
        exclude_spans=["receive", "send"],
        tracer_provider=tracer_provider,
    )
