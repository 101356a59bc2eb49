"""A scripted model server on loopback, for tests of the real provider path: OpenAI chat completions, the
Anthropic Messages API and Gemini's generateContent.

`ScriptedOpenAIServer` is a real HTTP server (the standard library's threading server, in a thread) that
plays a `Script` in three wire formats (dialects), tool calls included:

- `POST /v1/chat/completions`: OpenAI chat completions (`base_url`, an OpenAI-compatible base URL);
- `POST /v1/messages`: the Anthropic Messages API (`anthropic_base_url`, the root the anthropic SDK posts
  `/v1/messages` under). The request (system, messages with text / tool_use / tool_result blocks, tools
  with input_schema) is translated into the chat-completions request every script reads
  (`chat_body_from_anthropic`), and the script's reply back into a Messages API answer or error
  (`anthropic_reply`), so every script plays unchanged in both dialects;
- `POST /v1beta/models/<model>:generateContent`: the Gemini API (`gemini_base_url`, the root the google-genai
  SDK posts under, `GOOGLE_GEMINI_BASE_URL`), translated the same way (`chat_body_from_gemini`: contents with
  text / functionCall / functionResponse parts, systemInstruction, tools' functionDeclarations; and
  `gemini_reply`: candidates, finishReason, usageMetadata, or `{"error": {code, message, status}}`).

Every request it receives is recorded (`requests`: method, path, dialect, headers without credentials,
the JSON body as it came on the wire), so a test can assert what reached "the model".

Scripts answer from the wire alone. The well-behaved answer comes from the Lodestar agent's own offline
planner (`agents.*_agent.OFFLINE_PLAN`), chosen by the tools the request offers, fed with the
conversation rebuilt from the request's messages: it calls the agent's tools in order, then answers with
output built from the tool results (real ids, real figures). The other scripts bend that answer: an
unknown cited id, invalid JSON, a slow first attempt, a 429 with Retry-After, a 500.

Usage reported by the server is synthetic and deterministic: prompt tokens = ceil(len(request body) / 4),
completion tokens = ceil(len(answer arguments) / 4) + 1 (of the chat-completions request and answer, in
every dialect); each delivered reply's usage block, as sent (`prompt_tokens` / `completion_tokens`,
Anthropic's `input_tokens` / `output_tokens`, or Gemini's `usageMetadata` `promptTokenCount` /
`candidatesTokenCount`), is in its `RecordedRequest.usage` and read by
`RecordedRequest.tokens`, so a test can check the usage a run recorded against what the server sent.

    with ScriptedOpenAIServer(well_behaved()) as server:
        ...  # LODESTAR_MODEL=server.base_url, LODESTAR_MODEL_NAME=server.model_name
        server.requests  # what was sent

The `scripted_openai` fixture (tests/conftest.py) starts one per test; `scripted_anthropic` configures it
as the Anthropic provider (`LODESTAR_MODEL=anthropic:...`, `ANTHROPIC_BASE_URL`, `ANTHROPIC_API_KEY`),
`scripted_google` as the Gemini API (`LODESTAR_MODEL=google:...`, `GOOGLE_GEMINI_BASE_URL`, `GOOGLE_API_KEY`).
"""

from __future__ import annotations

import copy
import itertools
import json
import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal, cast
from urllib.parse import urlsplit

from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    ModelResponsePart,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)
from pydantic_ai.models import ModelRequestParameters
from pydantic_ai.models.function import AgentInfo, FunctionDef
from pydantic_ai.tools import ToolDefinition

DEFAULT_MODEL_NAME = "scripted-model"
OUTPUT_TOOL_NAME = "final_result"
"""pydantic-ai's name for the tool that carries an agent's structured output."""
UNKNOWN_ID = "f-does-not-exist"
CREDENTIAL_HEADERS = frozenset({"authorization", "api-key", "x-api-key", "openai-api-key", "x-goog-api-key"})

JsonObject = dict[str, Any]
Dialect = Literal["openai", "anthropic", "gemini"]
"""The wire format of a model request: OpenAI chat completions, the Anthropic Messages API or Gemini's
generateContent."""
GEMINI_ROUTE = ":generateContent"
"""How the route of a Gemini request ends: `/v1beta/models/<model>:generateContent` (google-genai's
`models.generate_content`; pydantic-ai's GoogleModel does not stream in an agent run's requests)."""


def dialect_of(path: str) -> Dialect | None:
    """The dialect of a request to `path` (None: no model route)."""
    route = urlsplit(path).path.rstrip("/")
    if route.endswith("/chat/completions"):
        return "openai"
    if route == "/v1/messages":
        return "anthropic"
    if route.endswith(GEMINI_ROUTE) and "/models/" in route:
        return "gemini"
    return None


