"""The dashboard's customer-insight view in real headless Chromium against the real API, graph and Temporal.

The planner starts an insight run from the page (the worker runs it on the offline model), then reads the
themes, opens a theme's feedback, confirms one suggested link and rejects another (the suggested count
follows), renames a theme and merges one theme into another; the API's own answers are the reference for
what the page shows, and for the links' and themes' new states. A viewer sees the same lists without the
buttons or the theme controls. With `LODESTAR_SCREENSHOTS=1` the view's screenshot is written to
docs/screenshots/dashboard-insight.png (the README shows it).
"""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Page, expect

from api.auth import Role
from tests.api.conftest import ApiGraph
from tests.browser.conftest import OpenPage, SaveScreenshot
from tests.browser.test_dashboard import RUN_TIMEOUT_MS, api, served, signed_in
from tests.temporal_fixtures import temporal_client, temporal_server

__all__ = ["served", "temporal_client", "temporal_server"]

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

THEMES = """
{ themes(first: 100) { totalCount nodes { id label itemCount customerCount arr
  trend { direction recentCount previousCount } } } }"""
MEMBERS = "query($id: ID!) { theme(id: $id) { members(first: 12) { nodes { feedbackId text } } } }"
THEME = "query($id: ID!) { theme(id: $id) { id label renamedBy itemCount mergedIntoId } }"
LINKS = """
query($status: LinkStatus!) { feedbackLinks(status: $status, first: 50) {
  totalCount nodes { feedbackId featureId status decidedBy } } }"""


async def open_insight(page: Page) -> None:
    await page.locator("#nav").get_by_role("link", name="Customer insight", exact=True).click()
    await expect(page.locator('[data-view="insight"] h1')).to_have_text("Customer insight")


def link_row(page: Page, link: dict[str, str]) -> str:
    return f'#view tr[data-feedback-id="{link["feedbackId"]}"][data-feature-id="{link["featureId"]}"]'


