"""Customer insight end to end on the real servers: the insight workflow on a real Temporal dev server with an
in-process worker (offline model), the real graph, and the GraphQL API over HTTP (ASGI). Links are confirmed and
rejected through the API; a rejected link is not suggested by the next run; a confirmed link changes the
demand the roadmap's scoring sees. The tests of this module build on each other's graph state, in order."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest
from temporalio.client import Client

from agents.insight_runs import InsightDeps, insight_analysis
from agents.snapshots import snapshot_id_of
from api.auth import Role
from engines.scoring import CONFIRMED_FEEDBACK_WEIGHT, score_features
from graph.insight_store import InsightStore, LinkStatus
from graph.result_store import ResultStore
from graph.vocabulary import NodeLabel
from tests.api.conftest import AS_OF, ApiGraph, GraphQLClient
from workflows import client as lodestar
from workflows import schedules
from workflows.insight_payloads import InsightDigestOutcome, InsightRunRequest

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

START = """
mutation($input: InsightRunInput) {
  startInsightRun(input: $input) {
    __typename
    ... on RunStarted { run { id state kind } }
    ... on ValidationErrors { issues { location message } }
  }
}"""
DIGEST = """
query($id: ID!) {
  run(id: $id) {
    state kind progress { stage messages }
    result {
      __typename
      ... on InsightDigest {
        id feedbackCount themeCount suggestedLinkCount themeIds featureIds offline headline
        findings { statement evidenceIds }
      }
    }
  }
}"""
THEMES = """
query($first: Int, $after: String) {
  themes(first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    nodes {
      id digestId rank label itemCount customerCount arr sentiment topTerms
      trend { direction recentCount previousCount }
      members(first: 3) { totalCount nodes { feedbackId sentiment text customer { id } } }
    }
  }
}"""
NODES = """
query($id: ID!, $ids: [ID!]!) {
  node(id: $id) { __typename id ... on Theme { label itemCount } }
  nodes(ids: $ids) { __typename id ... on Theme { label itemCount } }
}"""
LINKS = """
query($status: LinkStatus!, $feedbackId: ID, $first: Int) {
  feedbackLinks(status: $status, feedbackId: $feedbackId, first: $first) {
    totalCount
    nodes { feedbackId featureId status score decidedBy feature { id } }
  }
}"""
DECIDE = """
mutation($feedback: ID!, $feature: ID!) {
  %s(feedbackId: $feedback, featureId: $feature) {
    __typename
    ... on FeedbackLinkDecided { link { feedbackId featureId status decidedBy score } }
    ... on NotFound { id message }
    ... on PermissionDenied { requiredRole }
  }
}"""


async def run_insight(gql: GraphQLClient) -> str:
    started = (await gql.data(START, {"input": {"options": {"asOf": AS_OF.isoformat()}}}, role=Role.PLANNER))[
        "startInsightRun"
    ]
    assert started["__typename"] == "RunStarted", started
    assert started["run"]["kind"] == "CUSTOMER_INSIGHT"
    run_id = started["run"]["id"]
    deadline = time.monotonic() + 120
    while True:
        run = (await gql.data(DIGEST, {"id": run_id}))["run"]
        if run["state"] == "COMPLETED" and run["result"] is not None:
            return run_id
        assert run["state"] == "RUNNING", run
        assert time.monotonic() < deadline, run
        await asyncio.sleep(0.3)


async def links(gql: GraphQLClient, status: str, **variables: Any) -> list[dict[str, Any]]:
    data = await gql.data(LINKS, {"status": status, "first": 100, **variables})
    return data["feedbackLinks"]["nodes"]


async def decide(
    gql: GraphQLClient, verb: str, feedback: str, feature: str, role: Role = Role.PLANNER
) -> Any:
    return (await gql.data(DECIDE % verb, {"feedback": feedback, "feature": feature}, role=role))[verb]


async def api_demand(gql: GraphQLClient, feature_id: str) -> dict[str, float]:
    query = "query($id: ID!) { feature(id: $id) { demand { arrWeightedDemand confirmedFeedbackDemand } } }"
    return (await gql.data(query, {"id": feature_id}))["feature"]["demand"]


async def test_an_insight_run_stores_its_digest_themes_and_suggested_links(
    insight_gql: GraphQLClient, insight_graph: ApiGraph
) -> None:
    run_id = await run_insight(insight_gql)
    run = (await insight_gql.data(DIGEST, {"id": run_id}))["run"]
    digest = run["result"]
    assert digest["__typename"] == "InsightDigest" and digest["id"] == run_id and digest["offline"]
    assert run["progress"]["stage"] == "COMPLETED"

    snapshot = await insight_graph.store.portfolio_snapshot()
    expected = insight_analysis(
        snapshot, InsightDeps(snapshot_id=snapshot_id_of(snapshot), as_of=AS_OF, run_key=run_id)
    )
    assert digest["feedbackCount"] == len(snapshot.feedback) == expected.feedback_count
    assert digest["themeCount"] == len(expected.themes) > 0
    assert digest["suggestedLinkCount"] == len(expected.suggestions) > 0
    assert all(theme_id.startswith(run_id) for theme_id in digest["themeIds"])
    cited = {i for finding in digest["findings"] for i in finding["evidenceIds"]}
    assert set(digest["themeIds"]) <= cited | set(digest["themeIds"])

    first = (await insight_gql.data(THEMES, {"first": 3}))["themes"]
    assert first["totalCount"] == digest["themeCount"]
    assert [t["rank"] for t in first["nodes"]] == [1, 2, 3]
    sizes = [t["itemCount"] for t in first["nodes"]]
    assert sizes == sorted(sizes, reverse=True)
    for theme, figures in zip(first["nodes"], expected.themes, strict=False):
        assert theme["id"] == figures.theme.id and theme["digestId"] == run_id
        assert theme["members"]["totalCount"] == theme["itemCount"] == figures.theme.size
        assert theme["trend"]["direction"] == figures.theme.trend.direction.upper()
        assert theme["arr"] == pytest.approx(figures.arr)
        assert all(m["customer"] is not None for m in theme["members"]["nodes"])
    second = (await insight_gql.data(THEMES, {"first": 3, "after": first["pageInfo"]["endCursor"]}))["themes"]
    assert not {t["id"] for t in first["nodes"]} & {t["id"] for t in second["nodes"]}
    assert [t["rank"] for t in second["nodes"]] == [4, 5, 6][: len(second["nodes"])]

    top, feature_id = first["nodes"][0], insight_graph.portfolio.features[0].id
    refetched = await insight_gql.data(NODES, {"id": top["id"], "ids": [feature_id, top["id"], "no-such-id"]})
    assert refetched["node"] == {
        "__typename": "Theme",
        "id": top["id"],
        "label": top["label"],
        "itemCount": top["itemCount"],
    }
    assert [node and node["__typename"] for node in refetched["nodes"]] == ["Feature", "Theme", None]
    assert refetched["nodes"][1] == refetched["node"]

    suggested = await links(insight_gql, "SUGGESTED")
    assert len(suggested) == min(100, len(expected.suggestions))
    assert [(s["feedbackId"], s["featureId"]) for s in suggested] == [
        (s.feedback_id, s.feature_id) for s in expected.suggestions[:100]
    ]
    assert all(s["status"] == "SUGGESTED" and s["feature"]["id"] == s["featureId"] for s in suggested)


async def test_links_are_confirmed_and_rejected_through_the_api_and_a_rejected_one_is_not_suggested_again(
    insight_gql: GraphQLClient,
) -> None:
    suggested = await links(insight_gql, "SUGGESTED")
    rejected, confirmed = suggested[0], suggested[1]

    denied = await decide(
        insight_gql, "rejectFeedbackLink", rejected["feedbackId"], rejected["featureId"], Role.VIEWER
    )
    assert denied == {"__typename": "PermissionDenied", "requiredRole": "planner"}
    missing = await decide(insight_gql, "confirmFeedbackLink", "fb-none", confirmed["featureId"])
    assert missing["__typename"] == "NotFound" and missing["id"] == "fb-none"

    done = await decide(insight_gql, "rejectFeedbackLink", rejected["feedbackId"], rejected["featureId"])
    assert done["link"]["status"] == "REJECTED" and done["link"]["score"] == pytest.approx(rejected["score"])
    assert done["link"]["decidedBy"] == "insight planner"
    done = await decide(insight_gql, "confirmFeedbackLink", confirmed["feedbackId"], confirmed["featureId"])
    assert done["link"]["status"] == "CONFIRMED"

    remaining = {(s["feedbackId"], s["featureId"]) for s in await links(insight_gql, "SUGGESTED")}
    assert (rejected["feedbackId"], rejected["featureId"]) not in remaining
    assert (confirmed["feedbackId"], confirmed["featureId"]) not in remaining
    assert [(r["feedbackId"], r["featureId"]) for r in await links(insight_gql, "REJECTED")] == [
        (rejected["feedbackId"], rejected["featureId"])
    ]
    assert [(r["feedbackId"], r["featureId"]) for r in await links(insight_gql, "CONFIRMED")] == [
        (confirmed["feedbackId"], confirmed["featureId"])
    ]

    await run_insight(insight_gql)
    again = await links(insight_gql, "SUGGESTED", feedbackId=rejected["feedbackId"])
    assert rejected["featureId"] not in {s["featureId"] for s in again}
    assert not await links(insight_gql, "SUGGESTED", feedbackId=confirmed["feedbackId"])
    assert [(r["feedbackId"], r["featureId"]) for r in await links(insight_gql, "REJECTED")] == [
        (rejected["feedbackId"], rejected["featureId"])
    ]


async def test_a_confirmed_link_changes_the_roadmap_demand(
    insight_gql: GraphQLClient, insight_graph: ApiGraph
) -> None:
    before = await insight_graph.store.portfolio_snapshot()
    requested = {(r.customer_id, r.feature_id) for r in before.requests}
    customer_of = {f.id: f.customer_id for f in before.feedback}
    arr = {c.id: c.arr for c in before.customers}
    candidates = [
        link
        for link in await links(insight_gql, "SUGGESTED")
        if (customer_of[link["feedbackId"]], link["featureId"]) not in requested
        and arr[customer_of[link["feedbackId"]]] > 0
        and not any(
            link["featureId"] in f.confirmed_feature_ids
            for f in before.feedback
            if f.customer_id == customer_of[link["feedbackId"]]
        )
    ]
    link = candidates[0]
    feature_id, customer_id = link["featureId"], customer_of[link["feedbackId"]]
    scores_before = {s.feature_id: s for s in score_features(before, as_of=AS_OF)}[feature_id]
    demand_before = scores_before.demand
    revision_before = await insight_graph.store.revision()
    api_before = await api_demand(insight_gql, feature_id)
    assert api_before["arrWeightedDemand"] + api_before["confirmedFeedbackDemand"] == pytest.approx(
        demand_before.inputs["arr_weighted_demand"] or 0.0
    )

    done = await decide(insight_gql, "confirmFeedbackLink", link["feedbackId"], feature_id)
    assert done["link"]["status"] == "CONFIRMED"

    after = await insight_graph.store.portfolio_snapshot()
    assert feature_id in next(f for f in after.feedback if f.id == link["feedbackId"]).confirmed_feature_ids
    assert await insight_graph.store.revision() != revision_before
    scores_after = {s.feature_id: s for s in score_features(after, as_of=AS_OF)}[feature_id]
    demand_after = scores_after.demand
    # RICE reach counts the customer too: stated reach x (requesting + confirmed) / requesting.
    rice_before, rice_after = scores_before.rice.inputs, scores_after.rice.inputs
    assert (
        rice_after["confirmed_feedback_customers"] == (rice_before["confirmed_feedback_customers"] or 0) + 1
    )
    requesting = rice_after["requesting_customers"] or 0
    if requesting:
        assert rice_after["reach"] == pytest.approx(
            (rice_after["stated_reach"] or 0)
            * (requesting + (rice_after["confirmed_feedback_customers"] or 0))
            / requesting
        )
    added = arr[customer_id] * CONFIRMED_FEEDBACK_WEIGHT
    assert demand_after.inputs["arr_weighted_demand"] == pytest.approx(
        (demand_before.inputs["arr_weighted_demand"] or 0.0) + added
    )
    assert demand_after.score > demand_before.score
    api_after = await api_demand(insight_gql, feature_id)
    assert api_after["arrWeightedDemand"] == pytest.approx(api_before["arrWeightedDemand"])
    assert api_after["confirmedFeedbackDemand"] == pytest.approx(
        api_before["confirmedFeedbackDemand"] + added
    )
    assert api_after["arrWeightedDemand"] + api_after["confirmedFeedbackDemand"] == pytest.approx(
        demand_after.inputs["arr_weighted_demand"] or 0.0
    )


async def test_themes_are_renamed_and_merged_through_the_api(insight_gql: GraphQLClient) -> None:
    themes = (await insight_gql.data(THEMES, {"first": 3}))["themes"]
    target, source = themes["nodes"][0], themes["nodes"][1]
    rename = """mutation($id: ID!, $label: String!) { renameTheme(id: $id, label: $label) {
        __typename ... on ThemeChanged { theme { id label generatedLabel renamedBy } }
        ... on ValidationErrors { issues { location } } ... on NotFound { id } } }"""
    renamed = (await insight_gql.data(rename, {"id": target["id"], "label": "Exports"}, role=Role.PLANNER))[
        "renameTheme"
    ]
    assert renamed["theme"] == {
        "id": target["id"],
        "label": "Exports",
        "generatedLabel": target["label"],
        "renamedBy": "insight planner",
    }
    empty = (await insight_gql.data(rename, {"id": target["id"], "label": "  "}, role=Role.PLANNER))[
        "renameTheme"
    ]
    assert empty == {"__typename": "ValidationErrors", "issues": [{"location": "label"}]}
    unknown = (await insight_gql.data(rename, {"id": "theme-none", "label": "x"}, role=Role.PLANNER))[
        "renameTheme"
    ]
    assert unknown == {"__typename": "NotFound", "id": "theme-none"}

    merge = """mutation($t: ID!, $s: ID!) { mergeThemes(targetId: $t, sourceId: $s) {
        __typename ... on ThemeChanged { theme { id itemCount customerCount label
          trend { recentCount previousCount } members(first: 100) { totalCount } } }
        ... on InvalidState { message } } }"""
    merged = (await insight_gql.data(merge, {"t": target["id"], "s": source["id"]}, role=Role.PLANNER))[
        "mergeThemes"
    ]
    theme = merged["theme"]
    assert theme["itemCount"] == target["itemCount"] + source["itemCount"] == theme["members"]["totalCount"]
    assert theme["trend"]["recentCount"] == target["trend"]["recentCount"] + source["trend"]["recentCount"]
    assert theme["label"] == "Exports"
    again = (await insight_gql.data(merge, {"t": target["id"], "s": source["id"]}, role=Role.PLANNER))[
        "mergeThemes"
    ]
    assert again["__typename"] == "InvalidState"
    listed = (await insight_gql.data(THEMES, {"first": 100}))["themes"]
    assert source["id"] not in {t["id"] for t in listed["nodes"]}
    assert listed["totalCount"] == themes["totalCount"] - 1


APPEND = """
mutation($items: [FeedbackInput!]!) {
  appendFeedback(items: $items) {
    __typename
    ... on FeedbackAppended { createdIds unchangedIds createdCount unchangedCount }
    ... on ValidationErrors { issues { location message } }
    ... on PermissionDenied { requiredRole }
  }
}"""


async def test_appending_feedback_is_idempotent_on_the_external_id(
    insight_gql: GraphQLClient, insight_graph: ApiGraph
) -> None:
    customer = insight_graph.portfolio.customers[0].id
    items = [
        {
            "externalId": f"T-{n}",
            "source": "zendesk",
            "customerId": customer,
            "text": f"Export to CSV fails {n}",
        }
        for n in range(3)
    ]
    before = len((await insight_graph.store.portfolio_snapshot()).feedback)
    first = (await insight_gql.data(APPEND, {"items": items}, role=Role.PLANNER))["appendFeedback"]
    assert first["createdCount"] == 3 and first["unchangedIds"] == []
    second = (await insight_gql.data(APPEND, {"items": items}, role=Role.PLANNER))["appendFeedback"]
    assert second == {
        "__typename": "FeedbackAppended",
        "createdIds": [],
        "unchangedIds": first["createdIds"],
        "createdCount": 0,
        "unchangedCount": 3,
    }
    snapshot = await insight_graph.store.portfolio_snapshot()
    assert len(snapshot.feedback) == before + 3
    stored = {f.id: f for f in snapshot.feedback}[first["createdIds"][0]]
    assert (stored.source, stored.external_id, stored.customer_id) == ("zendesk", "T-0", customer)

    bad = [
        {"externalId": "X-1", "source": "zendesk", "customerId": "cust-none", "text": "hello"},
        {"externalId": "X-2", "source": "zendesk", "customerId": customer, "text": " "},
        {"externalId": "X-2", "source": "zendesk", "customerId": customer, "text": "again"},
    ]
    refused = (await insight_gql.data(APPEND, {"items": bad}, role=Role.PLANNER))["appendFeedback"]
    assert refused["__typename"] == "ValidationErrors"
    assert {issue["location"] for issue in refused["issues"]} == {"items[1].text", "items[2].externalId"}
    unknown = (await insight_gql.data(APPEND, {"items": bad[:1]}, role=Role.PLANNER))["appendFeedback"]
    assert unknown["issues"] == [
        {"location": "items[0].customerId", "message": "no customer with id 'cust-none'"}
    ]
    too_many = [{**items[0], "externalId": f"M-{n}"} for n in range(501)]
    capped = (await insight_gql.data(APPEND, {"items": too_many}, role=Role.PLANNER))["appendFeedback"]
    assert capped["issues"] == [{"location": "items", "message": "at most 500 items per call"}]
    viewer = (await insight_gql.data(APPEND, {"items": items}, role=Role.VIEWER))["appendFeedback"]
    assert viewer == {"__typename": "PermissionDenied", "requiredRole": "planner"}
    assert len((await insight_graph.store.portfolio_snapshot()).feedback) == before + 3


async def test_reimporting_the_portfolio_keeps_decisions_and_themes(insight_graph: ApiGraph) -> None:
    store = InsightStore(insight_graph.store)
    decided = await store.page_links(LinkStatus.CONFIRMED, skip=0, limit=10)
    digest = await store.latest_digest_id()
    assert decided and digest is not None
    themes = await store.count_themes(digest)
    summary = await insight_graph.store.import_portfolio(insight_graph.portfolio)
    assert not summary.changed
    assert await store.page_links(decided[0].status, skip=0, limit=10) == decided
    assert await store.count_themes(digest) == themes


async def test_a_weekly_insight_schedule_starts_digests(
    temporal_client: Client, insight_queue: str, insight_graph: ApiGraph
) -> None:
    schedule_id = f"insight-weekly-{uuid.uuid4().hex[:8]}"
    created = await schedules.create_insight_schedule(
        temporal_client, schedule_id, task_queue=insight_queue, request=InsightRunRequest(as_of=AS_OF)
    )
    assert created.intervals_seconds == [7 * 24 * 3600.0] and not created.paused
    assert created.workflow_id_prefix == schedules.insight_workflow_id_prefix(schedule_id)
    try:
        await schedules.trigger_review_schedule(temporal_client, schedule_id)
        deadline = time.monotonic() + 60
        while not (
            info := await schedules.describe_review_schedule(temporal_client, schedule_id)
        ).recent_workflow_ids:
            assert time.monotonic() < deadline, info
            await asyncio.sleep(0.3)
        digest_id = info.recent_workflow_ids[-1]
        outcome = await lodestar.get_result(temporal_client, digest_id)
        assert isinstance(outcome, InsightDigestOutcome) and outcome.schedule_id == schedule_id
        stored = await ResultStore(insight_graph.store).get_result(NodeLabel.INSIGHT_DIGEST, digest_id)
        assert stored is not None and stored.figures["schedule_id"] == schedule_id
        assert stored.figures["theme_count"] == outcome.theme_count
        described = await temporal_client.get_workflow_handle(digest_id).describe()
        attributes = {pair.key.name: pair.value for pair in described.typed_search_attributes}
        assert attributes["LodestarKind"] == "insight"
        assert attributes["LodestarRequestedBy"] == f"schedule:{schedule_id}"
        assert attributes["LodestarStage"] == "completed"
        assert await InsightStore(insight_graph.store).latest_digest_id() == digest_id
    finally:
        await schedules.delete_review_schedule(temporal_client, schedule_id)