def gemini_model_of(path: str) -> str:
    """The model a Gemini request names in its route (`/v1beta/models/<model>:generateContent`)."""
    route = urlsplit(path).path.rstrip("/")
    return route.rpartition("/models/")[2].removesuffix(GEMINI_ROUTE)


@dataclass(frozen=True)
class RecordedRequest:
    """One request the server received, as it arrived (credential headers removed)."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    """The parsed JSON body (None when the body was empty or not JSON)."""
    body_text: str
    """The body as text (JSON with non-ASCII characters unescaped, for scanning)."""
    authorized: bool
    """Whether a credential header (`Authorization`, `x-api-key`, ...) came with it (its value is never
    recorded)."""
    status: int = 0
    """The status the server answered with (0 while the answer is pending)."""
    usage: JsonObject | None = None
    """The usage block of a delivered 200 answer."""
    delayed: bool = False
    """Whether the script held the answer back (a timeout script): the client may have given up on it."""
    received_at: float = 0.0
    """`time.monotonic()` when the request arrived."""
    dialect: Dialect | None = None
    """The wire format of the route it was sent to (None: no model route)."""

    @property
    def tool_names(self) -> list[str]:
        """The names of the tools the request offered, in any dialect."""
        body = cast(JsonObject, self.body) if isinstance(self.body, dict) else {}
        tools = cast(list[JsonObject], body.get("tools") or [])
        if self.dialect == "gemini":
            return [str(d["name"]) for d in _function_declarations(tools) if "name" in d]
        if self.dialect == "anthropic":
            return [str(tool["name"]) for tool in tools if "name" in tool]
        return [tool["function"]["name"] for tool in tools if tool.get("type") == "function"]

    @property
    def tokens(self) -> tuple[int, int]:
        """(input, output) tokens of the usage block delivered with it ((0, 0) without one)."""
        usage = self.usage or {}
        if self.dialect == "gemini":
            return int(usage.get("promptTokenCount", 0)), int(usage.get("candidatesTokenCount", 0))
        if self.dialect == "anthropic":
            return int(usage.get("input_tokens", 0)), int(usage.get("output_tokens", 0))
        return int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0))


@dataclass(frozen=True)
class ChatRequest:
    """What a script sees of one model request: a chat-completions body (an Anthropic or Gemini request
    translated)."""

    body: JsonObject
    attempt: int
    """1 for the first time this exact body arrived, 2 for its first retry, ..."""
    number: int
    """1 for the server's first chat request, then one more for each (across all conversations)."""

    @property
    def messages(self) -> list[JsonObject]:
        return cast(list[JsonObject], self.body.get("messages", []))

    @property
    def tool_names(self) -> list[str]:
        tools = cast(list[JsonObject], self.body.get("tools", []))
        return [tool["function"]["name"] for tool in tools if tool.get("type") == "function"]

    @property
    def output_retries(self) -> int:
        """How many times the agent has sent the output back (retry prompts answering the output tool)."""
        calls = _tool_call_names(self.messages)
        return sum(
            1
            for message in self.messages
            if message.get("role") == "tool"
            and calls.get(message.get("tool_call_id", "")) == OUTPUT_TOOL_NAME
        )

    @property
    def retry_prompts(self) -> int:
        """How many retry prompts of any kind (bad arguments, output validation) the conversation holds."""
        return len(
            [part for message in self.conversation() for part in message.parts if _is_retry_prompt(part)]
        )

    def conversation(self) -> list[ModelMessage]:
        """The messages rebuilt as pydantic-ai messages, as the agent's offline planner reads them."""
        return conversation_from_wire(self.messages)


@dataclass(frozen=True)
class Reply:
    """What the server answers: a status, a JSON body, headers, and how long to wait first."""

    status: int
    body: JsonObject
    headers: Mapping[str, str] = field(default_factory=dict[str, str])
    delay_seconds: float = 0.0


Script = Callable[[ChatRequest], Reply]
"""Answers one chat request."""


# --- the server ---------------------------------------------------------------------------------------


