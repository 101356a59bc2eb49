"""The dashboard in real headless Chromium against the real API, graph and Temporal dev server.

One server (uvicorn, with an in-process worker on the offline model) and one browser serve the whole
module; each test opens a fresh browser context, signs in through the page and checks what it shows
against the API's own answers. The page may reach the server under test only, and every console error,
exception or failed request fails the test. With `LODESTAR_SCREENSHOTS=1` each view's screenshot is
also written to docs/screenshots/ (the README shows them).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
from playwright.async_api import Page, expect
from temporalio.client import Client

from api.app import create_app
from api.auth import Role
from api.server import running_server
from lodestar import cli
from tests.api.conftest import ApiGraph, make_services, running_worker
from tests.browser.conftest import OpenPage, SaveScreenshot, WatchedPage
from tests.temporal_fixtures import temporal_client, temporal_server

__all__ = ["temporal_client", "temporal_server"]

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

RUN_TIMEOUT_MS = 120_000
"""A run through Temporal on two shared cores: generous."""
TRIALS = "500"


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def served(api_graph: ApiGraph, temporal_client: Client) -> AsyncIterator[str]:
    async with running_worker(temporal_client, api_graph.store) as task_queue:
        services = make_services(api_graph, temporal=temporal_client, task_queue=task_queue)
        async with running_server(create_app(services)) as url:
            yield url


async def api(url: str, query: str, key: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=url) as http:
        response = await http.post(
            "/graphql",
            json={"query": query, "variables": variables or {}},
            headers={"Authorization": f"Bearer {key}"},
        )
    body = response.json()
    assert "errors" not in body, body
    return body["data"]


async def signed_in(open_page: OpenPage, served: str, key: str) -> WatchedPage:
    """A page that signed in through the form, showing the overview."""
    watched = await open_page(served)
    page = watched.page
    await page.goto(served + "/")
    await page.locator("#api-key").fill(key)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator('[data-view="overview"] .stats')).to_be_visible()
    return watched


async def open_view(page: Page, name: str, ready: str) -> None:
    """Open a view from the navigation and wait until `ready` (a selector inside it) shows."""
    await page.locator("#nav").get_by_role("link", name=name, exact=True).click()
    await expect(page.locator(f'[data-view="{name.lower()}"] {ready}').first).to_be_visible()


async def wait_for_progress(page: Page, *, stage: str | None = None) -> None:
    """The progress panel got events over the subscription: `stage` (or the last one, `done`)."""
    panel = page.locator(".progress")
    if stage is None:
        await expect(panel).to_have_attribute("data-done", "true", timeout=RUN_TIMEOUT_MS)
    else:
        await expect(panel).to_have_attribute("data-stage", stage, timeout=RUN_TIMEOUT_MS)


async def test_sign_in_shows_the_overview_from_the_api(
    served: str, api_graph: ApiGraph, open_page: OpenPage, save_screenshot: SaveScreenshot
) -> None:
    watched = await open_page(served)
    page = watched.page
    await page.goto(served + "/")
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    await expect(page.locator("#nav")).to_be_hidden()
    await save_screenshot(page, "dashboard-sign-in")
    await page.locator("#api-key").fill(api_graph.keys[Role.VIEWER])
    await page.get_by_role("button", name="Sign in").click()

    overview = page.locator('[data-view="overview"]')
    portfolio = api_graph.portfolio
    total_arr = sum(customer.arr for customer in portfolio.customers)
    shown_arr = await overview.locator('[data-stat="total ARR"]').locator(".stat-value").inner_text()
    assert shown_arr == await page.evaluate(
        "value => new Intl.NumberFormat('en', {style: 'currency', currency: 'USD', notation: 'compact',"
        " maximumFractionDigits: 1}).format(value)",
        total_arr,
    )
    await expect(overview.locator('[data-stat="products"] .stat-value')).to_have_text(
        str(len(portfolio.products))
    )
    open_work = sum(1 for feature in portfolio.features if feature.status.value != "done")
    await expect(overview.locator('[data-stat="open work"] .stat-value')).to_have_text(str(open_work))
    teams = overview.locator('[data-card="Teams"]')
    await expect(teams.locator("tbody tr")).to_have_count(min(10, len(portfolio.teams)))
    first_team = min(portfolio.teams, key=lambda team: team.id)
    await expect(teams).to_contain_text(first_team.name)
    await expect(overview.locator('[data-card="What changed"]')).to_contain_text("Last import")
    await expect(page.locator("#who")).to_contain_text("viewer")
    # The key is kept for this tab's session only.
    assert await page.evaluate("sessionStorage.getItem('lodestar.apiKey')") == api_graph.keys[Role.VIEWER]
    assert await page.evaluate("localStorage.length") == 0
    await save_screenshot(page, "dashboard-overview")
    assert watched.problems() == []
    assert watched.blocked_requests == []


async def test_the_overview_paints_fast(served: str, api_graph: ApiGraph, open_page: OpenPage) -> None:
    """First paint and the overview's data on screen, measured in the browser (figure printed)."""
    watched = await open_page(served)
    page = watched.page
    key = api_graph.keys[Role.VIEWER]
    await page.add_init_script(f"sessionStorage.setItem('lodestar.apiKey', {key!r})")
    figures: list[dict[str, float]] = []
    for load in range(3):
        await page.goto(f"{served}/?load={load}#/overview")
        await expect(page.locator('[data-view="overview"] .stats')).to_be_visible()
        figures.append(
            await page.evaluate(
                """() => ({
                    firstContentfulPaint: performance.getEntriesByName('first-contentful-paint')[0]?.startTime,
                    overviewRendered: performance.getEntriesByName('lodestar:overview-rendered')[0]?.startTime,
                    resources: performance.getEntriesByType('resource').map(
                        r => `${r.name.split('/').slice(3).join('/')} ${r.startTime.toFixed(0)}+${r.duration.toFixed(0)}`),
                })"""
            )
        )
    warm = figures[-1]
    print(
        f"\noverview (small demo, warm): first contentful paint {warm['firstContentfulPaint']:.0f} ms, "
        f"data rendered {warm['overviewRendered']:.0f} ms; all loads: {figures}"
    )
    assert 0 < warm["overviewRendered"] < 5_000
    assert watched.problems() == []