async def test_the_planner_reads_themes_and_decides_links_the_viewer_only_reads(
    served: str, api_graph: ApiGraph, open_page: OpenPage, save_screenshot: SaveScreenshot
) -> None:
    planner = await signed_in(open_page, served, api_graph.keys[Role.PLANNER])
    page = planner.page
    await open_insight(page)
    view = page.locator('[data-view="insight"]')
    await expect(view.locator('[data-card="No insight run yet"]')).to_be_visible()

    # The run starts from the page; its progress arrives over the subscription, then the view shows it.
    # (The finished panel goes with that refresh, so the test waits for the themes, not for the panel.)
    await page.locator("#start-insight").click()
    await expect(page.locator(".progress")).to_have_attribute("data-run-id", re.compile(r"^insight-"))
    themes_table = view.locator('.paged[data-name="themes"]')
    await expect(themes_table).to_be_visible(timeout=RUN_TIMEOUT_MS)
    assert any(socket.startswith("ws://") and socket.endswith("/graphql") for socket in planner.websockets)

    viewer_key = api_graph.keys[Role.VIEWER]
    themes = (await api(served, THEMES, viewer_key))["themes"]
    by_id = {theme["id"]: theme for theme in themes["nodes"]}
    assert themes["totalCount"] == len(by_id) > 0
    await expect(themes_table.locator(".pager")).to_contain_text(f"of {themes['totalCount']} themes")
    await expect(view.locator('[data-stat="themes"] .stat-value')).to_have_text(str(themes["totalCount"]))
    shown = await themes_table.locator("tbody button[data-theme-id]").evaluate_all(
        "buttons => buttons.map(b => b.dataset.themeId)"
    )
    assert len(shown) == min(8, len(by_id))
    arrs = [by_id[theme_id]["arr"] for theme_id in shown]
    assert arrs == sorted(arrs, reverse=True)  # by ARR, largest first
    assert arrs[0] == max(theme["arr"] for theme in by_id.values())
    for theme_id in shown[:3]:
        theme = by_id[theme_id]
        row = themes_table.locator("tr", has=page.locator(f'[data-theme-id="{theme_id}"]'))
        cells = await row.locator("td").all_inner_texts()
        trend = theme["trend"]
        await expect(row.locator("button.link")).to_have_text(theme["label"])
        assert cells[1:4] == [
            str(theme["itemCount"]),
            str(theme["customerCount"]),
            await page.evaluate(
                "value => new Intl.NumberFormat('en', {style: 'currency', currency: 'USD', notation: 'compact',"
                " maximumFractionDigits: 1}).format(value)",
                theme["arr"],
            ),
        ]
        assert (
            f"{trend['direction'].lower()} ({trend['recentCount']} vs {trend['previousCount']})" in cells[5]
        )

    # A theme's feedback, paged (six at a time), as text.
    opened = by_id[shown[0]]
    expected = (await api(served, MEMBERS, viewer_key, {"id": opened["id"]}))["theme"]["members"]["nodes"]
    await themes_table.locator(f'button[data-theme-id="{opened["id"]}"]').click()
    members = view.locator("#theme-members")
    await expect(members.locator(".pager")).to_contain_text(f"of {opened['itemCount']} items")
    await expect(members.locator("tbody tr")).to_have_count(min(6, opened["itemCount"]))
    shown_members = members.locator("tbody tr[data-feedback-id]")
    ids = await shown_members.evaluate_all("rows => rows.map(r => r.dataset.feedbackId)")
    assert ids == [member["feedbackId"] for member in expected[:6]]
    assert await members.locator(".feedback-text").first.inner_text() == expected[0]["text"].strip()

    # Confirm one suggested link and reject another through the page.
    suggested = (await api(served, LINKS, viewer_key, {"status": "SUGGESTED"}))["feedbackLinks"]
    confirmed, rejected = suggested["nodes"][0], suggested["nodes"][1]
    links = view.locator('.paged[data-name="suggested links"]')
    await expect(links.locator(".pager")).to_contain_text(f"of {suggested['totalCount']} suggested links")
    suggested_stat = view.locator('[data-stat="suggested links"] .stat-value')
    await expect(suggested_stat).to_have_text(str(suggested["totalCount"]))
    await expect(links.locator("tbody tr")).to_have_count(min(12, suggested["totalCount"]))
    await page.locator(link_row(page, confirmed)).get_by_role("button", name="Confirm").click()
    await expect(page.locator(link_row(page, confirmed))).to_have_attribute("data-status", "CONFIRMED")
    await page.locator(link_row(page, rejected)).get_by_role("button", name="Reject").click()
    await expect(page.locator(link_row(page, rejected))).to_have_attribute("data-status", "REJECTED")
    await expect(page.locator(link_row(page, rejected))).to_contain_text("test planner")
    await expect(suggested_stat).to_have_text(str(suggested["totalCount"] - 2))  # without a reload
    await view.locator(".split").evaluate("element => element.scrollIntoView({block: 'start'})")
    await save_screenshot(page, "dashboard-insight")
    if opened["itemCount"] > 6:
        await members.get_by_role("button", name="Next ›").click()
        await expect(members.locator(".pager")).to_contain_text(f"7–{min(12, opened['itemCount'])} of")
        ids = await shown_members.evaluate_all("rows => rows.map(r => r.dataset.feedbackId)")
        assert ids == [member["feedbackId"] for member in expected[6:12]]
    for status, link in (("CONFIRMED", confirmed), ("REJECTED", rejected)):
        decided = (await api(served, LINKS, viewer_key, {"status": status}))["feedbackLinks"]["nodes"]
        assert [(d["feedbackId"], d["featureId"], d["decidedBy"]) for d in decided] == [
            (link["feedbackId"], link["featureId"], "test planner")
        ]
    # The decided lists are one filter away.
    await page.locator("#link-status").select_option("CONFIRMED")
    await expect(view.locator('.paged[data-name="confirmed links"] tbody tr')).to_have_count(1)
    await expect(page.locator(link_row(page, confirmed))).to_have_attribute("data-status", "CONFIRMED")

    # Rename a theme from its panel: an empty name gets the API's validation message, then a real one.
    assert len(shown) >= 3
    renamed, source = by_id[shown[1]], by_id[shown[2]]
    await themes_table.locator(f'button[data-theme-id="{renamed["id"]}"]').click()
    await expect(members).to_have_attribute("data-theme-id", renamed["id"])
    outcome = members.locator("#theme-outcome")
    await members.locator("#theme-label").fill("  ")
    await members.get_by_role("button", name="Save").click()
    await expect(outcome.locator('[data-typename="ValidationErrors"]')).to_contain_text(
        "label: 1 to 120 characters"
    )
    new_label = "Renamed <b>in</b> the page"
    await members.locator("#theme-label").fill(new_label)
    await members.get_by_role("button", name="Save").click()
    await expect(outcome.locator(".ok")).to_have_text(f"Renamed to “{new_label}”.")
    await expect(members.locator("h2")).to_have_text(f"Feedback in “{new_label}”")
    await expect(themes_table.locator(f'button[data-theme-id="{renamed["id"]}"]')).to_have_text(new_label)
    answered = (await api(served, THEME, viewer_key, {"id": renamed["id"]}))["theme"]
    assert (answered["label"], answered["renamedBy"]) == (new_label, "test planner")

    # Merge another theme into the renamed one: the target shows its summed items, the source is gone.
    await themes_table.locator(f'button[data-theme-id="{source["id"]}"]').click()
    await expect(members).to_have_attribute("data-theme-id", source["id"])
    await members.locator("#merge-target").select_option(renamed["id"])
    await members.get_by_role("button", name="Merge…").click()
    await expect(members.locator("#merge-confirm")).to_contain_text(f"into “{new_label}”?")
    await members.get_by_role("button", name="Confirm merge").click()
    total = renamed["itemCount"] + source["itemCount"]
    await expect(members).to_have_attribute("data-theme-id", renamed["id"])
    await expect(outcome.locator(".ok")).to_contain_text(f"into “{new_label}”: {total} items.")
    await expect(members.locator(".pager")).to_contain_text(f"of {total} items")
    await expect(themes_table.locator(f'button[data-theme-id="{source["id"]}"]')).to_have_count(0)
    await expect(view.locator('[data-stat="themes"] .stat-value')).to_have_text(str(themes["totalCount"] - 1))
    after = (await api(served, THEMES, viewer_key))["themes"]
    assert after["totalCount"] == themes["totalCount"] - 1
    assert source["id"] not in {theme["id"] for theme in after["nodes"]}
    target = next(theme for theme in after["nodes"] if theme["id"] == renamed["id"])
    assert target["itemCount"] == total
    # Its ARR only grew, so it stays on the table's first page, with the summed items.
    row = themes_table.locator("tr", has=page.locator(f'[data-theme-id="{renamed["id"]}"]'))
    await expect(row.locator("td").nth(1)).to_have_text(str(total))
    merged = (await api(served, THEME, viewer_key, {"id": source["id"]}))["theme"]
    assert merged["mergedIntoId"] == renamed["id"]
    assert planner.problems() == []

    # A viewer reads the same lists, without a button to decide or to start a run.
    viewer = await signed_in(open_page, served, viewer_key)
    await open_insight(viewer.page)
    viewer_view = viewer.page.locator('[data-view="insight"]')
    remaining = suggested["totalCount"] - 2
    await expect(viewer_view.locator('.paged[data-name="suggested links"] .pager')).to_contain_text(
        f"of {remaining} suggested links"
    )
    await expect(viewer_view.locator('.paged[data-name="suggested links"] tbody tr')).to_have_count(
        min(12, remaining)
    )
    await expect(viewer_view.locator(link_row(viewer.page, rejected))).to_have_count(0)
    assert await viewer_view.get_by_role("button", name="Confirm").count() == 0
    assert await viewer_view.get_by_role("button", name="Reject").count() == 0
    await expect(viewer.page.locator("#start-insight")).to_be_disabled()
    await expect(viewer_view.locator('[data-stat="suggested links"] .stat-value')).to_have_text(
        str(remaining)
    )
    await viewer_view.locator(f'button[data-theme-id="{renamed["id"]}"]').first.click()
    await expect(viewer_view.locator("#theme-members h2")).to_have_text(f"Feedback in “{new_label}”")
    await expect(viewer_view.locator("#theme-members .pager")).to_contain_text(f"of {total} items")
    for control in ("#theme-tools", "#theme-label", "#merge-target"):
        assert await viewer_view.locator(control).count() == 0, control
    for name in ("Save", "Merge…", "Confirm merge"):
        assert await viewer_view.get_by_role("button", name=name).count() == 0, name
    await expect(viewer_view).to_contain_text("Only a planner may confirm or reject a link.")
    assert viewer.problems() == []