class ScriptedOpenAIServer:
    """A real HTTP server on 127.0.0.1 (a free port) playing `script`; see the module docstring."""

    def __init__(self, script: Script | None = None, *, model_name: str = DEFAULT_MODEL_NAME) -> None:
        self.script: Script = script or well_behaved()
        self.model_name = model_name
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._attempts: dict[str, int] = {}
        self._numbers = itertools.count(1)
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # lifecycle

    def start(self) -> ScriptedOpenAIServer:
        server = self
        handler = type("ScriptedHandler", (_Handler,), {"scripted": server})
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        httpd.daemon_threads = True
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, name="scripted-openai", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> ScriptedOpenAIServer:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # what tests use

    @property
    def port(self) -> int:
        assert self._httpd is not None, "the server is not running"
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        """The OpenAI-compatible base URL (`LODESTAR_MODEL`)."""
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def anthropic_base_url(self) -> str:
        """The Anthropic API root (`ANTHROPIC_BASE_URL`): the SDK posts to `{root}/v1/messages`."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def gemini_base_url(self) -> str:
        """The Gemini API root (`GOOGLE_GEMINI_BASE_URL`): the SDK posts to
        `{root}/v1beta/models/<model>:generateContent`."""
        return f"http://127.0.0.1:{self.port}"

    def play(self, script: Script) -> None:
        """Answer from now on with `script` (the request log and attempt counts are kept)."""
        self.script = script

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, oldest first."""
        with self._lock:
            return list(self._requests)

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        """The OpenAI chat-completions requests."""
        return [r for r in self.model_requests if r.dialect == "openai"]

    @property
    def messages_requests(self) -> list[RecordedRequest]:
        """The Anthropic Messages API requests."""
        return [r for r in self.model_requests if r.dialect == "anthropic"]

    @property
    def gemini_requests(self) -> list[RecordedRequest]:
        """The Gemini generateContent requests."""
        return [r for r in self.model_requests if r.dialect == "gemini"]

    @property
    def model_requests(self) -> list[RecordedRequest]:
        """The requests to a model route, in any dialect."""
        return [r for r in self.requests if r.method == "POST" and r.dialect is not None]

    def delivered_usage(self) -> tuple[int, int, int]:
        """(requests, prompt tokens, completion tokens) of the 200 answers delivered without delay."""
        return delivered_usage(self.model_requests)

    def request_texts(self) -> list[str]:
        """Each request's headers and body as text, for scanning what reached the model."""
        return [json.dumps(r.headers, ensure_ascii=False) + "\n" + r.body_text for r in self.requests]

    # called by the handler

    def _record(self, recorded: RecordedRequest) -> int:
        with self._lock:
            self._requests.append(recorded)
            return len(self._requests) - 1

    def _update(self, index: int, **changes: Any) -> None:
        with self._lock:
            current = self._requests[index]
            self._requests[index] = RecordedRequest(**{**current.__dict__, **changes})

    def _answer(self, raw: bytes, body: Any, dialect: Dialect, path: str = "") -> Reply:
        if not isinstance(body, dict):
            return error_reply(400, "the body must be a JSON object")
        wire_body = cast(JsonObject, body)
        if wire_body.get("stream"):
            return error_reply(400, "the scripted server does not stream")
        if dialect == "anthropic":
            chat_body = chat_body_from_anthropic(wire_body)
        elif dialect == "gemini":
            chat_body = chat_body_from_gemini(wire_body, gemini_model_of(path))
        else:
            chat_body = wire_body
        with self._lock:
            key = raw.decode("utf-8", "replace")
            attempt = self._attempts.get(key, 0) + 1
            self._attempts[key] = attempt
            number = next(self._numbers)
        return self.script(ChatRequest(body=chat_body, attempt=attempt, number=number))


