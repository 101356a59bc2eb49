"""Over-reliance on AI, through the API: every AI-written result names the model that wrote it and backs
each claim with evidence ids that resolve to graph nodes; a roadmap draft is published only by a person's
approval, and the audit trail (who asked, which model drafted, who approved when and why, what it
superseded) is queryable."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from temporalio.client import Client

from agents.model_config import OFFLINE_DISCLAIMER, OFFLINE_MODEL_NAME
from api.auth import Role
from tests.api.conftest import ApiGraph, GraphQLClient, in_process_client, make_services, running_worker
from tests.api.test_runs import OPTIONS, START_RISK, START_ROADMAP, start, wait_for_run

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

NARRATIVE = "modelName offline headline recommendation findings { statement evidenceIds evidence { id } }"


@pytest_asyncio.fixture(loop_scope="session")
async def ogql(api_graph: ApiGraph, temporal_client: Client) -> AsyncIterator[GraphQLClient]:
    async with running_worker(temporal_client, api_graph.store) as queue:
        services = make_services(api_graph, temporal=temporal_client, task_queue=queue)
        async with in_process_client(services, api_graph.keys) as client:
            yield client


def _check_narrative(result: dict[str, object]) -> None:
    assert result["modelName"] == OFFLINE_MODEL_NAME and result["offline"] is True
    assert OFFLINE_DISCLAIMER in str(result["headline"]), "the narrative says no language model wrote it"
    findings = result["findings"]
    assert isinstance(findings, list) and findings
    for finding in findings:
        assert finding["evidenceIds"], finding
        assert {e["id"] for e in finding["evidence"]} == set(finding["evidenceIds"]), "every id resolves"


async def _draft_and_approve(gql: GraphQLClient, comment: str) -> str:
    run_id = await start(gql, START_ROADMAP, {"input": {"quarters": 2, "options": OPTIONS}})
    await wait_for_run(gql, run_id, until="AWAITING_REVIEW")
    draft = (
        await gql.data(
            f"query($id: ID!) {{ roadmapVersion(id: $id) {{ status current decidedAt reviewer {NARRATIVE} }} }}",
            {"id": run_id},
        )
    )["roadmapVersion"]
    assert (draft["status"], draft["current"], draft["decidedAt"], draft["reviewer"]) == (
        "DRAFT",
        False,
        None,
        None,
    )
    _check_narrative(draft)
    approved = await gql.data(
        "mutation($id: ID!, $c: String!) { approveRoadmap(runId: $id, comment: $c) { __typename } }",
        {"id": run_id, "c": comment},
        role=Role.APPROVER,
    )
    assert approved["approveRoadmap"]["__typename"] == "RoadmapReviewed"
    await wait_for_run(gql, run_id, until="COMPLETED")
    return run_id


async def test_narratives_name_their_model_and_cite_resolvable_evidence(ogql: GraphQLClient) -> None:
    risk = await start(ogql, START_RISK, {"input": {"riskHorizonWeeks": 26, "options": OPTIONS}})
    await wait_for_run(ogql, risk, until="COMPLETED")
    result = (
        await ogql.data(f"query($id: ID!) {{ riskAssessment(id: $id) {{ {NARRATIVE} }} }}", {"id": risk})
    )["riskAssessment"]
    _check_narrative(result)


async def test_the_roadmap_approval_audit_trail_is_queryable(ogql: GraphQLClient) -> None:
    first = await _draft_and_approve(ogql, "first cut, ok")
    second = await _draft_and_approve(ogql, "replaces the first")
    trail = await ogql.data(
        """query($first: ID!, $second: ID!) {
          a: roadmapVersion(id: $first) { id version status current reviewer reviewComment decidedAt supersededBy modelName }
          b: roadmapVersion(id: $second) { id version status current reviewer reviewComment decidedAt supersededBy modelName }
          roadmap { id }
          runA: run(id: $first) { requestedBy startedAt closedAt }
          published: roadmapVersions(status: PUBLISHED, first: 50) { id }
        }""",
        {"first": first, "second": second},
    )
    a, b = trail["a"], trail["b"]
    assert b["version"] == a["version"] + 1
    assert (a["status"], a["current"], a["supersededBy"]) == ("PUBLISHED", False, second)
    assert (b["status"], b["current"], b["supersededBy"]) == ("PUBLISHED", True, None)
    assert (a["reviewer"], a["reviewComment"]) == ("test approver", "first cut, ok")
    assert (b["reviewer"], b["reviewComment"]) == ("test approver", "replaces the first")
    assert a["decidedAt"] is not None and a["decidedAt"] <= b["decidedAt"]
    assert a["modelName"] == b["modelName"] == OFFLINE_MODEL_NAME
    assert trail["roadmap"]["id"] == second
    assert trail["runA"]["requestedBy"] == "test planner"
    assert {first, second} <= {v["id"] for v in trail["published"]}