async def test_roadmap_draft_progress_refusal_and_approval(
    served: str, api_graph: ApiGraph, open_page: OpenPage, save_screenshot: SaveScreenshot
) -> None:
    approver = await signed_in(open_page, served, api_graph.keys[Role.APPROVER])
    page = approver.page
    await open_view(page, "Roadmap", "#start-draft")
    await page.locator("#draft-trials").fill(TRIALS)
    await page.locator("#start-draft").click()

    # Progress arrives over the subscription, stage by stage, until the draft waits for review.
    await wait_for_progress(page, stage="AWAITING_REVIEW")
    stages = await page.locator(".progress .events li").evaluate_all(
        "items => items.map(i => i.dataset.stage)"
    )
    assert stages[0] in {"STARTED", "LOADING_SNAPSHOT"} and stages[-1] == "AWAITING_REVIEW", stages
    assert len(stages) >= 3, stages
    assert any(socket.endswith("/graphql") and socket.startswith("ws://") for socket in approver.websockets)
    await expect(page.get_by_role("heading", name="Review the draft")).to_be_visible()
    run_id = await page.locator(".review-outcome").evaluate(
        "outcome => outcome.closest('.card').querySelector('code').textContent"
    )
    draft = (
        await api(
            served,
            "query($id: ID!) { roadmapVersion(id: $id) { status totalValue greedyValue"
            " quarters { commitments { featureId } explorations { featureId } } leftOut { featureId }"
            " items { featureId feature { dependencies { id } } } } }",
            api_graph.keys[Role.VIEWER],
            {"id": run_id},
        )
    )["roadmapVersion"]
    assert draft["status"] == "DRAFT"
    board = page.locator('[data-card^="Draft roadmap"]').locator(".board")
    commitments = sum(len(quarter["commitments"]) for quarter in draft["quarters"])
    explorations = sum(len(quarter["explorations"]) for quarter in draft["quarters"])
    assert commitments > 0
    shown_items = await board.locator(".chip").count()
    assert 0 < shown_items <= commitments + explorations
    assert await board.locator(".chip.commitment").count() > 0
    shown_ids = set(await board.locator(".chip").evaluate_all("chips => chips.map(c => c.dataset.featureId)"))
    dependencies = {
        (dependency["id"], item["featureId"])
        for item in draft["items"]
        for dependency in item["feature"]["dependencies"]
        if item["featureId"] in shown_ids and dependency["id"] in shown_ids
    }
    await expect(board).to_have_attribute("data-dependencies-drawn", str(len(dependencies)))
    assert await board.locator("svg.dependencies > path").count() == len(dependencies)
    await expect(page.locator('[data-card="Left out"]').locator(".paged")).to_be_visible()
    await board.evaluate("element => element.closest('.card').scrollIntoView({block: 'start'})")
    await save_screenshot(page, "dashboard-roadmap")

    # A viewer sees the review controls disabled; forced anyway, the API refuses with its typed error.
    viewer = await signed_in(open_page, served, api_graph.keys[Role.VIEWER])
    await open_view(viewer.page, "Roadmap", ".board")
    approve_as_viewer = viewer.page.locator("#approve")
    await expect(approve_as_viewer).to_be_disabled()
    await expect(viewer.page.locator("#start-draft")).to_be_disabled()
    await approve_as_viewer.evaluate("button => { button.disabled = false; }")
    await approve_as_viewer.click()
    refusal = viewer.page.locator('.review-outcome [data-typename="PermissionDenied"]')
    await expect(refusal).to_contain_text("needs approver; you are viewer")
    assert viewer.problems() == []

    # The approver approves with a comment; the audit trail shows who, when and the comment.
    await page.locator("#review-comment").fill("Looks right for Q1")
    await page.locator("#approve").click()
    await expect(page.locator("#review-status .ok")).to_contain_text("published")
    trail = page.locator('[data-card="Audit trail"]')
    await expect(trail.locator("tbody tr").first).to_contain_text(
        "Looks right for Q1", timeout=RUN_TIMEOUT_MS
    )
    await expect(trail.locator("tbody tr").first).to_contain_text("test approver")
    published = (
        await api(
            served,
            "query($id: ID!) { roadmapVersion(id: $id) { status reviewer reviewComment } }",
            api_graph.keys[Role.VIEWER],
            {"id": run_id},
        )
    )["roadmapVersion"]
    assert published == {
        "status": "PUBLISHED",
        "reviewer": "test approver",
        "reviewComment": "Looks right for Q1",
    }
    await expect(page.locator('[data-card^="Current roadmap"]')).to_contain_text("MILP vs greedy")
    assert approver.problems() == []


