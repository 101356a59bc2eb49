"""GraphQL over HTTP around the view (`HttpTransportView`): limits checked before anything parses, JSON
error bodies, the response media type, and CORS.

- `HttpTransportView.parse_http_body`: the operations of a request, refused before parsing when the
  query is larger than `max_query_bytes` or the variables nest deeper than `max_variables_depth` or
  hold more than `max_variables_items` list items and object entries (413), or when the body is not a
  JSON object or a batch of them (400), or not `application/json` (415). The body's size is bounded
  by `BodySizeLimit` (`max_body_bytes`: room for an imported document as one string variable). A body
  larger than `INLINE_DECODE_BYTES` is first measured by byte counting (`_structure_exceeds`), so
  a million-item list is refused without being decoded, then decoded in a worker thread.
- `error_response`: every transport error (400, 401, 404, 405, 413, 415, ...) as
  `{"errors": [{"message": ..., "extensions": {"code": ...}}]}`.
- `response_media_type`: `application/graphql-response+json` when the client's Accept asks for it
  (then a request error, one that stops the operation before it executes, answers 400 without `data`,
  as the GraphQL over HTTP spec says), `application/json` otherwise, with the legacy 200.
- `ApiCors`: starlette's `CORSMiddleware` with an allow-list (`LODESTAR_API_CORS_ORIGINS`) plus the
  API's own origin, and in development, unless a list is given, `http://localhost:*` and
  `http://127.0.0.1:*`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeVar

import orjson
from cross_web import AsyncHTTPRequestAdapter, HTTPException
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.http.parse_content_type import parse_content_type
from strawberry.schema.exceptions import InvalidOperationTypeError
from strawberry.types import ExecutionResult
from strawberry.types.unset import UNSET

from api.extensions import REQUEST_ERROR_CODES
from api.settings import ApiSettings

JSON = "application/json"
GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
INLINE_DECODE_BYTES = 64 * 1024
"""Bodies up to this size are decoded on the event loop; larger ones in a worker thread."""

STATUS_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHENTICATED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    406: "NOT_ACCEPTABLE",
    408: "TIMEOUT",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    429: "TOO_MANY_REQUESTS",
    500: "INTERNAL_SERVER_ERROR",
    503: "SERVICE_UNAVAILABLE",
    504: "TIMEOUT",
}
"""The `extensions.code` of a transport error that names no code of its own, by HTTP status."""


class TransportError(HTTPException):
    """A request refused before any GraphQL runs, with its `extensions.code`."""

    def __init__(self, status_code: int, message: str, code: str | None = None) -> None:
        super().__init__(status_code, message)
        self.code = code or STATUS_CODES.get(status_code, "BAD_REQUEST")


def error_body(message: str, code: str) -> dict[str, object]:
    return {"errors": [{"message": message, "extensions": {"code": code}}]}


def response_media_type(accept: str | None) -> str:
    """`application/graphql-response+json` if the Accept header lists it (with a non-zero quality)
    at least as high as `application/json`; `application/json` otherwise, also without an Accept."""
    qualities: dict[str, float] = {}
    for part in (accept or "").split(","):
        media_type, _, parameters = part.partition(";")
        quality = 1.0
        for parameter in parameters.split(";"):
            name, _, value = parameter.partition("=")
            if name.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        qualities[media_type.strip().lower()] = quality
    wanted = qualities.get(GRAPHQL_RESPONSE_JSON, 0.0)
    return GRAPHQL_RESPONSE_JSON if wanted > 0 and wanted >= qualities.get(JSON, 0.0) else JSON


def error_response(
    status_code: int,
    message: str,
    *,
    code: str | None = None,
    accept: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    return Response(
        orjson.dumps(error_body(message, code or STATUS_CODES.get(status_code, "BAD_REQUEST"))),
        status_code=status_code,
        media_type=response_media_type(accept),
        headers=dict(headers or {}),
    )


def transport_error_response(error: HTTPException, accept: str | None) -> Response:
    """The JSON answer to an `HTTPException` the GraphQL view raised."""
    code = error.code if isinstance(error, TransportError) else None
    return error_response(error.status_code, error.reason, code=code, accept=accept)


async def starlette_http_error(request: Request, error: Exception) -> Response:
    """Starlette's own refusals (unknown path 404, unsupported method 405) as JSON error bodies."""
    assert isinstance(error, StarletteHTTPException)
    return error_response(
        error.status_code,
        error.detail,
        accept=request.headers.get("accept"),
        headers=error.headers,
    )


