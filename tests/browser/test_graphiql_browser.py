"""GraphiQL in real headless Chromium against the API on real uvicorn, with every other host unreachable."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
from playwright.async_api import Page, expect

from api.app import create_app
from api.auth import Role
from api.server import running_server
from api.settings import ApiMode, ApiSettings
from tests.api.conftest import ApiGraph, make_services
from tests.browser.conftest import OpenPage, SaveScreenshot, WatchedPage

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

HEADERS_EDITOR = ".graphiql-editor-tool .graphiql-editor:not(.hidden)"
QUERY = "{ me { name role } products(first: 3) { nodes { id name } } }"
SUBSCRIPTION = 'subscription { runProgress(id: "no-such-run") { runId done } }'


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def served(api_graph: ApiGraph) -> AsyncIterator[str]:
    app = create_app(make_services(api_graph, ApiSettings(mode=ApiMode.DEVELOPMENT)))
    async with running_server(app) as url:
        yield url


async def over_http(url: str, query: str, key: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=url) as http:
        response = await http.post(
            "/graphql", json={"query": query}, headers={"Authorization": f"Bearer {key}"}
        )
    return response.json()


async def replace_editor_text(page: Page, editor: str, text: str) -> None:
    """Select everything in a GraphiQL editor and type `text` over it, key by key, as a person would."""
    await page.locator(f"{editor} .CodeMirror").click()
    await page.keyboard.press("Control+A")
    await page.keyboard.press("Delete")
    await page.keyboard.type(text)


async def editor_text(page: Page, editor: str) -> str:
    return await page.locator(f"{editor} .CodeMirror").evaluate("element => element.CodeMirror.getValue()")


async def open_graphiql(open_page: OpenPage, served: str) -> WatchedPage:
    watched = await open_page(served)
    await watched.page.goto(f"{served}/graphql")
    await expect(watched.page.locator(".graphiql-query-editor .CodeMirror")).to_be_visible()
    # The schema has loaded once the docs explorer can show the Query type.
    await watched.page.get_by_role("button", name="Show Documentation Explorer").click()
    await expect(watched.page.locator(".graphiql-doc-explorer")).to_contain_text("Query")
    return watched


async def run_with_key(page: Page, query: str, key: str) -> str:
    """Type the query and the key's header into GraphiQL, run it and return the result pane's text."""
    await replace_editor_text(page, ".graphiql-query-editor", query)
    await page.get_by_role("button", name="Headers").click()
    await replace_editor_text(page, HEADERS_EDITOR, json.dumps({"Authorization": f"Bearer {key}"}))
    assert json.loads(await editor_text(page, HEADERS_EDITOR)) == {"Authorization": f"Bearer {key}"}
    assert await editor_text(page, ".graphiql-query-editor") == query
    await page.get_by_role("button", name="Execute query (Ctrl-Enter)").click()
    result = page.locator(".graphiql-response .CodeMirror")
    await expect(result).to_contain_text('"data"')
    return await result.evaluate("element => element.CodeMirror.getValue()")


async def test_graphiql_runs_a_query_offline(
    served: str, api_graph: ApiGraph, open_page: OpenPage, save_screenshot: SaveScreenshot
) -> None:
    watched = await open_graphiql(open_page, served)
    page = watched.page
    key = api_graph.keys[Role.VIEWER]

    shown = json.loads(await run_with_key(page, QUERY, key))

    expected = await over_http(served, QUERY, key)
    assert "errors" not in expected
    assert shown == expected, watched.problems()
    assert shown["data"]["me"]["role"] == "VIEWER"
    first_product = expected["data"]["products"]["nodes"][0]["name"]
    await expect(page.locator(".graphiql-response")).to_contain_text(first_product)

    await page.get_by_role("button", name="Prettify query (Shift-Ctrl-P)").click()
    prettified = await editor_text(page, ".graphiql-query-editor")
    assert prettified.count("\n") > 5
    assert " ".join(prettified.split()) == QUERY
    await page.get_by_role("button", name="Show GraphiQL Explorer").click()
    await expect(page.locator(".graphiql-explorer-root")).to_contain_text("products")
    screenshot = await save_screenshot(page, "graphiql")
    assert screenshot.stat().st_size > 10_000

    assert watched.problems() == []
    assert watched.blocked_requests == []
    assert watched.websockets == []


async def test_graphiql_subscribes_over_the_same_origin_with_the_key(
    served: str, api_graph: ApiGraph, open_page: OpenPage
) -> None:
    watched = await open_graphiql(open_page, served)
    page = watched.page

    shown = json.loads(await run_with_key(page, SUBSCRIPTION, api_graph.keys[Role.VIEWER]))

    assert watched.websockets == [served.replace("http://", "ws://") + "/graphql"], watched.problems()
    # The key typed into the headers editor reached the server in `connection_init`: the viewer passed
    # the permission check (an anonymous caller is refused there), and the run lookup itself answered
    # (this server has no Temporal).
    assert [error["extensions"]["code"] for error in shown["errors"]] == ["SERVICE_UNAVAILABLE"], shown
    assert watched.problems() == []
    assert watched.blocked_requests == []