async def test_scenario_comparison_and_forecast(
    served: str, api_graph: ApiGraph, open_page: OpenPage, save_screenshot: SaveScreenshot
) -> None:
    watched = await signed_in(open_page, served, api_graph.keys[Role.PLANNER])
    page = watched.page
    await open_view(page, "Scenarios", "#start-scenario")
    team = min(api_graph.portfolio.teams, key=lambda team: team.id)
    await page.locator("#scenario-name").fill("Hire three")
    await page.locator("#change-kind").select_option("hire")
    await page.locator("#change-team").select_option(team.id)
    await page.locator("#change-amount").fill("3")
    await page.locator("#scenario-trials").fill(TRIALS)
    await page.locator("#start-scenario").click()
    await wait_for_progress(page)

    table = page.locator("table.side-by-side")
    await expect(table).to_contain_text("Hire three", timeout=RUN_TIMEOUT_MS)
    analysis = (
        await api(
            served,
            "{ scenarioAnalyses(first: 1) { id baseline { arrAtRisk features { featureId unscheduled } }"
            " scenarios { name arrAtRiskChange featureChanges { featureId } } } }",
            api_graph.keys[Role.VIEWER],
        )
    )["scenarioAnalyses"][0]
    assert [scenario["name"] for scenario in analysis["scenarios"]] == ["Hire three"]
    header = await table.locator("thead th").all_inner_texts()
    assert header[1:] == ["Baseline", "Hire three"] or header[1:] == ["Baseline", "Hire three ★"]
    changes = len(analysis["scenarios"][0]["featureChanges"])
    await expect(page.locator('.paged[data-name="date changes"] .pager')).to_contain_text(
        f"of {changes} date changes"
    )
    await save_screenshot(page, "dashboard-scenarios")

    await open_view(page, "Forecast", "#fan-chart canvas")
    # The page says which run the forecast comes from, so a product manager sees how fresh it is.
    await expect(page.locator("#forecast-source")).to_contain_text(analysis["id"])
    scheduled = sum(1 for forecast in analysis["baseline"]["features"] if not forecast["unscheduled"])
    await expect(page.locator('.paged[data-name="feature"] .pager')).to_contain_text(
        f"of {scheduled} feature"
    )
    rows = page.locator('.paged[data-name="feature"] tbody tr')
    assert await rows.count() <= 15
    await page.locator("#forecast-level").select_option("release")
    await expect(page.locator('.paged[data-name="release"]')).to_be_visible()
    await page.locator("#forecast-level").select_option("feature")
    await expect(page.locator("#fan-chart canvas")).to_be_visible()
    await save_screenshot(page, "dashboard-forecast")
    assert watched.problems() == []