class _Handler(BaseHTTPRequestHandler):
    scripted: ScriptedOpenAIServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the request log is the record."""

    def _receive(self) -> tuple[bytes, Any, int]:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body: Any = json.loads(raw) if raw else None
        except json.JSONDecodeError:
            body = None
        received = {k.lower() for k in self.headers}
        headers = {k.lower(): v for k, v in self.headers.items() if k.lower() not in CREDENTIAL_HEADERS}
        index = self.scripted._record(  # pyright: ignore[reportPrivateUsage]
            RecordedRequest(
                method=self.command,
                path=self.path,
                headers=headers,
                body=body,
                body_text=json.dumps(body, ensure_ascii=False)
                if body is not None
                else raw.decode("utf-8", "replace"),
                authorized=bool(received & CREDENTIAL_HEADERS),
                received_at=time.monotonic(),
                dialect=dialect_of(self.path),
            )
        )
        return raw, body, index

    def _send(self, index: int, reply: Reply) -> None:
        if reply.delay_seconds:
            self.scripted._update(index, delayed=True)  # pyright: ignore[reportPrivateUsage]
            time.sleep(reply.delay_seconds)
        payload = json.dumps(reply.body).encode()
        usage = (reply.body.get("usage") or reply.body.get("usageMetadata")) if reply.status == 200 else None
        self.scripted._update(index, status=reply.status, usage=usage)  # pyright: ignore[reportPrivateUsage]
        try:
            self.send_response(reply.status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(payload)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up waiting (a timeout script)

    def do_POST(self) -> None:
        raw, body, index = self._receive()
        dialect = dialect_of(self.path)
        if dialect is None:
            self._send(index, error_reply(404, f"no route {self.path}"))
            return
        try:
            reply = self.scripted._answer(raw, body, dialect, self.path)  # pyright: ignore[reportPrivateUsage]
        except Exception as error:  # a script bug must show as a clear 500, not a hung client
            reply = error_reply(500, f"script error: {type(error).__name__}: {error}")
        if dialect == "anthropic":
            reply = anthropic_reply(reply)
        elif dialect == "gemini":
            reply = gemini_reply(reply)
        self._send(index, reply)

    def do_GET(self) -> None:
        _raw, _body, index = self._receive()
        self._send(index, error_reply(404, f"no route {self.path}"))


# --- wire format <-> pydantic-ai messages -------------------------------------------------------------


def _tool_call_names(messages: Sequence[JsonObject]) -> dict[str, str]:
    return {
        call["id"]: call["function"]["name"]
        for message in messages
        if message.get("role") == "assistant"
        for call in message.get("tool_calls") or []
    }


def _is_retry_prompt(part: object) -> bool:
    return isinstance(part, ToolReturnPart) and part.outcome != "success"


def _is_tool_result(content: str) -> bool:
    """Whether a tool message holds a tool's result, not pydantic-ai's `{"error": ...}` retry feedback."""
    try:
        value = json.loads(content)
    except json.JSONDecodeError:
        return False
    return not (isinstance(value, dict) and set(cast(JsonObject, value)) == {"error"})


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            str(item.get("text", "")) for item in cast(list[JsonObject], content) if isinstance(item, dict)
        )
    return "" if content is None else str(content)


def conversation_from_wire(messages: Sequence[JsonObject]) -> list[ModelMessage]:
    """Chat-completions messages as pydantic-ai messages: a tool message is a successful tool result unless
    it is pydantic-ai's retry feedback (`{"error": ...}`, or text; or, translated from Anthropic or Gemini,
    `is_error`), which becomes a `retried` tool return."""
    names = _tool_call_names(messages)
    rebuilt: list[ModelMessage] = []
    for message in messages:
        role = message.get("role")
        if role == "assistant":
            parts: list[ModelResponsePart] = [
                ToolCallPart(call["function"]["name"], call["function"]["arguments"], tool_call_id=call["id"])
                for call in message.get("tool_calls") or []
            ]
            if text := _text(message.get("content")):
                parts.insert(0, TextPart(text))
            rebuilt.append(ModelResponse(parts=parts))
        elif role == "tool":
            call_id = message.get("tool_call_id", "")
            content = _text(message.get("content"))
            name = names.get(call_id, "unknown")
            if "is_error" in message:  # translated from the Anthropic or Gemini dialect, which says so
                outcome = "retried" if message["is_error"] else "success"
            else:
                outcome = "success" if _is_tool_result(content) else "retried"
            rebuilt.append(
                ModelRequest(parts=[ToolReturnPart(name, content, tool_call_id=call_id, outcome=outcome)])
            )
        elif role == "user":
            rebuilt.append(ModelRequest(parts=[UserPromptPart(_text(message.get("content")))]))
    return rebuilt


def chat_completion(
    model_name: str,
    request: ChatRequest,
    *,
    tool_calls: Sequence[tuple[str, str]] = (),
    text: str | None = None,
) -> Reply:
    """A 200 chat completion calling `tool_calls` ((name, arguments JSON text) pairs) or answering `text`."""
    calls = [
        {
            "id": f"call_{request.number}_{i}",
            "type": "function",
            "function": {"name": name, "arguments": args},
        }
        for i, (name, args) in enumerate(tool_calls)
    ]
    message: JsonObject = {"role": "assistant", "content": text}
    if calls:
        message["tool_calls"] = calls
    prompt_tokens = math.ceil(len(json.dumps(request.body)) / 4)
    completion_tokens = math.ceil(len("".join(args for _, args in tool_calls) + (text or "")) / 4) + 1
    return Reply(
        200,
        {
            "id": f"chatcmpl-scripted-{request.number}",
            "object": "chat.completion",
            "created": 1_764_000_000 + request.number,
            "model": model_name,
            "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls" if calls else "stop"}],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        },
    )


def error_reply(status: int, message: str, headers: Mapping[str, str] | None = None) -> Reply:
    kind = {429: "rate_limit_exceeded", 500: "server_error"}.get(status, "invalid_request_error")
    return Reply(
        status, {"error": {"message": message, "type": kind, "code": kind, "param": None}}, headers or {}
    )


def delivered_usage(requests: Sequence[RecordedRequest]) -> tuple[int, int, int]:
    """(answers, input tokens, output tokens) of the 200 answers among `requests` delivered without delay."""
    answered = [r.tokens for r in requests if r.status == 200 and not r.delayed and r.usage]
    return len(answered), sum(i for i, _ in answered), sum(o for _, o in answered)


# --- the Anthropic Messages dialect -------------------------------------------------------------------

ANTHROPIC_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


def _blocks(content: Any) -> list[JsonObject]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if isinstance(content, list):
        return [block for block in cast(list[Any], content) if isinstance(block, dict)]
    return []


def _arguments(tool_input: Any) -> str:
    """A tool_use block's input as chat-completions arguments text (a string passes as it is)."""
    return tool_input if isinstance(tool_input, str) else json.dumps(tool_input)


