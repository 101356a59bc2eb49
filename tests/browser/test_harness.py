"""The browser harness itself: a watched page records what it must, so a clean page means something."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from api.app import create_app
from api.server import running_server
from api.settings import ApiMode, ApiSettings
from tests.api.conftest import ApiGraph, make_services
from tests.browser import conftest
from tests.browser.conftest import OpenPage, require_chromium

pytestmark = pytest.mark.integration

# `.invalid` names never resolve; the harness aborts these before any lookup or connection is made.
ELSEWHERE = "https://cdn.example.invalid"


async def test_a_watched_page_records_other_hosts_errors_and_failures(
    api_graph: ApiGraph, open_page: OpenPage
) -> None:
    app = create_app(make_services(api_graph, ApiSettings(mode=ApiMode.PRODUCTION)))
    async with running_server(app) as served:
        watched = await open_page(served)
        page = watched.page
        await page.goto(f"{served}/healthz")
        await expect(page.locator("body")).to_contain_text("ok")
        assert watched.problems() == []

        outcome = await page.evaluate(
            """async (elsewhere) => {
                const fetched = await fetch(elsewhere + "/graphiql.min.js").then(() => "loaded", () => "refused");
                const socket = new WebSocket(elsewhere.replace("https:", "wss:") + "/graphql");
                const closed = await new Promise((resolve) => { socket.onclose = (event) => resolve(event.code); });
                await fetch("/no-such-page");
                console.error("something broke");
                return { fetched, closed };
            }""",
            ELSEWHERE,
        )
        await page.wait_for_timeout(200)

    assert outcome == {"fetched": "refused", "closed": 1008}
    assert watched.blocked_requests == [f"{ELSEWHERE}/graphiql.min.js", "wss://cdn.example.invalid/graphql"]
    problems = watched.problems()
    assert any(problem.startswith("console error: something broke") for problem in problems), problems
    assert any(problem.endswith("/no-such-page: HTTP 404") for problem in problems), problems
    assert f"request to another host: {ELSEWHERE}/graphiql.min.js" in problems


@pytest.mark.parametrize(("ci", "outcome"), [(None, pytest.skip.Exception), ("true", pytest.fail.Exception)])
def test_without_chromium_a_developer_skips_and_ci_fails(
    monkeypatch: pytest.MonkeyPatch, ci: str | None, outcome: type[BaseException]
) -> None:
    monkeypatch.setattr(conftest, "find_chromium", lambda: None)
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    with pytest.raises(outcome, match="no Chromium to run the browser tests"):
        require_chromium()
