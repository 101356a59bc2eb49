"""Runs end to end through the HTTP app: a real Temporal dev server, an in-process worker with the
offline model, the real graph. Mutations start runs; queries read their state, progress and results."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator
from datetime import date
from typing import Any

import pytest
import pytest_asyncio
from temporalio.client import Client

from agents.reports import RiskAssessmentReport, RoadmapReport
from api.auth import Role
from graph.result_store import ResultStore
from graph.vocabulary import NodeLabel
from tests.api.conftest import (
    AS_OF,
    ApiGraph,
    GraphQLClient,
    in_process_client,
    make_services,
    running_worker,
)

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

OPTIONS = {"asOf": AS_OF.isoformat(), "trials": 500, "seed": 3}
RUN_FIELDS = "id kind state startedAt closedAt progress { stage percent messages }"


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def worker_queue(api_graph: ApiGraph, temporal_client: Client) -> AsyncIterator[str]:
    async with running_worker(temporal_client, api_graph.store) as task_queue:
        yield task_queue


@pytest_asyncio.fixture(loop_scope="session")
async def runs_gql(
    api_graph: ApiGraph, temporal_client: Client, worker_queue: str
) -> AsyncIterator[GraphQLClient]:
    services = make_services(api_graph, temporal=temporal_client, task_queue=worker_queue)
    async with in_process_client(services, api_graph.keys) as client:
        yield client


RUN_STATES = {"RUNNING", "COMPLETED", "FAILED", "CANCELLED", "TERMINATED", "TIMED_OUT"}


async def wait_for_run(
    gql: GraphQLClient, run_id: str, *, until: str, within_s: float = 120.0
) -> dict[str, Any]:
    """Poll `run(id)` until its state (e.g. COMPLETED) or, for a stage name, its progress stage."""
    deadline = time.monotonic() + within_s
    while True:
        run = (await gql.data(f"query($id: ID!) {{ run(id: $id) {{ {RUN_FIELDS} }} }}", {"id": run_id}))[
            "run"
        ]
        reached = run["state"] if until in RUN_STATES else (run["progress"] or {}).get("stage")
        if reached == until:
            return run
        assert run["state"] in ("RUNNING", until), run
        assert time.monotonic() < deadline, f"run {run_id} did not reach {until}: {run}"
        await asyncio.sleep(0.3)


async def start(gql: GraphQLClient, mutation: str, variables: dict[str, Any]) -> str:
    data = await gql.data(mutation, variables, role=Role.PLANNER)
    payload = next(iter(data.values()))
    assert payload["__typename"] == "RunStarted", payload
    assert payload["run"]["state"] == "RUNNING"
    return payload["run"]["id"]


def start_mutation(field: str, input_type: str) -> str:
    """The `field(input: $input)` mutation, answering the run it started or the validation issues."""
    return f"""