def chat_body_from_anthropic(body: JsonObject) -> JsonObject:
    """An Anthropic Messages request as the chat-completions request the scripts read: the system prompt a
    system message, tool_use blocks assistant tool calls, each tool_result block a tool message (with its
    `is_error`), text blocks user or assistant content, tools (name, description, input_schema) functions."""
    messages: list[JsonObject] = []
    if system := _text(body.get("system")):
        messages.append({"role": "system", "content": system})
    for message in cast(list[JsonObject], body.get("messages") or []):
        blocks = _blocks(message.get("content"))
        text = "".join(str(b.get("text", "")) for b in blocks if b.get("type") == "text")
        if message.get("role") == "assistant":
            calls = [
                {
                    "id": b["id"],
                    "type": "function",
                    "function": {"name": b["name"], "arguments": _arguments(b.get("input"))},
                }
                for b in blocks
                if b.get("type") == "tool_use"
            ]
            assistant: JsonObject = {"role": "assistant", "content": text or None}
            if calls:
                assistant["tool_calls"] = calls
            messages.append(assistant)
        elif message.get("role") == "user":
            messages.extend(
                {
                    "role": "tool",
                    "tool_call_id": b.get("tool_use_id", ""),
                    "content": _text(b.get("content")),
                    "is_error": bool(b.get("is_error")),
                }
                for b in blocks
                if b.get("type") == "tool_result"
            )
            if text:
                messages.append({"role": "user", "content": text})
    tools = [
        {
            "type": "function",
            "function": {
                "name": tool["name"],
                "description": tool.get("description"),
                "parameters": tool.get("input_schema") or {"type": "object"},
            },
        }
        for tool in cast(list[JsonObject], body.get("tools") or [])
        if "name" in tool and tool.get("type", "custom") == "custom"
    ]
    chat: JsonObject = {"model": body.get("model"), "messages": messages}
    if tools:
        chat["tools"] = tools
    return chat


def anthropic_reply(reply: Reply) -> Reply:
    """A script's chat-completions reply as a Messages API answer (text and tool_use blocks, stop_reason,
    usage in input/output tokens), or an error in Anthropic's shape with the same status and headers."""
    if reply.status != 200:
        message = str(reply.body.get("error", {}).get("message", "error"))
        kind = ANTHROPIC_ERROR_TYPES.get(
            reply.status, "api_error" if reply.status >= 500 else "invalid_request_error"
        )
        body: JsonObject = {"type": "error", "error": {"type": kind, "message": message}}
        return Reply(reply.status, body, reply.headers, reply.delay_seconds)
    choice = reply.body["choices"][0]
    message = choice["message"]
    content: list[JsonObject] = []
    if message.get("content"):
        content.append({"type": "text", "text": message["content"]})
    for call in message.get("tool_calls") or []:
        arguments = call["function"]["arguments"]
        try:
            tool_input: Any = json.loads(arguments)
        except json.JSONDecodeError:
            tool_input = arguments  # invalid JSON (a script's bent answer) passes as a string
        content.append(
            {
                "type": "tool_use",
                "id": f"toolu_{call['id']}",
                "name": call["function"]["name"],
                "input": tool_input,
            }
        )
    usage = reply.body["usage"]
    body = {
        "id": reply.body["id"].replace("chatcmpl", "msg"),
        "type": "message",
        "role": "assistant",
        "model": reply.body["model"],
        "content": content,
        "stop_reason": "tool_use" if any(b["type"] == "tool_use" for b in content) else "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": usage["prompt_tokens"], "output_tokens": usage["completion_tokens"]},
    }
    return Reply(200, body, reply.headers, reply.delay_seconds)


# --- the Gemini generateContent dialect ---------------------------------------------------------------

GEMINI_ERROR_STATUSES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "NOT_IMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
"""google.rpc status names by HTTP status, as the Gemini API sends them in `error.status`."""
GEMINI_RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"