@dataclass(frozen=True)
class OperationLimits:
    """What one request's operations may hold, checked before any of them is parsed."""

    max_query_bytes: int
    max_variables_depth: int
    max_variables_items: int
    max_batch: int

    @classmethod
    def from_settings(cls, settings: ApiSettings) -> OperationLimits:
        return cls(
            max_query_bytes=settings.max_query_bytes,
            max_variables_depth=settings.max_variables_depth,
            max_variables_items=settings.max_variables_items,
            max_batch=settings.max_batch,
        )

    @property
    def structure_allowance(self) -> int:
        """Most items a body within the limits can hold: variables and extensions of a full batch,
        and a few entries of each operation itself."""
        return self.max_batch * (2 * self.max_variables_items + 8)

    def check_request(self, data: object) -> dict[str, Any] | list[dict[str, Any]]:
        """`data` (the decoded body) as one operation or a batch of them, or a `TransportError`."""
        if isinstance(data, list):
            if not data:
                raise TransportError(400, "A batch must hold at least one operation.")
            if len(data) > self.max_batch:
                raise TransportError(
                    400, f"Too many operations: at most {self.max_batch} in one batch.", "BATCH_TOO_LARGE"
                )
            return [self.check_operation(item, index) for index, item in enumerate(data)]
        return self.check_operation(data, None)

    def check_operation(self, data: object, index: int | None) -> dict[str, Any]:
        where = "The request body" if index is None else f"Operation {index} of the batch"
        if not isinstance(data, dict):
            raise TransportError(
                400, f"{where} must be a JSON object with a `query` (or a JSON array of such objects)."
            )
        query = data.get("query")
        if query is not None and not isinstance(query, str):
            raise TransportError(400, f"{where}: `query` must be a string.")
        if query is not None and _utf8_size_exceeds(query, self.max_query_bytes):
            raise TransportError(
                413, f"{where}: the query is larger than {self.max_query_bytes} bytes.", "QUERY_TOO_LARGE"
            )
        for name in ("variables", "extensions"):
            value = data.get(name)
            if value is not None and not isinstance(value, dict):
                raise TransportError(400, f"{where}: `{name}` must be a JSON object.")
        operation_name = data.get("operationName")
        if operation_name is not None and not isinstance(operation_name, str):
            raise TransportError(400, f"{where}: `operationName` must be a string.")
        self._check_structure(data.get("variables"), where, "variables")
        self._check_structure(data.get("extensions"), where, "extensions")
        return data

    def _check_structure(self, value: object, where: str, name: str) -> None:
        """Refuse `value` if it nests too deep or holds too many items; stops at the first excess."""
        if not isinstance(value, (dict, list)):
            return
        items = 0
        pending: list[tuple[dict[str, object] | list[object], int]] = [(value, 1)]
        while pending:
            container, depth = pending.pop()
            if depth > self.max_variables_depth:
                raise TransportError(
                    413,
                    f"{where}: `{name}` nest deeper than {self.max_variables_depth} levels.",
                    "VARIABLES_TOO_LARGE",
                )
            children = container.values() if isinstance(container, dict) else container
            items += len(children)
            if items > self.max_variables_items:
                raise TransportError(
                    413,
                    f"{where}: `{name}` hold more than {self.max_variables_items} list items and entries.",
                    "VARIABLES_TOO_LARGE",
                )
            pending.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))


def _utf8_size_exceeds(text: str, limit: int) -> bool:
    # A character takes 1-4 bytes in UTF-8: most texts are decided without encoding them.
    if len(text) > limit:
        return True
    if len(text) * 4 <= limit:
        return False
    return len(text.encode("utf-8", "surrogatepass")) > limit


