"""Queries over the portfolio graph through the HTTP app: pages, filters, nested fields, round trips."""

from __future__ import annotations

import asyncio
import gc
from collections import defaultdict
from collections.abc import Callable

import pytest

from api.auth import Role, create_api_key
from graph import entity_reads, result_statements
from graph.entity_reads import PagedLabel, PageRequest
from graph.portfolio import Feature, FeatureStatus, Portfolio, Segment
from graph.result_store import RESULT_KINDS
from tests.api.conftest import ApiGraph, GraphQLClient

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

FEATURE_PAGE = """
query Page($first: Int, $after: String, $last: Int, $before: String, $filter: FeatureFilter) {
  features(first: $first, after: $after, last: $last, before: $before, filter: $filter) {
    edges { cursor node { id } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    totalCount
  }
}
"""


def feature_ids(portfolio: Portfolio) -> list[str]:
    return sorted(feature.id for feature in portfolio.features)


async def test_features_page_forward_then_backward(gql: GraphQLClient, api_graph: ApiGraph) -> None:
    every = feature_ids(api_graph.portfolio)
    first = (await gql.data(FEATURE_PAGE, {"first": 3}))["features"]
    assert [edge["node"]["id"] for edge in first["edges"]] == every[:3]
    assert first["pageInfo"]["hasNextPage"] is True
    assert first["pageInfo"]["hasPreviousPage"] is False
    assert first["totalCount"] == len(every) == 124  # 120 demo features + 4 tiny ones
    assert first["pageInfo"]["endCursor"] == first["edges"][-1]["cursor"]

    second = (await gql.data(FEATURE_PAGE, {"first": 3, "after": first["pageInfo"]["endCursor"]}))["features"]
    assert [edge["node"]["id"] for edge in second["edges"]] == every[3:6]
    assert second["pageInfo"]["hasPreviousPage"] is True

    back = (await gql.data(FEATURE_PAGE, {"last": 2, "before": second["pageInfo"]["startCursor"]}))[
        "features"
    ]
    assert [edge["node"]["id"] for edge in back["edges"]] == every[1:3]
    assert back["pageInfo"]["hasPreviousPage"] is True
    assert back["pageInfo"]["hasNextPage"] is True

    tail = (await gql.data(FEATURE_PAGE, {"last": 2}))["features"]
    assert [edge["node"]["id"] for edge in tail["edges"]] == every[-2:]
    assert tail["pageInfo"]["hasNextPage"] is False