def _field(mapping: JsonObject, camel: str) -> Any:
    """`mapping[camel]`, or its snake_case spelling (google-genai sends some keys as the caller spelt them)."""
    if camel in mapping:
        return mapping[camel]
    return mapping.get("".join(f"_{c.lower()}" if c.isupper() else c for c in camel))


def _function_declarations(tools: Sequence[JsonObject]) -> list[JsonObject]:
    return [
        declaration
        for tool in tools
        for declaration in cast(list[JsonObject], _field(tool, "functionDeclarations") or [])
        if isinstance(declaration, dict)
    ]


def _gemini_parts(content: Any) -> list[JsonObject]:
    if not isinstance(content, dict):
        return []
    parts = cast(JsonObject, content).get("parts") or []
    return [part for part in cast(list[Any], parts) if isinstance(part, dict)]


def _function_response_content(response: Any) -> tuple[str, bool]:
    """A functionResponse's `response` as chat-completions tool content, and whether it reports an error:
    pydantic-ai sends a failed call or an output sent back as `{"error": text}` (Gemini's error channel), a
    non-object tool result as `{"return_value": value}`, and an object result as it is."""
    if not isinstance(response, dict):
        return _text(response), False
    value = cast(JsonObject, response)
    if set(value) == {"error"}:
        return _text(value["error"]), True
    if set(value) == {"return_value"}:
        inner = value["return_value"]
        return (inner if isinstance(inner, str) else json.dumps(inner)), False
    return json.dumps(value), False


def chat_body_from_gemini(body: JsonObject, model: str) -> JsonObject:
    """A Gemini generateContent request as the chat-completions request the scripts read: systemInstruction a
    system message, a model turn's text and functionCall parts assistant content and tool calls, each
    functionResponse part a tool message (with `is_error`), user text a user message, the tools'
    functionDeclarations (name, description, parameters) functions. A call and its response are paired by
    their `id`, or, without one, by name in order."""
    messages: list[JsonObject] = []
    system = _field(body, "systemInstruction")
    if system_text := "".join(str(p.get("text", "")) for p in _gemini_parts(system)):
        messages.append({"role": "system", "content": system_text})
    pending: dict[str, list[str]] = {}
    synthesized = itertools.count(1)
    for content in cast(list[JsonObject], body.get("contents") or []):
        parts = _gemini_parts(content)
        text = "".join(str(p.get("text", "")) for p in parts if "text" in p and not p.get("thought"))
        if content.get("role") == "model":
            calls: list[JsonObject] = []
            for part in parts:
                call = _field(part, "functionCall")
                if not isinstance(call, dict):
                    continue
                call = cast(JsonObject, call)
                call_id = str(call.get("id") or f"gemini_call_{next(synthesized)}")
                pending.setdefault(str(call.get("name", "")), []).append(call_id)
                calls.append(
                    {
                        "id": call_id,
                        "type": "function",
                        "function": {
                            "name": call.get("name", ""),
                            "arguments": json.dumps(call.get("args") or {}),
                        },
                    }
                )
            assistant: JsonObject = {"role": "assistant", "content": text or None}
            if calls:
                assistant["tool_calls"] = calls
            messages.append(assistant)
            continue
        for part in parts:
            result = _field(part, "functionResponse")
            if not isinstance(result, dict):
                continue
            result = cast(JsonObject, result)
            waiting = pending.get(str(result.get("name", "")), [])
            call_id = str(result.get("id") or (waiting[0] if waiting else ""))
            if call_id in waiting:
                waiting.remove(call_id)
            tool_content, is_error = _function_response_content(result.get("response"))
            messages.append(
                {"role": "tool", "tool_call_id": call_id, "content": tool_content, "is_error": is_error}
            )
        if text:
            messages.append({"role": "user", "content": text})
    tools = [
        {
            "type": "function",
            "function": {
                "name": declaration["name"],
                "description": declaration.get("description"),
                "parameters": _field(declaration, "parametersJsonSchema")
                or declaration.get("parameters")
                or {"type": "object"},
            },
        }
        for declaration in _function_declarations(cast(list[JsonObject], body.get("tools") or []))
        if "name" in declaration
    ]
    chat: JsonObject = {"model": model, "messages": messages}
    if tools:
        chat["tools"] = tools
    return chat