def _structure_exceeds(body: bytes, allowance: int) -> bool:
    """Whether the JSON `body` certainly holds more than `allowance` list items and object entries,
    judged with a few passes of C-speed byte counting, before anything decodes it.

    Every comma outside strings separates two items, so such commas are a lower bound of the items.
    Strings are recognised once escaped backslashes and escaped quotes are removed: then every quote
    opens or closes one. A long string (an imported document) has commas inside but none outside.
    """
    if body.count(b",") <= allowance:
        return False
    unescaped = body.replace(b"\\\\", b"").replace(b'\\"', b"")
    if unescaped.count(b'"') // 4 > allowance:  # each item or entry holds at most two strings
        return True
    outside_strings = b"".join(unescaped.split(b'"')[::2])
    return outside_strings.count(b",") > allowance


def decode_and_check(body: bytes, limits: OperationLimits) -> dict[str, Any] | list[dict[str, Any]]:
    if _structure_exceeds(body, limits.structure_allowance):
        raise TransportError(
            413,
            f"The operations' variables hold more than {limits.max_variables_items} list items and entries.",
            "VARIABLES_TOO_LARGE",
        )
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise TransportError(400, "The request body is not valid JSON (UTF-8).") from error
    return limits.check_request(data)


_decoder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lodestar-json-decode")
"""One thread decodes every large body: orjson holds the GIL while it decodes, so more threads would
not decode faster, and one bounds the memory that large bodies in flight take (one heap to reuse)."""


async def decode_operations(body: bytes, limits: OperationLimits) -> dict[str, Any] | list[dict[str, Any]]:
    """The checked operations of a JSON body; a large body is decoded in the decoding thread."""
    if len(body) <= INLINE_DECODE_BYTES:
        return decode_and_check(body, limits)
    return await asyncio.get_running_loop().run_in_executor(_decoder, decode_and_check, body, limits)


def require_json_content_type(content_type: str | None) -> None:
    """POST bodies must be `application/json` (strawberry reads no other; uploads are off): else 415."""
    media_type, _ = parse_content_type(content_type or "")
    if media_type.strip().lower() != JSON:
        shown = media_type or "none"
        raise TransportError(
            415, f"Unsupported content type {shown!r}: send the operation as application/json."
        )


def operation_from_query_params(params: Mapping[str, Any], limits: OperationLimits) -> dict[str, Any]:
    """A GET request's operation from its query string (`query`, `variables`, `operationName`, `extensions`)."""
    data: dict[str, Any] = {key: params[key] for key in ("query", "operationName") if params.get(key)}
    query = data.get("query")
    if isinstance(query, str) and _utf8_size_exceeds(query, limits.max_query_bytes):
        raise TransportError(
            413, f"The query is larger than {limits.max_query_bytes} bytes.", "QUERY_TOO_LARGE"
        )
    for name in ("variables", "extensions"):
        raw = params.get(name)
        if raw:
            try:
                data[name] = orjson.loads(raw)
            except orjson.JSONDecodeError as error:
                raise TransportError(400, f"`{name}` in the query string is not valid JSON.") from error
    return limits.check_operation(data, None)


_own_origin: ContextVar[str | None] = ContextVar("lodestar_own_origin", default=None)
DEVELOPMENT_ORIGINS = r"http://(localhost|127\.0\.0\.1)(:\d{1,5})?"


