"""Every mutation under every role, and the portfolio import with its typed validation errors."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from temporalio.client import Client

from api.auth import Role
from graph.portfolio_files import parse_json
from tests.api.conftest import ApiGraph, GraphQLClient, in_process_client, make_services
from tests.conftest import build_tiny_portfolio

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


@pytest_asyncio.fixture(loop_scope="session")
async def mgql(api_graph: ApiGraph, temporal_client: Client) -> AsyncIterator[GraphQLClient]:
    """The app connected to Temporal, with no worker: nothing here may start a run."""
    services = make_services(api_graph, temporal=temporal_client, task_queue="no-worker")
    async with in_process_client(services, api_graph.keys) as client:
        yield client


DENIED = "... on PermissionDenied { message requiredRole yourRole }"

# Each operation is harmless when allowed: invalid input or an unknown run, so it answers with the
# typed error named here instead of doing anything.
MUTATIONS: list[tuple[str, Role, str, str]] = [
    (
        "importPortfolio",
        Role.ADMIN,
        'mutation { importPortfolio(document: "{\\"features\\": 1}") { __typename %s } }',
        "ValidationErrors",
    ),
    (
        "startScenarioSimulation",
        Role.PLANNER,
        'mutation { startScenarioSimulation(input: {scenarios: [{id: "s", name: "s", changes: '
        '[{capacity: {teamId: "nope", delta: 1}}]}]}) { __typename %s } }',
        "ValidationErrors",
    ),
    (
        "startRoadmapDraft",
        Role.PLANNER,
        'mutation { startRoadmapDraft(input: {quarters: 2, pins: [{featureId: "f-1", quarter: 9}]}) '
        "{ __typename %s } }",
        "ValidationErrors",
    ),
    (
        "startRiskAssessment",
        Role.PLANNER,
        "mutation { startRiskAssessment(input: {options: {trials: 5}}) { __typename %s } }",
        "ValidationErrors",
    ),
    ("cancelRun", Role.PLANNER, 'mutation { cancelRun(id: "risk-none") { __typename %s } }', "NotFound"),
    (
        "approveRoadmap",
        Role.APPROVER,
        'mutation { approveRoadmap(runId: "roadmap-none") { __typename %s } }',
        "NotFound",
    ),
    (
        "rejectRoadmap",
        Role.APPROVER,
        'mutation { rejectRoadmap(runId: "roadmap-none", comment: "no") { __typename %s } }',
        "NotFound",
    ),
    (
        "createReviewSchedule",
        Role.ADMIN,
        'mutation { createReviewSchedule(input: {id: "bad id!", everySeconds: 5}) { __typename %s } }',
        "ValidationErrors",
    ),
    (
        "pauseReviewSchedule",
        Role.ADMIN,
        'mutation { pauseReviewSchedule(id: "none") { __typename %s } }',
        "NotFound",
    ),
    (
        "unpauseReviewSchedule",
        Role.ADMIN,
        'mutation { unpauseReviewSchedule(id: "none") { __typename %s } }',
        "NotFound",
    ),
    (
        "triggerReviewSchedule",
        Role.ADMIN,
        'mutation { triggerReviewSchedule(id: "none") { __typename %s } }',
        "NotFound",
    ),
    (
        "deleteReviewSchedule",
        Role.ADMIN,
        'mutation { deleteReviewSchedule(id: "none") { __typename %s } }',
        "NotFound",
    ),
    (
        "eraseCustomer",
        Role.ADMIN,
        'mutation { eraseCustomer(id: "cust-none") { __typename %s } }',
        "NotFound",
    ),
]


@pytest.mark.parametrize(
    ("field", "required", "operation", "allowed_answer"), MUTATIONS, ids=[m[0] for m in MUTATIONS]
)
@pytest.mark.parametrize("role", [None, *Role], ids=["anonymous", *(r.value for r in Role)])
async def test_each_role_on_each_mutation(
    mgql: GraphQLClient, field: str, required: Role, operation: str, allowed_answer: str, role: Role | None
) -> None:
    data = await mgql.data(operation % DENIED, role=role)
    answer = data[field]
    if role is not None and role.includes(required):
        assert answer["__typename"] == allowed_answer, answer
    else:
        assert answer == {
            "__typename": "PermissionDenied",
            "message": f"this needs an API key with the `{required.value}` role or higher",
            "requiredRole": required.value,
            "yourRole": role.value if role is not None else None,
        }


IMPORT = """
mutation($document: String!) {
  importPortfolio(document: $document) {
    __typename
    ... on PortfolioImported { changed nodes { type created updated unchanged } relationships { type created deleted } }
    ... on ValidationErrors { message issues { location message collection row field } }
  }
}
"""


async def test_import_reports_what_changed(mgql: GraphQLClient, api_graph: ApiGraph) -> None:
    tiny = build_tiny_portfolio()
    same = (await mgql.data(IMPORT, {"document": tiny.model_dump_json()}, role=Role.ADMIN))["importPortfolio"]
    assert same["__typename"] == "PortfolioImported" and same["changed"] is False
    nodes = {n["type"]: n for n in same["nodes"]}
    assert nodes["Feature"] == {"type": "Feature", "created": 0, "updated": 0, "unchanged": 4}

    document = json.loads(tiny.model_dump_json())
    document["products"][0]["name"] = "Beacon Pro"  # p-2
    document["features"][2]["depends_on"] = ["f-2"]  # f-3 no longer depends on f-1
    try:
        changed = (await mgql.data(IMPORT, {"document": json.dumps(document)}, role=Role.ADMIN))[
            "importPortfolio"
        ]
        assert changed["changed"] is True
        nodes = {n["type"]: n for n in changed["nodes"]}
        assert nodes["Product"]["updated"] == 1 and nodes["Product"]["unchanged"] == 1
        relationships = {r["type"]: r for r in changed["relationships"]}
        assert relationships["DEPENDS_ON"]["deleted"] == 1 and relationships["DEPENDS_ON"]["created"] == 0
        after = await mgql.data('{ product(id: "p-2") { name } feature(id: "f-3") { dependencies { id } } }')
        assert after == {"product": {"name": "Beacon Pro"}, "feature": {"dependencies": [{"id": "f-2"}]}}
    finally:
        await api_graph.store.import_portfolio(parse_json(tiny.model_dump_json()))


async def test_import_validation_errors_are_typed_with_locations(
    mgql: GraphQLClient, api_graph: ApiGraph
) -> None:
    document = json.loads(build_tiny_portfolio().model_dump_json())
    document["features"][1]["effort_low"] = -1.0
    document["features"][0]["team_id"] = "t-404"
    before = await api_graph.store.counts()
    result = (await mgql.data(IMPORT, {"document": json.dumps(document)}, role=Role.ADMIN))["importPortfolio"]
    assert result["__typename"] == "ValidationErrors"
    by_location = {issue["location"]: issue for issue in result["issues"]}
    assert "features[1].effort_low" in by_location
    assert by_location["features[1].effort_low"]["collection"] == "features"
    assert by_location["features[1].effort_low"]["row"] == 1
    assert by_location["features[1].effort_low"]["field"] == "effort_low"
    assert any(location.startswith("features[0].team_id") for location in by_location)
    assert await api_graph.store.counts() == before  # nothing was written

    malformed = (await mgql.data(IMPORT, {"document": '{"features": ['}, role=Role.ADMIN))["importPortfolio"]
    assert malformed["__typename"] == "ValidationErrors"
    assert "malformed JSON at line 1" in malformed["issues"][0]["message"]


async def test_an_id_used_by_two_kinds_is_refused_so_node_lookups_stay_unambiguous(
    mgql: GraphQLClient, api_graph: ApiGraph
) -> None:
    document = json.loads(build_tiny_portfolio().model_dump_json())
    product_id = document["products"][0]["id"]
    document["teams"][0]["id"] = product_id
    for feature in document["features"]:  # keep the references intact: only the clash is wrong
        if feature.get("team_id") == build_tiny_portfolio().teams[0].id:
            feature["team_id"] = product_id
    before = await api_graph.store.counts()
    result = (await mgql.data(IMPORT, {"document": json.dumps(document)}, role=Role.ADMIN))["importPortfolio"]
    assert result["__typename"] == "ValidationErrors", result
    [issue] = [issue for issue in result["issues"] if "unique across all kinds" in issue["message"]]
    assert issue["location"] == "teams[0].id" and issue["collection"] == "teams"
    assert f"team id '{product_id}' is already the id of a product (at products[0])" in issue["message"]
    assert await api_graph.store.counts() == before  # nothing was written


SCHEDULE_FIELDS = "id paused note intervalSeconds cronExpressions actionsTaken recentRunIds nextActionTimes"


async def test_review_schedule_lifecycle(mgql: GraphQLClient) -> None:
    create = f"""
    mutation($input: ReviewScheduleInput!) {{
      createReviewSchedule(input: $input) {{
        __typename
        ... on ReviewScheduleSet {{ schedule {{ {SCHEDULE_FIELDS} }} }}
        ... on ValidationErrors {{ issues {{ location message }} }}
        ... on InvalidState {{ message }}
      }}
    }}
    """
    given = {"id": "api-test-weekly", "everySeconds": 3600.0, "note": "made by the API test", "trials": 500}
    created = (await mgql.data(create, {"input": given}, role=Role.ADMIN))["createReviewSchedule"]
    assert created["__typename"] == "ReviewScheduleSet", created
    schedule = created["schedule"]
    assert schedule["id"] == "api-test-weekly" and schedule["paused"] is False
    assert schedule["intervalSeconds"] == [3600.0] and schedule["note"] == "made by the API test"
    assert schedule["actionsTaken"] == 0 and len(schedule["nextActionTimes"]) >= 1
    try:
        twice = (await mgql.data(create, {"input": given}, role=Role.ADMIN))["createReviewSchedule"]
        assert twice == {
            "__typename": "InvalidState",
            "message": "a schedule with id 'api-test-weekly' already exists",
        }
        bad = (
            await mgql.data(
                create, {"input": {"id": "api-test-bad", "everySeconds": 10, "trials": 1}}, role=Role.ADMIN
            )
        )["createReviewSchedule"]
        assert {i["location"] for i in bad["issues"]} == {"input.everySeconds"}
        bad = (await mgql.data(create, {"input": {"id": "api-test-bad", "trials": 1}}, role=Role.ADMIN))[
            "createReviewSchedule"
        ]
        assert {i["location"] for i in bad["issues"]} == {"input.trials"}

        pause = """mutation { pauseReviewSchedule(id: "api-test-weekly", note: "holidays") {
            ... on ReviewScheduleSet { schedule { paused note } } } }"""
        paused = (await mgql.data(pause, role=Role.ADMIN))["pauseReviewSchedule"]
        assert paused == {"schedule": {"paused": True, "note": "holidays"}}
        seen = await mgql.data(
            '{ reviewSchedule(id: "api-test-weekly") { paused } missing: reviewSchedule(id: "x") { id } }'
        )
        assert seen == {"reviewSchedule": {"paused": True}, "missing": None}
        unpause = """mutation { unpauseReviewSchedule(id: "api-test-weekly") {
            ... on ReviewScheduleSet { schedule { paused } } } }"""
        assert (await mgql.data(unpause, role=Role.ADMIN))["unpauseReviewSchedule"] == {
            "schedule": {"paused": False}
        }
    finally:
        delete = """mutation { deleteReviewSchedule(id: "api-test-weekly") {
            __typename ... on ReviewScheduleDeleted { id } } }"""
        deleted = (await mgql.data(delete, role=Role.ADMIN))["deleteReviewSchedule"]
    assert deleted == {"__typename": "ReviewScheduleDeleted", "id": "api-test-weekly"}
    assert (await mgql.data('{ reviewSchedule(id: "api-test-weekly") { id } }'))["reviewSchedule"] is None