mutation($input: {input_type}) {{
  {field}(input: $input) {{
    __typename
    ... on RunStarted {{ run {{ {RUN_FIELDS} }} }}
    ... on ValidationErrors {{ issues {{ location message }} }}
  }}
}}
"""


START_RISK = start_mutation("startRiskAssessment", "RiskAssessmentInput")

RISK_RESULT = """
query($id: ID!) {
  run(id: $id) { state error { type } result { __typename ... on RiskAssessment { id } } }
  riskAssessment(id: $id) {
    id snapshotId asOf offline headline recommendation horizonWeeks arrAtRisk totalArr
    usage { requests toolCalls inputTokens outputTokens totalTokens }
    criticalPathIds criticalPath { id } criticalPathWeeks
    dependencyCriticalPathIds resourceCriticalPathIds resourceCriticalPath { id } resourceCriticalPathWeeks
    criticalPathNote expectedArrAtRisk
    customersExpectedAtRisk { customerId customer { id } missProbability expectedArrAtRisk }
    findings { statement evidenceIds evidence { __typename id } }
    risks { kind severity title affectedIds affected { id } }
    topTwo: risks(first: 2) { title }
    customersAtRisk { customerId customer { id arr } latestP85 lateFeatureIds }
    teamLoads { teamId team { id } loadRatio }
    cited { id }
  }
  riskAssessments(first: 5) { id }
  runs(kind: RISK_ASSESSMENT, first: 10) { id kind }
}
"""


async def test_risk_assessment_run_and_report(runs_gql: GraphQLClient, api_graph: ApiGraph) -> None:
    run_id = await start(runs_gql, START_RISK, {"input": {"riskHorizonWeeks": 26, "options": OPTIONS}})
    assert run_id.startswith("risk-")
    done = await wait_for_run(runs_gql, run_id, until="COMPLETED")
    assert done["progress"]["stage"] == "COMPLETED" and done["progress"]["percent"] == 100
    assert done["closedAt"] is not None

    data = await runs_gql.data(RISK_RESULT, {"id": run_id})
    assert data["run"] == {
        "state": "COMPLETED",
        "error": None,
        "result": {"__typename": "RiskAssessment", "id": run_id},
    }
    assessment = data["riskAssessment"]
    stored = await ResultStore(api_graph.store).get_result(
        NodeLabel.RISK_ASSESSMENT, run_id, with_report=True
    )
    assert stored is not None and stored.report_json is not None
    report = RiskAssessmentReport.model_validate_json(stored.report_json)
    engine = report.report
    assert assessment["asOf"] == AS_OF.isoformat() and assessment["offline"] is True
    usage = report.usage
    assert assessment["usage"] == {
        "requests": usage.requests,
        "toolCalls": usage.tool_calls,
        "inputTokens": usage.input_tokens,
        "outputTokens": usage.output_tokens,
        "totalTokens": usage.input_tokens + usage.output_tokens,
    }
    assert usage.requests >= 4 and usage.tool_calls >= 3, "the offline planner's requests and calls count"
    assert assessment["arrAtRisk"] == pytest.approx(engine.arr_at_risk)
    assert assessment["totalArr"] == pytest.approx(engine.total_arr)
    # The graph holds demo + tiny customers: total ARR is theirs, summed independently here.
    assert engine.total_arr == pytest.approx(sum(c.arr for c in api_graph.portfolio.customers))
    assert [r["title"] for r in assessment["risks"]] == [r.title for r in engine.risks]
    assert [r["title"] for r in assessment["topTwo"]] == [r.title for r in engine.risks[:2]]
    severities = [r["severity"] for r in assessment["risks"]]
    assert severities == sorted(severities, reverse=True)
    graph_ids = {
        entity.id
        for entity in (
            *api_graph.portfolio.features,
            *api_graph.portfolio.teams,
            *api_graph.portfolio.customers,
            *api_graph.portfolio.products,
        )
    }
    for risk in assessment["risks"]:
        # Every affected id that is a graph node resolves to it, in order.
        assert [a["id"] for a in risk["affected"]] == [i for i in risk["affectedIds"] if i in graph_ids]
    assert (
        [f["id"] for f in assessment["criticalPath"]] == engine.critical_path == assessment["criticalPathIds"]
    )
    assert assessment["dependencyCriticalPathIds"] == engine.critical_path
    assert (
        [f["id"] for f in assessment["resourceCriticalPath"]]
        == engine.resource_critical_path
        == assessment["resourceCriticalPathIds"]
    )
    assert assessment["resourceCriticalPathWeeks"] >= assessment["criticalPathWeeks"] - 1e-9
    assert "resource_critical_path" in assessment["criticalPathNote"]
    assert engine.expected_arr_at_risk is not None
    assert assessment["expectedArrAtRisk"] == pytest.approx(engine.expected_arr_at_risk)
    expected_losses = assessment["customersExpectedAtRisk"]
    assert math.fsum(c["expectedArrAtRisk"] for c in expected_losses) == pytest.approx(
        engine.expected_arr_at_risk
    )
    assert all(
        c["customer"]["id"] == c["customerId"] and 0 < c["missProbability"] <= 1 for c in expected_losses
    )
    for finding in assessment["findings"]:
        assert finding["evidenceIds"], finding
        assert {e["id"] for e in finding["evidence"]} <= set(finding["evidenceIds"])
        assert finding["evidence"], "an offline finding cites graph nodes"
    for customer in assessment["customersAtRisk"]:
        assert customer["customer"]["id"] == customer["customerId"]
    assert {load["teamId"] for load in assessment["teamLoads"]} == {t.team_id for t in engine.team_loads}
    assert {c["id"] for c in assessment["cited"]} == set(stored.cited_in_graph)
    assert run_id in [r["id"] for r in data["riskAssessments"]]
    assert {"id": run_id, "kind": "RISK_ASSESSMENT"} in data["runs"]


START_SCENARIOS = f"""
mutation($input: ScenarioSimulationInput!) {{
  startScenarioSimulation(input: $input) {{
    __typename
    ... on RunStarted {{ run {{ {RUN_FIELDS} }} }}
    ... on ValidationErrors {{ message issues {{ location message }} }}
  }}
}}
"""

SCENARIO_RESULT = """
query($id: ID!) {
  scenarioAnalysis(id: $id) {
    id headline preferredScenarioId
    baseline { trials arrAtRisk features { featureId feature { id owner { id } } p50 p85 p95 } }
    scenarios {
      id name arrAtRiskBefore arrAtRiskAfter arrAtRiskChange
      forecast { features { featureId p85 } }
      featureChanges { featureId feature { id } baselineP85 scenarioP85 p85ShiftDays }
    }
  }
}
"""


async def test_scenario_simulation_forecasts_and_deltas(runs_gql: GraphQLClient) -> None:
    scenarios = [
        {
            "id": "hire",
            "name": "Two hires on payments",
            "changes": [{"capacity": {"teamId": "team-payments", "delta": 2.0}}],
        },
        {
            "id": "slip",
            "name": "Everything slips a quarter",
            "changes": [
                {"shiftStart": {"start": date(2027, 3, 1).isoformat()}},
                {"reestimate": {"featureId": "f-3", "factor": 2.0}},
            ],
        },
    ]
    run_id = await start(runs_gql, START_SCENARIOS, {"input": {"scenarios": scenarios, "options": OPTIONS}})
    await wait_for_run(runs_gql, run_id, until="COMPLETED")
    analysis = (await runs_gql.data(SCENARIO_RESULT, {"id": run_id}))["scenarioAnalysis"]
    assert analysis["baseline"]["trials"] == 500
    for item in analysis["baseline"]["features"]:
        assert item["feature"]["id"] == item["featureId"]
        dates = [d for d in (item["p50"], item["p85"], item["p95"]) if d is not None]
        assert dates == sorted(dates)  # P50 <= P85 <= P95
    assert [s["id"] for s in analysis["scenarios"]] == ["hire", "slip"]
    baseline_p85 = {f["featureId"]: f["p85"] for f in analysis["baseline"]["features"]}
    for scenario in analysis["scenarios"]:
        assert scenario["arrAtRiskChange"] == pytest.approx(
            scenario["arrAtRiskAfter"] - scenario["arrAtRiskBefore"]
        )
        assert scenario["arrAtRiskBefore"] == pytest.approx(analysis["baseline"]["arrAtRisk"])
        scenario_p85 = {f["featureId"]: f["p85"] for f in scenario["forecast"]["features"]}
        for change in scenario["featureChanges"]:
            assert change["feature"]["id"] == change["featureId"]
            assert change["baselineP85"] == baseline_p85.get(change["featureId"])
            assert change["scenarioP85"] == scenario_p85.get(change["featureId"])
            if change["baselineP85"] and change["scenarioP85"]:
                shift = date.fromisoformat(change["scenarioP85"]) - date.fromisoformat(change["baselineP85"])
                assert change["p85ShiftDays"] == shift.days
    slip = analysis["scenarios"][1]
    assert slip["featureChanges"], "shifting every start by months moves forecasts"
    listed = (await runs_gql.data("{ scenarioAnalyses(first: 5) { id } }"))["scenarioAnalyses"]
    assert run_id in [item["id"] for item in listed]


async def test_scenario_input_is_validated_with_locations(runs_gql: GraphQLClient) -> None:
    bad = [
        {"id": "a", "name": "x", "changes": [{"capacity": {"teamId": "no-team", "delta": 1.0}}]},
        {"id": "a", "name": "y", "changes": [{"reestimate": {"featureId": "f-1", "factor": -2.0}}]},
        {"id": "b", "name": "z", "changes": [{"removeScope": {"featureIds": ["f-1", "no-feature"]}}]},
    ]
    data = await runs_gql.data(
        START_SCENARIOS, {"input": {"scenarios": bad, "options": {"trials": 5}}}, role=Role.PLANNER
    )
    result = data["startScenarioSimulation"]
    assert result["__typename"] == "ValidationErrors"
    locations = {issue["location"]: issue["message"] for issue in result["issues"]}
    assert locations["input.scenarios[0].changes[0].capacity.teamId"] == "no team with id 'no-team'"
    assert "input.scenarios[1].changes[0].reestimate.factor" in locations
    assert locations["input.scenarios[1].id"] == "duplicate id 'a'"
    assert (
        locations["input.scenarios[2].changes[0].removeScope.featureIds[1]"]
        == "no feature with id 'no-feature'"
    )
    data = await runs_gql.data(
        START_SCENARIOS,
        {"input": {"scenarios": [{"id": "ok", "name": "ok", "changes": []}], "options": {"trials": 5}}},
        role=Role.PLANNER,
    )
    [issue] = data["startScenarioSimulation"]["issues"]
    assert issue["location"] == "input.trials"


START_ROADMAP = start_mutation("startRoadmapDraft", "RoadmapDraftInput")

REVIEW = """
mutation($id: ID!, $comment: String!) {
  approve: approveRoadmap(runId: $id, comment: $comment) {
    __typename
    ... on RoadmapReviewed { run { state } version { id status current reviewer reviewComment version } }
    ... on InvalidState { message }
    ... on NotFound { message }
  }
}
"""

REJECT = """
mutation($id: ID!) {
  rejectRoadmap(runId: $id, comment: "not now") {
    __typename
    ... on RoadmapReviewed { version { id status current reviewer capacityModel capacityProbability } }
    ... on InvalidState { message }
  }
}
"""

ROADMAP = """
query($id: ID!) {
  roadmap {
    id version status current
    capacityModel capacityProbability utilisation
    quarters { index start end commitments { featureId quarter } explorations { featureId quarter } capacity { teamId team { id } used available source } }
    items {
      featureId quarter endQuarter quarterEfforts finishProbability kind value confidence pinned rationale
      feature { id name owner { id } dependencies { id } demand { arrWeightedDemand } }
      team { id }
      scores { method value rice { score formula inputs { name value } } wsjf { score } demand { score } }
    }
    commitments: items(kind: COMMITMENT) { featureId }
    leftOut { featureId reason feature { id } }
    findings { evidenceIds evidence { __typename id } }
  }
  roadmapVersion(id: $id) { id status }
  drafts: roadmapVersions(status: DRAFT) { id }
}
"""

ITEMS_WITH_NESTED_FIELDS = """
query {
  roadmap {
    placed: items(first: 100) {
      featureId
      feature { ...Planned demand { requestCount arrWeightedDemand } }
      team { id name }
    }
  }
}
fragment Planned on Feature {
  id name status owner { id name capacity } dependencies { id name status owner { id } }
}
"""


async def test_roadmap_draft_is_approved_and_becomes_current(
    runs_gql: GraphQLClient, api_graph: ApiGraph, temporal_client: Client
) -> None:
    run_id = await start(
        runs_gql,
        START_ROADMAP,
        {"input": {"quarters": 3, "pins": [{"featureId": "f-3", "quarter": 2}], "options": OPTIONS}},
    )
    waiting = await wait_for_run(runs_gql, run_id, until="AWAITING_REVIEW")
    assert waiting["state"] == "RUNNING"
    draft = await runs_gql.data(
        "query($id: ID!) { roadmapVersion(id: $id) { status current version } }", {"id": run_id}
    )
    assert draft["roadmapVersion"]["status"] == "DRAFT" and draft["roadmapVersion"]["current"] is False

    reviewed = (await runs_gql.data(REVIEW, {"id": run_id, "comment": "ship it"}, role=Role.APPROVER))[
        "approve"
    ]
    assert reviewed["__typename"] == "RoadmapReviewed", reviewed
    version = reviewed["version"]
    assert version["status"] == "PUBLISHED" and version["current"] is True
    assert version["reviewer"] == "test approver" and version["reviewComment"] == "ship it"
    # Temporal's own tools find the run by who started it (the planner's key) and who reviewed it.
    described = await temporal_client.get_workflow_handle(run_id).describe()
    attributes = {pair.key.name: pair.value for pair in described.typed_search_attributes}
    assert attributes["LodestarRequestedBy"] == "test planner"
    assert attributes["LodestarReviewer"] == "test approver" and attributes["LodestarKind"] == "roadmap"

    again = (await runs_gql.data(REVIEW, {"id": run_id, "comment": "again"}, role=Role.APPROVER))["approve"]
    assert again["__typename"] == "InvalidState"

    data = await runs_gql.data(ROADMAP, {"id": run_id})
    roadmap = data["roadmap"]
    assert roadmap["id"] == run_id and roadmap["status"] == "PUBLISHED" and roadmap["current"] is True
    stored = await ResultStore(api_graph.store).get_result(
        NodeLabel.ROADMAP_VERSION, run_id, with_report=True
    )
    assert stored is not None and stored.report_json is not None
    plan = RoadmapReport.model_validate_json(stored.report_json).plan
    assert roadmap["capacityModel"] == plan.capacity_model == "throughput"
    assert roadmap["capacityProbability"] == pytest.approx(0.85)
    sources = {c["source"] for q in roadmap["quarters"] for c in q["capacity"]}
    assert sources <= {"throughput_history", "capacity_prior"} and sources
    # Quarters are 1-based in the whole API, as in the pin: the engine's 0-based index + 1.
    assert [q["index"] for q in roadmap["quarters"]] == [q.index + 1 for q in plan.quarters] == [1, 2, 3]
    for quarter in roadmap["quarters"]:
        assert {i["quarter"] for i in quarter["commitments"] + quarter["explorations"]} <= {quarter["index"]}
    assert [i["featureId"] for i in roadmap["items"]] == [i.feature_id for i in plan.items()]
    by_feature = {i["featureId"]: i for i in roadmap["items"]}
    assert by_feature["f-3"]["pinned"] is True and by_feature["f-3"]["quarter"] == 2  # pinned to quarter 2
    portfolio_features = {f.id: f for f in api_graph.portfolio.features}
    for item, engine_item in zip(roadmap["items"], plan.items(), strict=True):
        assert item["feature"]["id"] == item["featureId"]
        assert (item["feature"]["owner"] or {}).get("id") == portfolio_features[item["featureId"]].team_id
        assert item["team"]["id"] == engine_item.team_id
        assert item["scores"]["value"] == pytest.approx(engine_item.scores.value)
        assert item["scores"]["rice"]["formula"] == engine_item.scores.rice.formula
        assert item["quarter"] == engine_item.quarter + 1
        assert item["endQuarter"] == (engine_item.end_quarter or 0) + 1 >= item["quarter"]
        assert item["quarterEfforts"] == pytest.approx(engine_item.quarter_efforts)
        assert len(item["quarterEfforts"]) == item["endQuarter"] - item["quarter"] + 1
        assert item["finishProbability"] == pytest.approx(engine_item.finish_probability)
        assert 0 <= item["finishProbability"] <= 1
        assert f"quarter {item['quarter']}" in item["rationale"]
        assert item["kind"] == engine_item.kind.upper()
    assert [c["featureId"] for c in roadmap["commitments"]] == [
        i.feature_id for i in plan.items() if i.kind == "commitment"
    ]
    for left in roadmap["leftOut"]:
        assert left["feature"]["id"] == left["featureId"]
    evidence = [e for finding in roadmap["findings"] for e in finding["evidence"]]
    assert evidence and all(e["__typename"] in {"Feature", "Team", "Customer", "Product"} for e in evidence)
    assert data["roadmapVersion"] == {"id": run_id, "status": "PUBLISHED"}
    assert run_id not in [d["id"] for d in data["drafts"]]

    # The benchmark's shape (bench/api.py), through an alias and a fragment: the items' features, their
    # owners, demand and prerequisites (with their owners) and the items' teams are looked ahead in a few
    # batched statements, whatever the number of items.
    before = api_graph.queries.round_trips
    items = (await runs_gql.data(ITEMS_WITH_NESTED_FIELDS))["roadmap"]["placed"]
    assert api_graph.queries.round_trips - before <= 6
    assert [i["featureId"] for i in items] == [i.feature_id for i in plan.items()][:100]
    for item in items:
        feature = portfolio_features[item["featureId"]]
        assert item["feature"]["name"] == feature.name
        assert (item["feature"]["owner"] or {}).get("id") == feature.team_id
        assert [d["id"] for d in item["feature"]["dependencies"]] == sorted(feature.depends_on)
        assert [(d["owner"] or {}).get("id") for d in item["feature"]["dependencies"]] == [
            portfolio_features[d].team_id for d in sorted(feature.depends_on)
        ]
        requests = [r for r in api_graph.portfolio.requests if r.feature_id == feature.id]
        assert item["feature"]["demand"]["requestCount"] == len(requests)
    done = await wait_for_run(runs_gql, run_id, until="COMPLETED")
    assert done["state"] == "COMPLETED"


async def test_roadmap_draft_rejected_and_a_run_cancelled(runs_gql: GraphQLClient) -> None:
    rejected_id = await start(
        runs_gql, START_ROADMAP, {"input": {"quarters": 2, "capacityModel": "NOMINAL", "options": OPTIONS}}
    )
    cancelled_id = await start(runs_gql, START_ROADMAP, {"input": {"quarters": 2, "options": OPTIONS}})
    await wait_for_run(runs_gql, rejected_id, until="AWAITING_REVIEW")
    result = (await runs_gql.data(REJECT, {"id": rejected_id}, role=Role.ADMIN))["rejectRoadmap"]
    assert result["__typename"] == "RoadmapReviewed"
    assert result["version"]["status"] == "REJECTED" and result["version"]["current"] is False
    assert result["version"]["reviewer"] == "test admin"
    assert (
        result["version"]["capacityModel"] == "nominal" and result["version"]["capacityProbability"] is None
    )

    cancel = """
    mutation($id: ID!) {
      cancelRun(id: $id) {
        __typename ... on RunCancelled { run { id } } ... on InvalidState { message } ... on NotFound { message }
      }
    }
    """
    first = (await runs_gql.data(cancel, {"id": cancelled_id}, role=Role.PLANNER))["cancelRun"]
    assert first == {"__typename": "RunCancelled", "run": {"id": cancelled_id}}
    ended = await wait_for_run(runs_gql, cancelled_id, until="CANCELLED")
    assert ended["closedAt"] is not None
    error = await runs_gql.data(
        "query($id: ID!) { run(id: $id) { error { type message } } }", {"id": cancelled_id}
    )
    assert error["run"]["error"]["type"] == "Cancelled"
    second = (await runs_gql.data(cancel, {"id": cancelled_id}, role=Role.PLANNER))["cancelRun"]
    assert second["__typename"] == "InvalidState"
    missing = (await runs_gql.data(cancel, {"id": "risk-doesnotexist"}, role=Role.PLANNER))["cancelRun"]
    assert missing["__typename"] == "NotFound"
    assert (await runs_gql.data('{ run(id: "risk-doesnotexist") { id } }'))["run"] is None


REVIEW_RESULT = """
query($id: ID!) {
  portfolioReview(id: $id) {
    id headline arrAtRisk arrAtRiskChange riskCount newRisks newRiskCount previousReviewId
    riskAssessmentId riskAssessment { id arrAtRisk } previousReview { id }
  }
  portfolioReviews(first: 10) { id }
  run(id: $id) { kind state result { __typename } }
}
"""


async def test_a_triggered_review_schedule_runs_a_portfolio_review(runs_gql: GraphQLClient) -> None:
    create = """
    mutation($input: ReviewScheduleInput!) {
      createReviewSchedule(input: $input) { __typename ... on ReviewScheduleSet { schedule { id } } }
    }
    """
    given = {"id": "api-test-review", "everySeconds": 86400.0, "asOf": AS_OF.isoformat(), "trials": 500}
    created = (await runs_gql.data(create, {"input": given}, role=Role.ADMIN))["createReviewSchedule"]
    assert created == {"__typename": "ReviewScheduleSet", "schedule": {"id": "api-test-review"}}
    try:
        trigger = """mutation { triggerReviewSchedule(id: "api-test-review") { __typename } }"""
        assert (await runs_gql.data(trigger, role=Role.ADMIN))["triggerReviewSchedule"] == {
            "__typename": "ReviewScheduleSet"
        }
        deadline = time.monotonic() + 60
        run_ids: list[str] = []
        while not run_ids:
            schedule = (
                await runs_gql.data('{ reviewSchedule(id: "api-test-review") { recentRunIds actionsTaken } }')
            )["reviewSchedule"]
            run_ids = schedule["recentRunIds"]
            assert time.monotonic() < deadline, schedule
            await asyncio.sleep(0.3)
        [run_id] = run_ids
        assert run_id.startswith("review-api-test-review")
        await wait_for_run(runs_gql, run_id, until="COMPLETED")
        data = await runs_gql.data(REVIEW_RESULT, {"id": run_id})
        review = data["portfolioReview"]
        assert review["id"] == run_id
        assert review["riskAssessment"]["id"] == review["riskAssessmentId"]
        assert review["arrAtRisk"] == pytest.approx(review["riskAssessment"]["arrAtRisk"])
        # No earlier review in this graph: the first review has no trend.
        assert review["previousReviewId"] is None and review["previousReview"] is None
        assert review["arrAtRiskChange"] is None
        assert run_id in [r["id"] for r in data["portfolioReviews"]]
        assert data["run"] == {
            "kind": "PORTFOLIO_REVIEW",
            "state": "COMPLETED",
            "result": {"__typename": "PortfolioReview"},
        }
    finally:
        delete = 'mutation { deleteReviewSchedule(id: "api-test-review") { __typename } }'
        await runs_gql.data(delete, role=Role.ADMIN)


RESULT_AND_RUN_PAGES = """
query($first: Int, $after: String, $runsAfter: String) {
  riskAssessmentsConnection(first: $first, after: $after) {
    edges { cursor node { id } }
    pageInfo { hasNextPage hasPreviousPage endCursor }
    totalCount
  }
  runsConnection(kind: RISK_ASSESSMENT, first: $first, after: $runsAfter) {
    edges { cursor node { id kind } }
    pageInfo { hasNextPage endCursor }
    totalCount
  }
}
"""


async def test_result_and_run_connections_page_through_everything(runs_gql: GraphQLClient) -> None:
    started = [
        await start(
            runs_gql, START_RISK, {"input": {"riskHorizonWeeks": 13, "options": {**OPTIONS, "seed": s}}}
        )
        for s in (11, 12)
    ]
    for run_id in started:
        await wait_for_run(runs_gql, run_id, until="COMPLETED")
    lists = "{ riskAssessments(first: 100) { id } runs(kind: RISK_ASSESSMENT, first: 100) { id state } }"
    deadline = time.monotonic() + 30
    while True:  # Temporal's list (its visibility store) catches up with the runs' ends shortly after
        listed = await runs_gql.data(lists)
        states = {run["id"]: run["state"] for run in listed["runs"]}
        if all(states.get(run_id) == "COMPLETED" for run_id in started):
            break
        assert time.monotonic() < deadline, listed["runs"]
        await asyncio.sleep(0.3)
    newest_results = [r["id"] for r in listed["riskAssessments"]]
    newest_runs = [r["id"] for r in listed["runs"]]
    assert set(started) <= set(newest_results) and set(started) <= set(newest_runs)

    results: list[str] = []
    runs: list[str] = []
    after: str | None = None
    runs_after: str | None = None
    results_done = runs_done = False
    for _ in range(len(newest_runs) + 2):
        data = await runs_gql.data(
            RESULT_AND_RUN_PAGES, {"first": 1, "after": after, "runsAfter": runs_after}
        )
        page, run_page = data["riskAssessmentsConnection"], data["runsConnection"]
        assert page["totalCount"] == len(newest_results) and run_page["totalCount"] == len(newest_runs)
        assert len(page["edges"]) <= 1 and len(run_page["edges"]) <= 1
        assert page["pageInfo"]["hasPreviousPage"] is (after is not None)
        if not results_done:
            results += [edge["node"]["id"] for edge in page["edges"]]
            results_done = not page["pageInfo"]["hasNextPage"]
            after = page["pageInfo"]["endCursor"]
        if not runs_done:
            runs += [edge["node"]["id"] for edge in run_page["edges"]]
            assert all(edge["node"]["kind"] == "RISK_ASSESSMENT" for edge in run_page["edges"])
            assert run_page["edges"], "no empty page after the last run"
            runs_done = not run_page["pageInfo"]["hasNextPage"]
            runs_after = run_page["pageInfo"]["endCursor"]
        if results_done and runs_done:
            break
    # Page by page, the same items in the same order as the lists, each once.
    assert results == newest_results
    assert runs == newest_runs

    # A cursor of any edge continues right after it, not only the page's end cursor.
    two = await runs_gql.data(RESULT_AND_RUN_PAGES, {"first": 2})
    middle = two["runsConnection"]["edges"][0]["cursor"]
    after_first = (await runs_gql.data(RESULT_AND_RUN_PAGES, {"first": 1, "runsAfter": middle}))[
        "runsConnection"
    ]
    assert [edge["node"]["id"] for edge in after_first["edges"]] == newest_runs[1:2]

    empty = await runs_gql.data(RESULT_AND_RUN_PAGES, {"first": 0})
    for name in ("riskAssessmentsConnection", "runsConnection"):
        assert empty[name]["edges"] == [] and empty[name]["pageInfo"]["hasNextPage"] is True, name

    bad = await runs_gql.execute(RESULT_AND_RUN_PAGES, {"first": 1, "runsAfter": "not-a-cursor"})
    assert bad["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", bad
