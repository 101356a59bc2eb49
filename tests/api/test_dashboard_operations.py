"""The dashboard's GraphQL operations (api/static/app/operations/*.graphql) against the schema.

The page loads these files and sends them as they are, so a schema change that breaks the page fails
here: every operation must parse and validate against the schema the code builds (and the committed SDL).
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest
from graphql import GraphQLSchema, OperationDefinitionNode, build_schema, parse, validate

from api.schema import build_schema as build_api_schema
from api.settings import ApiSettings
from tests.api.conftest import ApiGraph, GraphQLClient

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
