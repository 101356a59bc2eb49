"""Browser tests: real headless Chromium, driven by Playwright, against the API served by real uvicorn.

Playwright's own browser download does not work offline, so the tests drive the system Chromium
(`apt-get install chromium`, which `.ci/run` does when it is missing; `LODESTAR_CHROMIUM` names another
binary). Without one the tests are skipped on a developer machine, and fail in CI (env `CI` set), which
must run them.

`open_page(base_url)` opens a page in a fresh browser context that may reach `base_url`'s origin only:
a request to any other host is aborted and recorded, and so is a WebSocket to one. Every console error,
uncaught exception, failed request and error response of the page is recorded too; a test asserts
`watched.problems() == []` once it is done. `save_screenshot` keeps a picture of a page under the test's
tmp path, and also under docs/screenshots/ when `LODESTAR_SCREENSHOTS=1`.

The graph fixtures of tests/api/conftest.py (`api_graph` and what it needs) are available here too.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import pytest_asyncio
from playwright.async_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Request,
    Response,
    Route,
    WebSocketRoute,
    async_playwright,
    expect,
)

from tests.api.conftest import api_graph, demo_portfolio

__all__ = ["api_graph", "demo_portfolio"]

REPO_ROOT = Path(__file__).resolve().parents[2]
CHROMIUM_ENV = "LODESTAR_CHROMIUM"
SCREENSHOTS_ENV = "LODESTAR_SCREENSHOTS"
TIMEOUT_MS = 30_000
"""For each browser action and expectation: generous, since the suite shares two cores."""

expect.set_options(timeout=TIMEOUT_MS)


def find_chromium() -> str | None:
    """`LODESTAR_CHROMIUM`, else `chromium` on PATH, else /usr/bin/chromium; None if none is there."""
    candidates = [os.environ.get(CHROMIUM_ENV), shutil.which("chromium"), "/usr/bin/chromium"]
    return next((path for path in candidates if path and os.access(path, os.X_OK)), None)


def require_chromium() -> str:
    """The Chromium to drive; skips the test without one, or fails it when env `CI` is set."""
    path = find_chromium()
    if path is None:
        message = (
            "no Chromium to run the browser tests: install it (apt-get install chromium) "
            f"or name one with {CHROMIUM_ENV}"
        )
        if os.environ.get("CI"):
            pytest.fail(f"{message}; CI must run them", pytrace=False)
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def chromium_path() -> str:
    return require_chromium()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser(chromium_path: str) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=chromium_path, headless=True, args=["--no-sandbox"]
        )
        try:
            yield browser
        finally:
            await browser.close()


def origin_of(url: str) -> tuple[str, str]:
    """(host:port, scheme family) of an http(s) or ws(s) URL: ws:// counts as http://, wss:// as https://."""
    parts = urlsplit(url)
    family = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
    return parts.netloc, family


@dataclass
class WatchedPage:
    """A page allowed to reach one origin, and what went wrong on it."""

    page: Page
    base_url: str
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    blocked_requests: list[str] = field(default_factory=list)
    websockets: list[str] = field(default_factory=list)

    def allowed(self, url: str) -> bool:
        return urlsplit(url).scheme in {"data", "blob"} or origin_of(url) == origin_of(self.base_url)

    def problems(self) -> list[str]:
        """Everything that went wrong: console errors, exceptions, failed and blocked requests."""
        return [
            *(f"console error: {text}" for text in self.console_errors),
            *(f"uncaught exception: {text}" for text in self.page_errors),
            *(f"failed request: {text}" for text in self.failed_requests),
            *(f"request to another host: {url}" for url in self.blocked_requests),
        ]

    async def _route(self, route: Route) -> None:
        if self.allowed(route.request.url):
            await route.continue_()
        else:
            self.blocked_requests.append(route.request.url)
            await route.abort("blockedbyclient")

    async def _route_websocket(self, socket: WebSocketRoute) -> None:
        self.blocked_requests.append(socket.url)
        await socket.close(code=1008, reason="only the server under test may be reached")

    def _on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.console_errors.append(f"{message.text} ({message.location.get('url', '')})")

    def _on_request_failed(self, request: Request) -> None:
        if request.url not in self.blocked_requests:
            self.failed_requests.append(f"{request.method} {request.url}: {request.failure}")

    def _on_response(self, response: Response) -> None:
        if response.status >= 400:
            self.failed_requests.append(f"{response.request.method} {response.url}: HTTP {response.status}")

    async def watch(self) -> None:
        page = self.page
        await page.route("**/*", self._route)
        await page.route_web_socket(lambda url: not self.allowed(url), self._route_websocket)
        page.on("console", self._on_console)
        page.on("pageerror", lambda error: self.page_errors.append(str(error)))
        page.on("requestfailed", self._on_request_failed)
        page.on("response", self._on_response)
        page.on("websocket", lambda socket: self.websockets.append(socket.url))


OpenPage = Callable[[str], Awaitable[WatchedPage]]


@pytest_asyncio.fixture(loop_scope="session")
async def open_page(browser: Browser) -> AsyncIterator[OpenPage]:
    """`await open_page(base_url)`: a watched page, in a browser context of its own, closed after the test."""
    contexts: list[BrowserContext] = []

    async def open_watched(base_url: str) -> WatchedPage:
        context = await browser.new_context(viewport={"width": 1400, "height": 900})
        contexts.append(context)
        context.set_default_timeout(TIMEOUT_MS)
        watched = WatchedPage(page=await context.new_page(), base_url=base_url)
        await watched.watch()
        return watched

    try:
        yield open_watched
    finally:
        for context in contexts:
            await context.close()


SaveScreenshot = Callable[[Page, str], Awaitable[Path]]


@pytest.fixture
def save_screenshot(tmp_path: Path) -> SaveScreenshot:
    """`await save_screenshot(page, name)`: tmp_path/screenshots/NAME.png (and docs/screenshots/ when asked)."""

    async def save(page: Page, name: str) -> Path:
        path = tmp_path / "screenshots" / f"{name}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=path)
        if os.environ.get(SCREENSHOTS_ENV) == "1":
            published = REPO_ROOT / "docs" / "screenshots" / f"{name}.png"
            published.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, published)
        return path

    return save