class ApiCors(CORSMiddleware):
    """CORS for the allowed origins and for the API's own (the dashboard it serves at `/`).

    A preflight from any other origin is refused with 403 and no `Access-Control-Allow-*` headers.
    """

    def __init__(self, app: ASGIApp, settings: ApiSettings) -> None:
        origins = settings.cors_origins
        super().__init__(
            app,
            allow_origins=list(origins or ()),
            allow_origin_regex=DEVELOPMENT_ORIGINS if origins is None and settings.development else None,
            allow_methods=["GET", "POST"],
            allow_headers=["content-type", "authorization", "x-api-key"],
            max_age=600,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        host = Headers(scope=scope).get("host")
        token = _own_origin.set(f"{scope.get('scheme', 'http')}://{host}" if host else None)
        try:
            await super().__call__(scope, receive, send)
        finally:
            _own_origin.reset(token)

    def is_allowed_origin(self, origin: str) -> bool:
        return origin == _own_origin.get() or super().is_allowed_origin(origin)

    def preflight_response(self, request_headers: Headers) -> Response:
        allowed = self.is_allowed_origin(request_headers["origin"])
        response = super().preflight_response(request_headers)
        if response.status_code == 200:
            return response
        if not allowed:
            return error_response(
                403,
                "This origin may not call the API.",
                code="CORS_ORIGIN_NOT_ALLOWED",
                headers={"Vary": "Origin"},
            )
        reason = bytes(response.body).decode()
        headers = {
            name: value
            for name, value in response.headers.items()
            if name.lower().startswith("access-control-")
        }
        return error_response(400, reason, code="CORS_REQUEST_NOT_ALLOWED", headers=headers)


def is_request_error(result: ExecutionResult) -> bool:
    """Whether the operation stopped before executing: it did not parse, validate or coerce its variables."""
    return (
        result.data is None
        and bool(result.errors)
        and all(
            error.path is None and (error.extensions or {}).get("code") in REQUEST_ERROR_CODES
            for error in result.errors or ()
        )
    )


def _request_data(operation: dict[str, Any]) -> GraphQLRequestData:
    return GraphQLRequestData(
        query=operation.get("query"),
        variables=operation.get("variables"),
        operation_name=operation.get("operationName"),
        extensions=operation.get("extensions"),
        protocol="http",
    )


ContextT = TypeVar("ContextT")
RootValueT = TypeVar("RootValueT")
_REQUEST_ERROR_STATE = "graphql_request_error"


class HttpTransportView(GraphQL[ContextT, RootValueT]):
    """strawberry's ASGI view with this module's request reading, limits, error bodies and media types."""

    operation_limits: OperationLimits = OperationLimits.from_settings(ApiSettings())

    async def run(  # pyright: ignore[reportIncompatibleMethodOverride]
        self, request: Request | WebSocket, context: Any = UNSET, root_value: Any = UNSET
    ) -> Response | WebSocket:
        if self.is_websocket_request(request):
            return await super().run(request, context, root_value)
        accept = request.headers.get("accept")
        try:
            response = await super().run(request, context, root_value)
        except HTTPException as error:
            if isinstance(error.__cause__, InvalidOperationTypeError) and request.scope["method"] == "GET":
                # GraphQL over HTTP: a mutation sent with GET is a method the operation does not allow.
                return error_response(405, error.reason, accept=accept, headers={"Allow": "POST"})
            return transport_error_response(error, accept)
        if not isinstance(response, Response):
            return response
        if response_media_type(accept) == GRAPHQL_RESPONSE_JSON and response.media_type == JSON:
            response.headers["content-type"] = GRAPHQL_RESPONSE_JSON
            single = not bytes(response.body).startswith(b"[")
            if (
                single
                and response.status_code == 200
                and request.scope.get("state", {}).get(_REQUEST_ERROR_STATE)
            ):
                response.status_code = 400
        return response

    async def parse_http_body(
        self, request: AsyncHTTPRequestAdapter
    ) -> GraphQLRequestData | list[GraphQLRequestData]:
        if request.method == "GET":
            data = operation_from_query_params(request.query_params, self.operation_limits)
        else:
            require_json_content_type(request.content_type)
            data = await decode_operations(await request.get_body(), self.operation_limits)
        if isinstance(data, list):
            if self.schema.config.batching_config is None:
                raise TransportError(400, "Batching is not enabled.")
            return [_request_data(operation) for operation in data]
        return _request_data(data)

    async def process_result(self, request: Request, result: ExecutionResult) -> GraphQLHTTPResponse:
        """Under `application/graphql-response+json`, a request error answers without `data` (and 400)."""
        body = await super().process_result(request, result)
        if (
            request.scope["type"] == "http"
            and is_request_error(result)
            and response_media_type(request.headers.get("accept")) == GRAPHQL_RESPONSE_JSON
        ):
            body.pop("data", None)
            request.scope.setdefault("state", {})[_REQUEST_ERROR_STATE] = True
        return body
