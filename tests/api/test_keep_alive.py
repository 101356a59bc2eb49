"""Idle HTTP connections: the API keeps them open longer than its clients do, so a client never sends a
request on a connection the server is closing at that moment (with uvicorn's own 5 s, a client whose idle
timeout is also about 5 s got an occasional `ReadError` on a reused connection)."""

from __future__ import annotations

import asyncio

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from api.server import running_server
from api.settings import ApiSettings


def _app() -> Starlette:
    async def hello(_: Request) -> PlainTextResponse:
        return PlainTextResponse("hello")

    return Starlette(routes=[Route("/", hello)])


async def _request_on_one_connection(base_url: str, idle_s: float) -> tuple[str, bool]:
    """Two requests on one connection with `idle_s` between them: the second answer, and whether the
    server had closed the first connection meanwhile (the client then had to open a new one)."""
    host, port = base_url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    request = f"GET / HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
    try:
        writer.write(request)
        await writer.drain()
        first = await reader.readuntil(b"hello")
        assert first.startswith(b"HTTP/1.1 200")
        await asyncio.sleep(idle_s)
        closed = reader.at_eof() or await _closed_within(reader, 0.05)
        if closed:
            async with httpx.AsyncClient(base_url=base_url) as http:
                return (await http.get("/")).text, True
        writer.write(request)
        await writer.drain()
        second = await reader.readuntil(b"hello")
        return second.decode().rsplit("\r\n", 1)[-1], False
    finally:
        writer.close()


async def _closed_within(reader: asyncio.StreamReader, seconds: float) -> bool:
    try:
        return await asyncio.wait_for(reader.read(1), seconds) == b""
    except TimeoutError:
        return False


async def test_idle_connections_outlive_common_client_timeouts() -> None:
    default = ApiSettings().keep_alive_s
    assert default > 60, "longer than browsers' and load balancers' own idle timeouts (about 60 s)"
    assert ApiSettings.from_env({"LODESTAR_API_KEEP_ALIVE_S": "90"}).keep_alive_s == 90


async def test_the_keep_alive_setting_is_what_the_server_does() -> None:
    async with running_server(_app(), keep_alive_s=3) as url:
        assert await _request_on_one_connection(url, idle_s=1.5) == ("hello", False)
    async with running_server(_app(), keep_alive_s=1) as url:
        assert await _request_on_one_connection(url, idle_s=2.0) == ("hello", True)