def gemini_error(status: int, message: str, headers: Mapping[str, str] | None = None) -> JsonObject:
    """Google's error body: `{"error": {code, message, status}}`; a 429 whose `headers` carry `Retry-After`
    also says the wait in a `google.rpc.RetryInfo` detail, as the Gemini API does."""
    error: JsonObject = {
        "code": status,
        "message": message,
        "status": GEMINI_ERROR_STATUSES.get(status, "INTERNAL" if status >= 500 else "INVALID_ARGUMENT"),
    }
    retry_after = {k.lower(): v for k, v in (headers or {}).items()}.get("retry-after")
    if status == 429 and retry_after is not None:
        error["details"] = [{"@type": GEMINI_RETRY_INFO, "retryDelay": f"{retry_after}s"}]
    return {"error": error}


def _gemini_args(arguments: str) -> JsonObject:
    """Chat-completions arguments as a functionCall's `args`, which Gemini sends as a JSON object only: text
    that is no JSON object (a script's invalid JSON) passes as `{"arguments": text}`, which fails the tool's
    validation as invalid arguments would."""
    try:
        value: Any = json.loads(arguments)
    except json.JSONDecodeError:
        value = None
    return cast(JsonObject, value) if isinstance(value, dict) else {"arguments": arguments}


def gemini_reply(reply: Reply) -> Reply:
    """A script's chat-completions reply as a generateContent answer (one candidate whose content holds text
    and functionCall parts, as Gemini sends them: without ids, `finishReason` STOP, `usageMetadata` with
    the same token counts), or an error in Google's shape with the same status and headers."""
    if reply.status != 200:
        message = str(reply.body.get("error", {}).get("message", "error"))
        return Reply(
            reply.status,
            gemini_error(reply.status, message, reply.headers),
            reply.headers,
            reply.delay_seconds,
        )
    choice = reply.body["choices"][0]
    message = choice["message"]
    parts: list[JsonObject] = []
    if message.get("content"):
        parts.append({"text": message["content"]})
    parts.extend(
        {
            "functionCall": {
                "name": call["function"]["name"],
                "args": _gemini_args(call["function"]["arguments"]),
            }
        }
        for call in message.get("tool_calls") or []
    )
    usage = reply.body["usage"]
    body: JsonObject = {
        "candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": "STOP", "index": 0}],
        "usageMetadata": {
            "promptTokenCount": usage["prompt_tokens"],
            "candidatesTokenCount": usage["completion_tokens"],
            "totalTokenCount": usage["prompt_tokens"] + usage["completion_tokens"],
        },
        "modelVersion": reply.body["model"],
        "responseId": reply.body["id"].replace("chatcmpl", "gemini"),
    }
    return Reply(200, body, reply.headers, reply.delay_seconds)


# --- the planner: the agent's own offline plan, on the wire ------------------------------------------


def known_planners() -> dict[str, FunctionDef]:
    """A tool that only one agent has -> that agent's offline plan."""
    from agents import risk_agent, roadmap_agent, scenario_agent

    planners: dict[str, FunctionDef] = {
        "simulate_requested_scenarios": scenario_agent.OFFLINE_PLAN,
        "draft_plan": roadmap_agent.OFFLINE_PLAN,
        "assess_risks": risk_agent.OFFLINE_PLAN,
    }
    try:
        from agents import insight_agent
    except ImportError:  # built by another change; absent before it lands
        return planners
    planners["insight_overview"] = insight_agent.OFFLINE_PLAN
    return planners


def planner_for(request: ChatRequest) -> FunctionDef:
    planners = known_planners()
    for name in request.tool_names:
        if name in planners:
            return planners[name]
    raise LookupError(f"no Lodestar agent offers the tools {request.tool_names}")


def planned_response(request: ChatRequest, planner: FunctionDef | None = None) -> ModelResponse:
    """What the agent's offline planner would answer to this conversation."""
    plan = planner or planner_for(request)
    tools = cast(list[JsonObject], request.body.get("tools", []))
    definitions = [
        ToolDefinition(
            name=tool["function"]["name"],
            parameters_json_schema=tool["function"].get("parameters") or {"type": "object"},
            description=tool["function"].get("description"),
        )
        for tool in tools
    ]
    info = AgentInfo(
        function_tools=[d for d in definitions if d.name != OUTPUT_TOOL_NAME],
        allow_text_output=False,
        output_tools=[d for d in definitions if d.name == OUTPUT_TOOL_NAME],
        model_settings=None,
        model_request_parameters=ModelRequestParameters(),
        instructions=None,
    )
    response = plan(request.conversation(), info)
    assert isinstance(response, ModelResponse), "the offline planners answer synchronously"
    return response


def planned_calls(request: ChatRequest, planner: FunctionDef | None = None) -> list[tuple[str, JsonObject]]:
    response = planned_response(request, planner)
    return [
        (part.tool_name, part.args_as_dict()) for part in response.parts if isinstance(part, ToolCallPart)
    ]