async def test_walking_all_pages_visits_every_feature_once(gql: GraphQLClient, api_graph: ApiGraph) -> None:
    seen: list[str] = []
    after = None
    while True:
        page = (await gql.data(FEATURE_PAGE, {"first": 50, "after": after}))["features"]
        seen += [edge["node"]["id"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == feature_ids(api_graph.portfolio)


@pytest.mark.parametrize(
    ("page_filter", "keep"),
    [
        ({"status": "PLANNED"}, lambda f: f.status is FeatureStatus.PLANNED),
        ({"team": "team-payments"}, lambda f: f.team_id == "team-payments"),
        ({"product": "p-1"}, lambda f: f.product_id == "p-1"),
        (
            {"product": "prod-atlas", "status": "IN_PROGRESS"},
            lambda f: f.product_id == "prod-atlas" and f.status is FeatureStatus.IN_PROGRESS,
        ),
        ({"team": "no-such-team"}, lambda f: False),
    ],
)
async def test_feature_filters_match_the_portfolio(
    gql: GraphQLClient, api_graph: ApiGraph, page_filter: dict[str, str], keep: Callable[[Feature], bool]
) -> None:
    expected = sorted(f.id for f in api_graph.portfolio.features if keep(f))
    page = (await gql.data(FEATURE_PAGE, {"first": 100, "filter": page_filter}))["features"]
    assert [edge["node"]["id"] for edge in page["edges"]] == expected[:100]
    assert page["totalCount"] == len(expected)


async def test_customer_team_objective_and_product_lists(gql: GraphQLClient, api_graph: ApiGraph) -> None:
    portfolio = api_graph.portfolio
    data = await gql.data(
        """
        {
          customers(first: 100, filter: {segment: ENTERPRISE, product: "prod-atlas"}) {
            nodes { id segment } totalCount
          }
          teams(first: 100, filter: {product: "p-2"}) { nodes { id } }
          objectives(first: 100, filter: {product: "p-1"}) { nodes { id } }
          products(first: 2) { nodes { id name } pageInfo { hasNextPage } totalCount }
        }
        """
    )
    enterprise_atlas = sorted(
        c.id for c in portfolio.customers if c.segment is Segment.ENTERPRISE and "prod-atlas" in c.product_ids
    )
    assert [c["id"] for c in data["customers"]["nodes"]] == enterprise_atlas[:100]
    assert data["customers"]["totalCount"] == len(enterprise_atlas)
    assert {c["segment"] for c in data["customers"]["nodes"]} == {"ENTERPRISE"}
    # p-2 has one feature, f-4, which no team owns: no team qualifies.
    assert data["teams"]["nodes"] == []
    # p-1's features f-1 and f-2 support o-1 and o-2.
    assert [o["id"] for o in data["objectives"]["nodes"]] == ["o-1", "o-2"]
    all_products = sorted(p.id for p in portfolio.products)
    assert [p["id"] for p in data["products"]["nodes"]] == all_products[:2]
    assert data["products"]["pageInfo"]["hasNextPage"] is True
    assert data["products"]["totalCount"] == len(all_products) == 5


async def test_nested_fields_of_the_tiny_portfolio_by_hand(gql: GraphQLClient) -> None:
    data = await gql.data(
        """
        {
          feature(id: "f-2") {
            name status progress remainingEffortLikely targetDate
            product { id name }
            owner { id name meanThroughput }
            dependencies { id }
            dependents { id }
            objectives { id weight }
            release { id date product { id } }
            demand { requestCount arrWeightedDemand }
            requests { weight requestedAt customer { id } }
            requestingCustomers { id arr segment products { id } }
            feedback { id sentiment customer { id } feature { id } }
          }
          unowned: feature(id: "f-4") { owner { id } demand { requestCount arrWeightedDemand } }
          team(id: "t-1") { headcount capacity throughputHistory features(status: PLANNED) { id } }
          customer(id: "c-2") { requests { weight feature { id } } products { id } renewalDate }
          objective(id: "o-1") { features { id } dueDate }
          product(id: "p-2") { features { id } }
          missing: feature(id: "nope") { id }
        }
        """
    )
    f2 = data["feature"]
    assert f2["name"] == "SSO" and f2["status"] == "IN_PROGRESS" and f2["targetDate"] == "2026-09-30"
    assert f2["remainingEffortLikely"] == pytest.approx(3.0)  # 4.0 * (1 - 0.25)
    assert f2["product"] == {"id": "p-1", "name": "Atlas"}
    assert f2["owner"] == {"id": "t-1", "name": "Core", "meanThroughput": pytest.approx(3.0)}  # (2+3+4)/3
    assert f2["dependencies"] == [{"id": "f-1"}]
    assert f2["dependents"] == [{"id": "f-3"}]
    assert f2["objectives"] == [{"id": "o-1", "weight": 2.0}, {"id": "o-2", "weight": 1.0}]
    assert f2["release"] == {"id": "r-1", "date": "2026-09-30", "product": {"id": "p-1"}}
    # c-1: 200,000 x 2.0 + c-2: 50,000 x 0.5 = 425,000 from two requests.
    assert f2["demand"] == {"requestCount": 2, "arrWeightedDemand": pytest.approx(425_000.0)}
    assert f2["requests"] == [
        {"weight": 2.0, "requestedAt": "2026-01-15", "customer": {"id": "c-1"}},
        {"weight": 0.5, "requestedAt": None, "customer": {"id": "c-2"}},
    ]
    assert f2["requestingCustomers"] == [
        {"id": "c-1", "arr": 200_000.0, "segment": "ENTERPRISE", "products": [{"id": "p-1"}, {"id": "p-2"}]},
        {"id": "c-2", "arr": 50_000.0, "segment": "MID_MARKET", "products": [{"id": "p-1"}]},
    ]
    assert f2["feedback"] == [
        {"id": "fb-1", "sentiment": -0.5, "customer": {"id": "c-1"}, "feature": {"id": "f-2"}}
    ]
    # c-2: 50,000 x 3.0 + c-3: 10,000 x 1.0 = 160,000.
    assert data["unowned"] == {"owner": None, "demand": {"requestCount": 2, "arrWeightedDemand": 160_000.0}}
    assert data["team"] == {
        "headcount": 4,
        "capacity": 3.0,
        "throughputHistory": [2.0, 3.0, 4.0],
        "features": [{"id": "f-3"}],
    }
    assert data["customer"] == {
        "requests": [{"weight": 0.5, "feature": {"id": "f-2"}}, {"weight": 3.0, "feature": {"id": "f-4"}}],
        "products": [{"id": "p-1"}],
        "renewalDate": None,
    }
    assert data["objective"] == {"features": [{"id": "f-1"}, {"id": "f-2"}], "dueDate": "2027-03-31"}
    assert data["product"] == {"features": [{"id": "f-4"}]}
    assert data["missing"] is None


async def test_node_lookup_resolves_every_label(gql: GraphQLClient) -> None:
    data = await gql.data(
        """
        {
          nodes(ids: ["p-1", "f-1", "c-3", "t-2", "o-2", "r-2", "fb-2", "nope"]) {
            __typename id
            ... on Feedback { text customer { id } feature { id } }
            ... on Release { product { id } }
          }
          node(id: "t-1") { __typename ... on Team { name } }
        }
        """
    )
    assert data["nodes"] == [
        {"__typename": "Product", "id": "p-1"},
        {"__typename": "Feature", "id": "f-1"},
        {"__typename": "Customer", "id": "c-3"},
        {"__typename": "Team", "id": "t-2"},
        {"__typename": "Objective", "id": "o-2"},
        {"__typename": "Release", "id": "r-2", "product": None},
        {
            "__typename": "Feedback",
            "id": "fb-2",
            "text": "Love it",
            "customer": {"id": "c-3"},
            "feature": None,
        },
        None,
    ]
    assert data["node"] == {"__typename": "Team", "name": "Core"}


async def test_node_is_the_relay_node_interface_that_refetches_each_kind(gql: GraphQLClient) -> None:
    introspected = await gql.data(
        """
        {
          nodeType: __type(name: "Node") { kind fields { name type { kind ofType { name } } } possibleTypes { name } }
          query: __type(name: "Query") { fields { name type { name kind ofType { name ofType { name } } } } }
        }
        """
    )
    node_type = introspected["nodeType"]
    assert node_type["kind"] == "INTERFACE"
    assert node_type["fields"] == [{"name": "id", "type": {"kind": "NON_NULL", "ofType": {"name": "ID"}}}]
    kinds = {"Product", "Feature", "Customer", "Team", "Objective", "Release", "Feedback"}
    assert {t["name"] for t in node_type["possibleTypes"]} == kinds | {"Theme"}  # themes: the insight tests
    fields = {field["name"]: field["type"] for field in introspected["query"]["fields"]}
    assert fields["node"] == {"name": "Node", "kind": "INTERFACE", "ofType": None}
    assert fields["nodes"]["ofType"]["ofType"] == {"name": "Node"}  # [Node]!

    # Every id a node(id:) gives back refetches the same object through `... on Node`.
    ids = ["p-1", "f-1", "c-3", "t-2", "o-2", "r-2", "fb-2"]
    data = await gql.data(
        "query($ids: [ID!]!) { nodes(ids: $ids) { ... on Node { id } __typename } }", {"ids": ids}
    )
    typenames = [node["__typename"] for node in data["nodes"]]
    assert [node["id"] for node in data["nodes"]] == ids and set(typenames) == kinds
    for node_id, typename in zip(ids, typenames, strict=True):
        again = await gql.data("query($id: ID!) { node(id: $id) { __typename id } }", {"id": node_id})
        assert again["node"] == {"__typename": typename, "id": node_id}


RESULT_CONNECTIONS = """
query($first: Int, $after: String) {
  roadmapVersionsConnection(first: $first, after: $after, status: DRAFT) { edges { node { id } } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } totalCount }
  scenarioAnalysesConnection(first: $first, after: $after) { edges { node { id } } pageInfo { hasNextPage } totalCount }
  riskAssessmentsConnection(first: $first, after: $after) { nodes { id } pageInfo { hasNextPage } totalCount }
  portfolioReviewsConnection(first: $first, after: $after) { nodes { id } pageInfo { hasNextPage } totalCount }
}
"""


async def test_result_connections_of_a_graph_without_results(gql: GraphQLClient) -> None:
    data = await gql.data(RESULT_CONNECTIONS, {"first": 5})
    for name, page in data.items():
        assert page["totalCount"] == 0, name
        assert page["pageInfo"]["hasNextPage"] is False, name
    assert data["roadmapVersionsConnection"]["edges"] == []
    assert data["roadmapVersionsConnection"]["pageInfo"]["startCursor"] is None

    for variables, message in (
        ({"first": 101}, "`first` must be between 0 and 100"),
        ({"first": -1}, "`first` must be between 0 and 100"),
        ({"first": 1, "after": "bm9wZQ=="}, "`after` is not a cursor this API issued"),
    ):
        body = await gql.execute(RESULT_CONNECTIONS, variables)
        assert body["data"] is None
        assert {error["extensions"]["code"] for error in body["errors"]} == {"BAD_USER_INPUT"}
        assert message in body["errors"][0]["message"]


PAGE_WITH_NESTED_FIELDS = """
query Nested($first: Int!) {
  features(first: $first) {
    nodes {
      id
      owner { id name }
      dependencies { id owner { id } }
      demand { requestCount arrWeightedDemand }
    }
  }
}
"""


async def test_nested_fields_cost_a_bounded_number_of_round_trips(
    gql: GraphQLClient, api_graph: ApiGraph
) -> None:
    await gql.data("{ me { role } }")  # the key is now verified and remembered
    trips: dict[int, int] = {}
    for size in (10, 100):
        before = api_graph.queries.round_trips
        data = await gql.data(PAGE_WITH_NESTED_FIELDS, {"first": size})
        trips[size] = api_graph.queries.round_trips - before
        assert len(data["features"]["nodes"]) == size
    # One page statement, then at most one batch per loader and tick: owners, dependencies not on the
    # page, demand, then the owners of those dependencies. Without loaders 100 features would cost 300+.
    assert trips[10] <= 5
    assert trips[100] <= 5

    portfolio = api_graph.portfolio
    by_id = {f.id: f for f in portfolio.features}
    data = await gql.data(PAGE_WITH_NESTED_FIELDS, {"first": 100})
    demand: defaultdict[str, float] = defaultdict(float)
    arr = {c.id: c.arr for c in portfolio.customers}
    for request in portfolio.requests:
        demand[request.feature_id] += arr[request.customer_id] * request.weight
    for node in data["features"]["nodes"]:
        feature = by_id[node["id"]]
        assert (node["owner"] or {}).get("id") == feature.team_id
        assert [d["id"] for d in node["dependencies"]] == sorted(feature.depends_on)
        assert [(d["owner"] or {}).get("id") for d in node["dependencies"]] == [
            by_id[d].team_id for d in sorted(feature.depends_on)
        ]
        assert node["demand"]["arrWeightedDemand"] == pytest.approx(demand[feature.id])


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"first": 101}, "`first` must be between 0 and 100"),
        ({"last": -1}, "`last` must be between 0 and 100"),
        ({"first": 2, "last": 2}, "pass `first` or `last`, not both"),
        ({"first": 2, "after": "not-a-cursor"}, "`after` is not a cursor this API issued"),
        ({"last": 2, "after": "aWQ6Zi0x"}, "`after` pages forward"),
    ],
)
async def test_page_arguments_are_checked(
    gql: GraphQLClient, variables: dict[str, object], message: str
) -> None:
    body = await gql.execute(FEATURE_PAGE, variables)
    assert body["data"] is None
    [error] = body["errors"]
    assert message in error["message"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"


async def test_reads_need_a_key_and_me_reports_the_role(gql: GraphQLClient) -> None:
    body = await gql.execute("{ features(first: 1) { totalCount } }", role=None)
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert (await gql.data("{ me { role } }", role=None)) == {"me": None}
    for role in Role:
        me = (await gql.data("{ me { role name } }", role=role))["me"]
        assert me == {"role": role.name, "name": f"test {role.value}"}


async def test_every_api_statement_runs_on_the_live_graph(api_graph: ApiGraph) -> None:
    """Each statement EntityReads sends (its own and the result summaries), once, through its method."""
    queries = api_graph.queries
    ran: set[str] = set()
    original = queries.cypher.observer
    queries.cypher.observer = lambda query: ran.add(query.name)
    try:
        for label in PagedLabel:
            await queries.page(label, PageRequest(limit=2))
            await queries.page(label, PageRequest(limit=2, before="zzz", backward=True))
            await queries.count(label)
        await queries.ensure_schema()
        await queries.products_by_ids(["p-1"])
        await queries.teams_by_ids(["t-1"])
        await queries.features_by_ids(["f-1"])
        dependent = next(f for f in api_graph.portfolio.features if f.depends_on)
        found = await queries.features_with_prerequisites([dependent.id, "no-such-feature"])
        assert set(found) == {dependent.id, *dependent.depends_on}
        assert found[dependent.id].depends_on == sorted(dependent.depends_on)
        await queries.customers_by_ids(["c-1"])
        await queries.objectives_by_ids(["o-1"])
        await queries.releases_by_ids(["r-1"])
        await queries.feedback_by_ids(["fb-1"])
        await queries.labels_by_ids(["f-1"])
        await queries.requests_by_feature_ids(["f-2"])
        await queries.requests_by_customer_ids(["c-1"])
        await queries.owned_feature_ids_by_team_ids(["t-1"])
        await queries.feature_ids_by_product_ids(["p-1"])
        await queries.dependent_ids_by_feature_ids(["f-1"])
        await queries.feature_ids_by_objective_ids(["o-1"])
        await queries.feedback_ids_by_feature_ids(["f-2"])
        await queries.demand_by_feature_ids(["f-2"])
        for label in RESULT_KINDS:  # no results in this module's graph: each statement finds nothing
            assert await queries.result_properties(label, "no-such-run") is None
            assert await queries.result_report(label, "no-such-run") is None
        assert await queries.current_roadmap_properties("roadmap") is None
        throwaway = await create_api_key(queries, "throwaway", Role.VIEWER)
        keys = {key.id: key for key in await queries.api_keys()}
        assert len(keys) == len(Role) + 1
        assert await queries.api_key(throwaway.key_id) == keys[throwaway.key_id]
        assert await queries.revoke_api_key(throwaway.key_id, "2026-01-01T00:00:00+00:00") is True
        assert await queries.revoke_api_key(throwaway.key_id, "2026-01-02T00:00:00+00:00") is False
    finally:
        queries.cypher.observer = original
    # Also ran: the read model's statement the demand loader reuses, and the result summaries.
    summaries = {*result_statements.RESULT_SUMMARY.values(), *result_statements.RESULT_REPORT.values()}
    expected = {*entity_reads.STATEMENTS, *summaries, result_statements.CURRENT_ROADMAP_SUMMARY}
    assert ran == {query.name for query in expected} | {"read.feature_demand.selected"}


async def test_a_cancelled_statement_still_finishes_and_leaks_no_connection(api_graph: ApiGraph) -> None:
    """GraphQL cancels sibling resolvers when a field fails; the statement they sent must not leak its socket."""
    queries = api_graph.queries
    for delay in (0.0, 0.002, 0.005, 0.01):
        task = asyncio.create_task(queries.page(PagedLabel.FEATURE, PageRequest(limit=100)))
        await asyncio.sleep(delay)
        if not task.cancel():
            continue  # the statement finished before the cancel: nothing to leak
        with pytest.raises(asyncio.CancelledError):
            await task
    await asyncio.sleep(0.2)  # the shielded statements complete
    gc.collect()  # an unclosed socket would surface here as a ResourceWarning (an error under pytest)
    page = await queries.page(PagedLabel.FEATURE, PageRequest(limit=2))
    assert [f.id for f in page.items] == feature_ids(api_graph.portfolio)[:2]
