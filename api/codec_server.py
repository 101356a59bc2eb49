"""The codec server for the Temporal Web UI: decodes (and encodes) Lodestar's encrypted payloads over HTTP.

It speaks Temporal's remote codec protocol: `POST /codec/decode` and `POST /codec/encode` with a JSON body
`{"payloads": [{"metadata": {"encoding": "<base64>", ...}, "data": "<base64>"}]}` (the protobuf JSON form of
`temporal.api.common.v1.Payloads`), answering the same shape. The UI calls it from the browser, so CORS
allows the UI's origin(s) only (`--ui-origin`, `LODESTAR_CODEC_CORS_ORIGINS`), with the headers the UI
sends (`Content-Type`, `X-Namespace`, `Authorization`).

Whoever can reach it can read every payload in clear: it listens on loopback by default, and with
`LODESTAR_CODEC_TOKEN` set it answers only requests with `Authorization: Bearer <token>` (set the UI's
"pass access token" option, or put it behind your SSO proxy). `lodestar codec-server` serves it.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Sequence
from typing import Any, cast

from google.protobuf.json_format import MessageToDict, ParseDict, ParseError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from temporalio.api.common.v1 import Payloads
from temporalio.converter import PayloadCodec

from workflows.codec import PayloadKeyError

MAX_BODY_BYTES = 16 * 1024 * 1024
TOKEN_VARIABLE = "LODESTAR_CODEC_TOKEN"
ORIGINS_VARIABLE = "LODESTAR_CODEC_CORS_ORIGINS"


def codec_app(codec: PayloadCodec, *, ui_origins: Sequence[str], token: str | None = None) -> Starlette:
    """The codec server's ASGI app over `codec`; `ui_origins` are the Temporal UI origins CORS allows."""

    def authorised(request: Request) -> bool:
        if not token:
            return True
        presented = request.headers.get("authorization", "")
        return hmac.compare_digest(presented.encode(), f"Bearer {token}".encode())

    async def transform(request: Request, *, decode: bool) -> Response:
        if not authorised(request):
            return JSONResponse({"message": "a valid bearer token is required"}, status_code=401)
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            return JSONResponse({"message": f"at most {MAX_BODY_BYTES} bytes"}, status_code=413)
        try:
            payloads = ParseDict(_json(body), Payloads())
        except (ParseError, ValueError) as error:
            return JSONResponse({"message": f"not a Payloads JSON document: {error}"}, status_code=400)
        try:
            changed = await (codec.decode if decode else codec.encode)(list(payloads.payloads))
        except PayloadKeyError as error:
            return JSONResponse({"message": str(error)}, status_code=422)
        return JSONResponse(MessageToDict(Payloads(payloads=changed)))

    async def decode(request: Request) -> Response:
        return await transform(request, decode=True)

    async def encode(request: Request) -> Response:
        return await transform(request, decode=False)

    return Starlette(
        routes=[
            Route("/codec/decode", decode, methods=["POST"]),
            Route("/codec/encode", encode, methods=["POST"]),
        ],
        middleware=[
            Middleware(
                CORSMiddleware,
                allow_origins=list(ui_origins),
                allow_methods=["POST", "OPTIONS"],
                allow_headers=["Content-Type", "X-Namespace", "Authorization"],
                allow_credentials=True,
            )
        ],
    )


def _json(body: bytes) -> dict[str, Any]:
    document = json.loads(body or b"{}")
    if not isinstance(document, dict):
        raise ValueError("expected a JSON object")
    return cast(dict[str, Any], document)