def _reply_with(request: ChatRequest, calls: Sequence[tuple[str, JsonObject | str]]) -> Reply:
    return chat_completion(
        DEFAULT_MODEL_NAME,
        request,
        tool_calls=[(name, args if isinstance(args, str) else json.dumps(args)) for name, args in calls],
    )


def _is_final(calls: Sequence[tuple[str, JsonObject]]) -> bool:
    return any(name == OUTPUT_TOOL_NAME for name, _ in calls)


# --- scripts ------------------------------------------------------------------------------------------


def well_behaved(planner: FunctionDef | None = None) -> Script:
    """(a) Calls the agent's tools as its offline planner does, then answers with valid output."""

    def script(request: ChatRequest) -> Reply:
        return _reply_with(request, planned_calls(request, planner))

    return script


def _with_unknown_id(output: JsonObject, unknown_id: str) -> JsonObject:
    """`output` with `unknown_id` added to the first `evidence_ids` list found in it."""
    bent = copy.deepcopy(output)

    def visit(value: Any) -> bool:
        if isinstance(value, dict):
            mapping = cast(JsonObject, value)
            if isinstance(mapping.get("evidence_ids"), list):
                mapping["evidence_ids"] = [*mapping["evidence_ids"], unknown_id]
                return True
            return any(visit(child) for child in mapping.values())
        if isinstance(value, list):
            return any(visit(child) for child in cast(list[Any], value))
        return False

    if not visit(bent):
        raise LookupError("the output has no evidence_ids to bend")
    return bent


def cites_unknown_id(
    planner: FunctionDef | None = None, *, times: int = 1, unknown_id: str = UNKNOWN_ID
) -> Script:
    """(b) The first `times` final answers cite `unknown_id` (no tool returned it); then a correct answer."""

    def script(request: ChatRequest) -> Reply:
        calls = planned_calls(request, planner)
        if _is_final(calls) and request.output_retries < times:
            calls = [
                (name, _with_unknown_id(args, unknown_id) if name == OUTPUT_TOOL_NAME else args)
                for name, args in calls
            ]
        return _reply_with(request, calls)

    return script


INVALID_JSON = '{"headline": "unterminated'


def invalid_json(planner: FunctionDef | None = None, *, times: int = 1) -> Script:
    """(c) The first tool call's arguments (in each conversation) and the first `times` final answers are invalid JSON; pydantic-ai
    sends each back and the script then answers correctly. With `times` above the agent's retries, the run
    fails."""

    def script(request: ChatRequest) -> Reply:
        calls = planned_calls(request, planner)
        if _conversation_step(request) == 1 and not _is_final(calls):
            return _reply_with(request, [(name, INVALID_JSON) for name, _ in calls])
        if _is_final(calls) and request.output_retries < times:
            return _reply_with(request, [(name, INVALID_JSON) for name, _ in calls])
        return _reply_with(request, calls)

    return script


def slow(
    delay_seconds: float, planner: FunctionDef | None = None, *, attempts: int = 1, request_number: int = 1
) -> Script:
    """(d) The first `attempts` attempts of request `request_number` are answered only after `delay_seconds`
    (past the client's timeout); every other request is answered at once."""

    def script(request: ChatRequest) -> Reply:
        reply = _reply_with(request, planned_calls(request, planner))
        if request.attempt <= attempts and _conversation_step(request) == request_number:
            return Reply(reply.status, reply.body, reply.headers, delay_seconds=delay_seconds)
        return reply

    return script


def rate_limited(
    retry_after_seconds: int = 1, planner: FunctionDef | None = None, *, attempts: int = 1
) -> Script:
    """(e) The first `attempts` attempts of the first request get 429 with `Retry-After`; then answers."""

    def script(request: ChatRequest) -> Reply:
        if request.attempt <= attempts and _conversation_step(request) == 1:
            return error_reply(
                429, "Rate limit reached, retry later", {"retry-after": str(retry_after_seconds)}
            )
        return _reply_with(request, planned_calls(request, planner))

    return script


def server_error(
    planner: FunctionDef | None = None, *, attempts: int | None = None, status: int = 500
) -> Script:
    """(f) `status` for the first `attempts` attempts of the first request (None: for every request)."""

    def script(request: ChatRequest) -> Reply:
        if attempts is None or (request.attempt <= attempts and _conversation_step(request) == 1):
            return error_reply(status, "The server had an error while processing your request")
        return _reply_with(request, planned_calls(request, planner))

    return script


def _conversation_step(request: ChatRequest) -> int:
    """1 for a conversation's first request (no assistant message yet), 2 for the next, ..."""
    return 1 + sum(1 for message in request.messages if message.get("role") == "assistant")
