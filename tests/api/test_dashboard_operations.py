"""The dashboard's GraphQL operations (api/static/app/operations/*.graphql) against the schema.

The page loads these files and sends them as they are, so a schema change that breaks the page fails
here: every operation must parse and validate against the schema the code builds (and the committed SDL).
Some operations are also sent to the API and must answer the real data: the overview's, and the customer
insight view's over a real insight run (Temporal dev server, in-process worker on the offline model).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from graphql import GraphQLSchema, OperationDefinitionNode, build_schema, parse, validate
from temporalio.client import Client

from api.auth import Role
from api.schema import build_schema as build_api_schema
from api.settings import ApiSettings
from tests.api.conftest import ApiGraph, GraphQLClient, in_process_client, make_services, running_worker

REPO_ROOT = Path(__file__).resolve().parents[2]
APP = REPO_ROOT / "api" / "static" / "app"
OPERATIONS = sorted((APP / "operations").glob("*.graphql"))


def _code_schema() -> GraphQLSchema:
    return build_api_schema(ApiSettings())._schema  # pyright: ignore[reportPrivateUsage]


SCHEMAS = {
    "code": _code_schema(),
    "sdl": build_schema((REPO_ROOT / "api" / "schema.graphql").read_text("utf-8")),
}


def test_the_page_has_operations() -> None:
    assert len(OPERATIONS) >= 10


@pytest.mark.parametrize("schema_name", sorted(SCHEMAS))
@pytest.mark.parametrize("path", OPERATIONS, ids=lambda path: path.stem)
def test_operation_validates_against_the_schema(path: Path, schema_name: str) -> None:
    document = parse(path.read_text("utf-8"))
    errors = validate(SCHEMAS[schema_name], document)
    assert errors == [], [error.message for error in errors]
    operations = [node for node in document.definitions if isinstance(node, OperationDefinitionNode)]
    assert len(operations) == 1, "one operation per file"
    assert operations[0].name is not None and operations[0].name.value == path.stem, (
        "the operation is named after its file, as the page loads it by name"
    )


def test_every_operation_the_page_uses_exists_and_every_file_is_used() -> None:
    sources = "\n".join(path.read_text("utf-8") for path in APP.rglob("*.js") if "vendor" not in path.parts)
    called = set(re.findall(r"""(?:query|mutate|subscribe)\(\s*["'](\w+)["']""", sources))
    named = set(re.findall(r"""["']([A-Z]\w+)["']""", sources))
    files = {path.stem for path in OPERATIONS}
    assert called - files == set(), "operations the page sends that have no file"
    assert files - named == set(), "operation files the page never names"


def _operation(name: str) -> str:
    return (APP / "operations" / f"{name}.graphql").read_text("utf-8")


@pytest.mark.integration
@pytest.mark.asyncio(loop_scope="session")
async def test_the_overview_operation_answers_the_portfolio_figures(
    gql: GraphQLClient, api_graph: ApiGraph
) -> None:
    data = await gql.data(_operation("Overview"), {"productsFirst": 10, "teamsFirst": 10})
    summary = data["portfolioSummary"]
    customers = api_graph.portfolio.customers
    assert summary["customerCount"] == len(customers)
    assert summary["totalArr"] == pytest.approx(sum(customer.arr for customer in customers))
    by_status = Counter(feature.status.value.upper() for feature in api_graph.portfolio.features)
    assert {item["status"]: item["count"] for item in summary["featuresByStatus"]} == {
        status: by_status.get(status, 0) for status in ("PROPOSED", "PLANNED", "IN_PROGRESS", "DONE")
    }
    assert summary["openFeatureCount"] == len(api_graph.portfolio.features) - by_status.get("DONE", 0)
    assert summary["lastImport"] is not None
    assert data["teams"]["totalCount"] == len(api_graph.portfolio.teams)
    assert len(data["teams"]["nodes"]) == min(10, len(api_graph.portfolio.teams))


@pytest.mark.integration
@pytest.mark.asyncio(loop_scope="session")
async def test_the_summary_follows_each_import(gql: GraphQLClient, api_graph: ApiGraph) -> None:
    query = "{ portfolioSummary { totalArr lastImport { changedAt nodes { type created updated } } } }"
    before = (await gql.data(query))["portfolioSummary"]
    assert (await gql.data(query))["portfolioSummary"] == before  # answered again, unchanged
    first, *others = api_graph.portfolio.customers
    richer = api_graph.portfolio.model_copy(
        update={"customers": [first.model_copy(update={"arr": first.arr + 1_000}), *others]}
    )
    await api_graph.store.import_portfolio(richer)
    try:
        after = (await gql.data(query))["portfolioSummary"]
        assert after["totalArr"] == pytest.approx(before["totalArr"] + 1_000)
        changed = {item["type"]: item for item in after["lastImport"]["nodes"]}
        assert changed["Customer"]["updated"] == 1
        assert sum(item["created"] + item["updated"] for item in changed.values()) == 1
        assert after["lastImport"]["changedAt"] >= before["lastImport"]["changedAt"]
    finally:
        await api_graph.store.import_portfolio(api_graph.portfolio)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def insight_queue(api_graph: ApiGraph, temporal_client: Client) -> AsyncIterator[str]:
    async with running_worker(temporal_client, api_graph.store) as task_queue:
        yield task_queue


@pytest_asyncio.fixture(loop_scope="session")
async def runs_gql(
    api_graph: ApiGraph, temporal_client: Client, insight_queue: str
) -> AsyncIterator[GraphQLClient]:
    services = make_services(api_graph, temporal=temporal_client, task_queue=insight_queue)
    async with in_process_client(services, api_graph.keys) as client:
        yield client


async def _finished_run(gql: GraphQLClient, run_id: str) -> dict[str, Any]:
    query = (
        "query($id: ID!) { run(id: $id) { state result { ... on InsightDigest"
        " { feedbackCount themeCount suggestedLinkCount } } } }"
    )
    deadline = time.monotonic() + 120
    while True:
        run = (await gql.data(query, {"id": run_id}))["run"]
        if run["state"] == "COMPLETED" and run["result"] is not None:
            return run["result"]
        assert run["state"] == "RUNNING" and time.monotonic() < deadline, run
        await asyncio.sleep(0.3)


@pytest.mark.integration
@pytest.mark.asyncio(loop_scope="session")
async def test_the_insight_operations_answer_a_real_run(runs_gql: GraphQLClient, api_graph: ApiGraph) -> None:
    """The insight view's operations over a real insight run (Temporal, offline model) on the demo portfolio."""
    gql = runs_gql
    portfolio = api_graph.portfolio
    before = await gql.data(_operation("Insight"), {"themesFirst": 100})
    assert before["themes"] == {"totalCount": 0, "nodes": []}  # the page says: no insight run yet

    refused = (await gql.data(_operation("StartInsightRun"), {"input": None}))["startInsightRun"]
    assert refused["__typename"] == "PermissionDenied" and refused["requiredRole"] == "planner"
    started = (await gql.data(_operation("StartInsightRun"), {"input": None}, role=Role.PLANNER))[
        "startInsightRun"
    ]
    assert started["__typename"] == "RunStarted" and started["run"]["kind"] == "CUSTOMER_INSIGHT", started
    run_id = started["run"]["id"]
    result = await _finished_run(gql, run_id)

    data = await gql.data(_operation("Insight"), {"themesFirst": 100})
    themes = data["themes"]["nodes"]
    assert data["themes"]["totalCount"] == result["themeCount"] == len(themes) > 0
    assert data["suggested"]["totalCount"] == result["suggestedLinkCount"] > 1
    assert {theme["digestId"] for theme in themes} == {run_id}
    digest = (await gql.data(_operation("InsightDigest"), {"id": run_id}))["insightDigest"]
    assert digest["id"] == run_id and digest["feedbackCount"] == len(portfolio.feedback)
    assert digest["themeCount"] == len(themes) and digest["headline"]

    # A theme's members are the portfolio's feedback; its figures add up from them.
    feedback = {item.id: item for item in portfolio.feedback}
    customers = {customer.id: customer for customer in portfolio.customers}
    theme = next(theme for theme in themes if 10 < theme["itemCount"] <= 100)
    page = (await gql.data(_operation("ThemeMembers"), {"id": theme["id"], "first": 100}))["theme"]
    members = page["members"]["nodes"]
    assert page["members"]["totalCount"] == theme["itemCount"] == len(members)
    assert all(member["text"] == feedback[member["feedbackId"]].text for member in members)
    assert all(member["customer"]["name"] == customers[member["customerId"]].name for member in members)
    behind = {member["customerId"] for member in members}
    assert theme["customerCount"] == len(behind)
    assert theme["arr"] == pytest.approx(sum(customers[customer].arr for customer in behind))
    first = (await gql.data(_operation("ThemeMembers"), {"id": theme["id"], "first": 4}))["theme"]["members"]
    second = (
        await gql.data(
            _operation("ThemeMembers"),
            {"id": theme["id"], "first": 4, "after": first["pageInfo"]["endCursor"]},
        )
    )["theme"]["members"]
    assert [m["feedbackId"] for m in first["nodes"] + second["nodes"]] == [
        m["feedbackId"] for m in members[:8]
    ]

    links = (await gql.data(_operation("FeedbackLinks"), {"status": "SUGGESTED", "first": 12}))[
        "feedbackLinks"
    ]
    assert links["totalCount"] == result["suggestedLinkCount"] and len(links["nodes"]) == min(
        12, links["totalCount"]
    )
    features = {feature.id: feature for feature in portfolio.features}
    assert all(link["feature"]["name"] == features[link["featureId"]].name for link in links["nodes"])
    ids = [link["feedbackId"] for link in links["nodes"]]
    texts = (await gql.data(_operation("FeedbackTexts"), {"ids": ids}))["nodes"]
    assert [item["text"] for item in texts] == [feedback[i].text for i in ids]

    confirm, reject = links["nodes"][0], links["nodes"][1]
    variables = {"feedbackId": confirm["feedbackId"], "featureId": confirm["featureId"]}
    denied = (await gql.data(_operation("ConfirmFeedbackLink"), variables))["confirmFeedbackLink"]
    assert denied["__typename"] == "PermissionDenied" and denied["yourRole"] == "viewer"
    done = (await gql.data(_operation("ConfirmFeedbackLink"), variables, role=Role.PLANNER))[
        "confirmFeedbackLink"
    ]
    assert done["link"]["status"] == "CONFIRMED" and done["link"]["decidedBy"] == "test planner"
    variables = {"feedbackId": reject["feedbackId"], "featureId": reject["featureId"]}
    done = (await gql.data(_operation("RejectFeedbackLink"), variables, role=Role.PLANNER))[
        "rejectFeedbackLink"
    ]
    assert done["link"]["status"] == "REJECTED" and done["link"]["score"] == pytest.approx(reject["score"])
    missing = (
        await gql.data(
            _operation("RejectFeedbackLink"), {**variables, "feedbackId": "fb-none"}, role=Role.PLANNER
        )
    )["rejectFeedbackLink"]
    assert missing["__typename"] == "NotFound" and missing["id"] == "fb-none"
    for status, link in (("CONFIRMED", confirm), ("REJECTED", reject)):
        decided = (await gql.data(_operation("FeedbackLinks"), {"status": status, "first": 12}))[
            "feedbackLinks"
        ]
        assert [(n["feedbackId"], n["featureId"]) for n in decided["nodes"]] == [
            (link["feedbackId"], link["featureId"])
        ]
    after = (await gql.data(_operation("Insight"), {"themesFirst": 0}))["suggested"]["totalCount"]
    assert after == result["suggestedLinkCount"] - 2

    # The panel's theme controls: a viewer is refused, a planner renames and merges with typed answers.
    kept, gone = themes[0], themes[1]
    rename = {"id": kept["id"], "label": "Slow exports"}
    merge = {"targetId": kept["id"], "sourceId": gone["id"]}
    for name, variables in (("RenameTheme", rename), ("MergeThemes", merge)):
        denied = next(iter((await gql.data(_operation(name), variables)).values()))
        assert denied["__typename"] == "PermissionDenied" and denied["yourRole"] == "viewer", name
    empty = await gql.data(_operation("RenameTheme"), {**rename, "label": " "}, role=Role.PLANNER)
    assert empty["renameTheme"]["__typename"] == "ValidationErrors"
    assert [issue["location"] for issue in empty["renameTheme"]["issues"]] == ["label"]
    renamed = (await gql.data(_operation("RenameTheme"), rename, role=Role.PLANNER))["renameTheme"]
    assert renamed["__typename"] == "ThemeChanged" and renamed["theme"]["label"] == "Slow exports"
    assert renamed["theme"]["renamedBy"] == "test planner"
    itself = await gql.data(_operation("MergeThemes"), {**merge, "sourceId": kept["id"]}, role=Role.PLANNER)
    assert itself["mergeThemes"]["__typename"] == "InvalidState"
    merged = (await gql.data(_operation("MergeThemes"), merge, role=Role.PLANNER))["mergeThemes"]
    assert merged["__typename"] == "ThemeChanged" and merged["theme"]["id"] == kept["id"]
    assert merged["theme"]["itemCount"] == kept["itemCount"] + gone["itemCount"]
    assert merged["theme"]["label"] == "Slow exports"
    again = (await gql.data(_operation("MergeThemes"), merge, role=Role.PLANNER))["mergeThemes"]
    assert again["__typename"] == "InvalidState"
    missing = (
        await gql.data(_operation("MergeThemes"), {**merge, "sourceId": "th-none"}, role=Role.PLANNER)
    )["mergeThemes"]
    assert missing["__typename"] == "NotFound" and missing["id"] == "th-none"
    listed = (await gql.data(_operation("Insight"), {"themesFirst": 100}))["themes"]
    assert listed["totalCount"] == len(themes) - 1
    assert gone["id"] not in {theme["id"] for theme in listed["nodes"]}