async def test_runs_start_cancel_and_the_risk_view(
    served: str, api_graph: ApiGraph, open_page: OpenPage, save_screenshot: SaveScreenshot
) -> None:
    watched = await signed_in(open_page, served, api_graph.keys[Role.PLANNER])
    page = watched.page
    await open_view(page, "Runs", "#run-risk")
    await page.locator("#run-trials").fill(TRIALS)
    await page.locator("#run-risk").click()
    await wait_for_progress(page)
    await expect(page.locator(".progress")).to_contain_text("completed")

    # A roadmap draft waits for review: cancel it from the list.
    await page.locator("#run-roadmap").click()
    await wait_for_progress(page, stage="AWAITING_REVIEW")
    run_id = await page.locator(".progress").get_attribute("data-run-id")
    row = page.locator(f'tr[data-run-id="{run_id}"]')
    await row.get_by_role("button", name="Cancel").click()
    await expect(page.locator(".ok")).to_contain_text(f"Cancellation of {run_id} requested")
    # The followed run's last event (over the subscription) makes the page reload the list.
    await wait_for_progress(page)
    await expect(page.locator(".progress")).to_contain_text("cancelled")
    await expect(page.locator(f'tr[data-run-id="{run_id}"]')).to_have_attribute("data-state", "CANCELLED")
    state = await api(
        served, "query($id: ID!) { run(id: $id) { state } }", api_graph.keys[Role.VIEWER], {"id": run_id}
    )
    assert state == {"run": {"state": "CANCELLED"}}
    await save_screenshot(page, "dashboard-runs")

    await open_view(page, "Risk", "#risk-heat-map canvas")
    assessment = (
        await api(
            served,
            "{ riskAssessments(first: 1) { risks { kind } customersAtRisk { customerId } criticalPath { name } } }",
            api_graph.keys[Role.VIEWER],
        )
    )["riskAssessments"][0]
    assert int(await page.locator("#risk-heat-map").get_attribute("data-cells") or "0") > 0
    path = page.locator('[data-card="Critical path"]')
    for feature in assessment["criticalPath"][:3]:
        await expect(path).to_contain_text(feature["name"])
    customers = len(assessment["customersAtRisk"])
    pager = page.locator('.paged[data-name="customers at risk"] .pager')
    await expect(pager).to_contain_text(re.compile(rf"of {customers} customers at risk"))
    await save_screenshot(page, "dashboard-risk")
    assert watched.problems() == []


async def test_the_demo_prints_the_dashboard_and_a_key_that_signs_in(
    served: str, api_graph: ApiGraph, open_page: OpenPage
) -> None:
    with cli.console.capture() as captured:
        await cli._issue_demo_key(api_graph.store, served + "/graphql")  # pyright: ignore[reportPrivateUsage]
    printed = captured.get().strip().splitlines()
    found = re.fullmatch(r"Dashboard: (?P<url>\S+) — API key: (?P<key>\S+) .*", printed[-1])
    assert found is not None, printed
    assert found["url"] == served + "/"

    watched = await open_page(served)
    page = watched.page
    await page.goto(found["url"])
    await page.locator("#api-key").fill(found["key"])
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator('[data-view="overview"] .stats')).to_be_visible()
    await expect(page.locator("#who")).to_contain_text("admin")
    await open_view(page, "Roadmap", "#start-draft")
    await expect(page.locator("#start-draft")).to_be_enabled()
    assert watched.problems() == []
