"""Personal data and erasure end to end, on the real graph and the real Temporal dev server.

The portfolio is the demo one with feedback that names customers and holds emails and phone numbers. The
demo analyses run as workflows through the API; their Temporal histories must hold no customer name and no
email of the portfolio (payloads carry ids, tool results are pseudonymised). Then `eraseCustomer` removes a
customer the analyses cited: afterwards no query finds anything of it, and a new analysis runs.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Any

import neo4j
import pytest
import pytest_asyncio
from temporalio.client import Client

from api.auth import Role, create_api_key
from graph.entity_reads import EntityReads
from graph.local_db import LocalGraphDatabase
from graph.portfolio import Portfolio
from graph.result_store import ResultStore
from graph.store import GraphStore
from graph.vocabulary import NodeLabel
from tests.api.conftest import ApiGraph, GraphQLClient, in_process_client, make_services, running_worker
from tests.api.test_runs import OPTIONS, START_RISK, START_ROADMAP, START_SCENARIOS, start, wait_for_run
from tests.personal_data import personal_data, with_personal_feedback

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

PERSONAL_FEEDBACK = 12
"""How many of the largest customers get a feedback entry naming them, with an email and a phone number."""


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def api_graph(
    graph_driver: neo4j.AsyncDriver, local_graph_database: LocalGraphDatabase, demo_portfolio: Portfolio
) -> ApiGraph:
    store = GraphStore(graph_driver, local_graph_database.database)
    await store.clear()
    portfolio = with_personal_feedback(demo_portfolio, customers=PERSONAL_FEEDBACK)
    await store.import_portfolio(portfolio)
    queries = EntityReads(graph_driver, local_graph_database.database)
    await queries.ensure_schema()
    keys = {role: (await create_api_key(queries, f"test {role.value}", role)).secret_key for role in Role}
    return ApiGraph(store=store, queries=queries, portfolio=portfolio, keys=keys)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def worker_queue(api_graph: ApiGraph, temporal_client: Client) -> AsyncIterator[str]:
    async with running_worker(temporal_client, api_graph.store) as task_queue:
        yield task_queue


@pytest_asyncio.fixture(loop_scope="session")
async def egql(
    api_graph: ApiGraph, temporal_client: Client, worker_queue: str
) -> AsyncIterator[GraphQLClient]:
    services = make_services(api_graph, temporal=temporal_client, task_queue=worker_queue)
    async with in_process_client(services, api_graph.keys) as client:
        yield client


async def _run_demo_analyses(gql: GraphQLClient, portfolio: Portfolio) -> list[str]:
    team = portfolio.teams[0].id
    scenarios = [{"id": "hire", "name": "Hire", "changes": [{"capacity": {"teamId": team, "delta": 2}}]}]
    risk = await start(gql, START_RISK, {"input": {"riskHorizonWeeks": 26, "options": OPTIONS}})
    scenario = await start(gql, START_SCENARIOS, {"input": {"scenarios": scenarios, "options": OPTIONS}})
    roadmap = await start(gql, START_ROADMAP, {"input": {"quarters": 2, "options": OPTIONS}})
    await wait_for_run(gql, roadmap, until="AWAITING_REVIEW")
    approved = await gql.data(
        'mutation($id: ID!) { approveRoadmap(runId: $id, comment: "ok") { __typename } }',
        {"id": roadmap},
        role=Role.APPROVER,
    )
    assert approved["approveRoadmap"]["__typename"] == "RoadmapReviewed"
    for run_id in (risk, scenario, roadmap):
        await wait_for_run(gql, run_id, until="COMPLETED")
    return [risk, scenario, roadmap]


async def _history_bytes(client: Client, workflow_id: str) -> bytes:
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    return b"".join(event.SerializeToString() for event in history.events)


async def _all_customers(gql: GraphQLClient) -> list[dict[str, str]]:
    listed: list[dict[str, str]] = []
    after: str | None = None
    while True:
        page = (
            await gql.data(
                "query($after: String) { customers(first: 100, after: $after) { nodes { id name } "
                "pageInfo { hasNextPage endCursor } } }",
                {"after": after},
            )
        )["customers"]
        listed += page["nodes"]
        if not page["pageInfo"]["hasNextPage"]:
            return listed
        after = page["pageInfo"]["endCursor"]


def _mentions(text: str, customer_id: str) -> bool:
    return re.search(rf"(?<![\w.:\-]){re.escape(customer_id)}(?![\w:\-]|\.\w)", text) is not None


async def test_histories_hold_no_personal_data_and_erasure_leaves_nothing_of_the_customer(
    egql: GraphQLClient, api_graph: ApiGraph, temporal_client: Client
) -> None:
    portfolio = api_graph.portfolio
    run_ids = await _run_demo_analyses(egql, portfolio)

    # 1. No customer name, email or phone number in any workflow history.
    secrets = personal_data(portfolio)
    histories = {run_id: await _history_bytes(temporal_client, run_id) for run_id in run_ids}
    for run_id, raw in histories.items():
        leaked = [secret for secret in secrets if secret.encode() in raw]
        assert not leaked, f"{run_id}'s history holds {leaked[:5]}"
    risk_history = histories[run_ids[0]]
    assert b"fb-personal-" in risk_history, "the risk agent read the personal feedback (pseudonymised)"
    assert b"CUSTOMER_" in risk_history and b"[email]" in risk_history and b"[phone]" in risk_history

    # 2. Erase the customer the risk assessment cites first.
    risk = (await egql.data("query($id: ID!) { riskAssessment(id: $id) { citedIds } }", {"id": run_ids[0]}))[
        "riskAssessment"
    ]
    customer_id = next(i for i in risk["citedIds"] if i.startswith("cust-"))
    customer = next(c for c in portfolio.customers if c.id == customer_id)
    requested = sorted({r.feature_id for r in portfolio.requests if r.customer_id == customer_id})
    feedback_ids = sorted(f.id for f in portfolio.feedback if f.customer_id == customer_id)
    assert requested and feedback_ids
    erase = """mutation($id: ID!) { eraseCustomer(id: $id) { __typename
      ... on CustomerErased { erasureId customerFound requests productUsages feedback resultsRedacted kinds }
      ... on NotFound { message } ... on ValidationErrors { issues { location message } }
      ... on PermissionDenied { requiredRole } } }"""
    denied = await egql.data(erase, {"id": customer_id}, role=Role.APPROVER)
    assert denied["eraseCustomer"] == {"__typename": "PermissionDenied", "requiredRole": "admin"}
    erased = (await egql.data(erase, {"id": customer_id}, role=Role.ADMIN))["eraseCustomer"]
    assert erased["__typename"] == "CustomerErased", erased
    assert erased["customerFound"] and erased["requests"] == len(requested)
    assert erased["feedback"] == len(feedback_ids) and erased["resultsRedacted"] >= 1
    again = (await egql.data(erase, {"id": customer_id}, role=Role.ADMIN))["eraseCustomer"]
    assert again["__typename"] == "NotFound", again
    invalid = (await egql.data(erase, {"id": "no such id!"}, role=Role.ADMIN))["eraseCustomer"]
    assert invalid["__typename"] == "ValidationErrors"

    # 3. Nothing of the customer is found by any query.
    found = await egql.data(
        """query($id: ID!, $fb: [ID!]!, $features: [ID!]!) {
          customer(id: $id) { id } node(id: $id) { id } feedbackNodes: nodes(ids: $fb) { id }
          features: nodes(ids: $features) { ... on Feature { id requestingCustomers { id }
            requests { customer { id } } feedback { id text } } }
        }""",
        {"id": customer_id, "fb": feedback_ids, "features": requested[:100]},
    )
    assert found["customer"] is None and found["node"] is None
    assert all(node is None for node in found["feedbackNodes"])
    listed = await _all_customers(egql)
    assert len(listed) == len(portfolio.customers) - 1
    assert customer_id not in {c["id"] for c in listed} and customer.name not in {c["name"] for c in listed}
    for feature in found["features"]:
        assert customer_id not in {c["id"] for c in feature["requestingCustomers"]}
        assert all(r["customer"] is None or r["customer"]["id"] != customer_id for r in feature["requests"])
        assert not set(feedback_ids) & {f["id"] for f in feature["feedback"]}
    results = await egql.data(
        """query { riskAssessments { id redactedAt citedIds headline recommendation
            findings { statement evidenceIds } risks { title affectedIds } customersAtRisk { customerId } }
          scenarioAnalyses { id redactedAt citedIds headline recommendation findings { statement evidenceIds }
            baseline { customersAtRisk { customerId } } }
          roadmapVersions { id citedIds headline findings { statement evidenceIds }
            bias { topShare concentrated topCustomers { customerId share } bySegment { group share }
              singleCustomerFeatures { featureId customerId quarter } } } }"""
    )
    assert not _mentions(json.dumps(results), customer_id), "no stored result mentions the customer"
    assert any(r["redactedAt"] for r in results["riskAssessments"])
    (roadmap_bias,) = [v["bias"] for v in results["roadmapVersions"]]
    assert sum(g["share"] for g in roadmap_bias["bySegment"]) == pytest.approx(1.0)
    # The erased customer's entry is gone; the aggregate shares stay as computed.
    assert roadmap_bias["topShare"] >= sum(c["share"] for c in roadmap_bias["topCustomers"]) - 1e-9
    stored = ResultStore(api_graph.store)
    for label, run_id in zip(
        (NodeLabel.RISK_ASSESSMENT, NodeLabel.SCENARIO_ANALYSIS, NodeLabel.ROADMAP_VERSION),
        run_ids,
        strict=True,
    ):
        result = await stored.get_result(label, run_id, with_report=True)
        assert result is not None and result.report_json is not None
        assert not _mentions(result.report_json, customer_id) and customer.name not in result.report_json
        assert not _mentions(json.dumps(result.model_dump(mode="json", exclude={"report_json"})), customer_id)
    entries = (await egql.data("query { erasures { erasedBy kinds requests feedback } }", role=Role.ADMIN))[
        "erasures"
    ]
    assert entries[0] == {
        "erasedBy": "test admin",
        "kinds": ["customer", "requests", "product_usage", "feedback", "written_results"],
        "requests": len(requested),
        "feedback": len(feedback_ids),
    }
    viewer = await egql.execute("query { erasures { erasedBy } }", role=Role.VIEWER)
    assert viewer["errors"][0]["extensions"]["code"] == "FORBIDDEN"

    # 4. A new analysis runs on the portfolio without the customer.
    rerun = await start(egql, START_RISK, {"input": {"riskHorizonWeeks": 26, "options": OPTIONS}})
    await wait_for_run(egql, rerun, until="COMPLETED")
    fresh: dict[str, Any] = (
        await egql.data("query($id: ID!) { riskAssessment(id: $id) { snapshotId citedIds } }", {"id": rerun})
    )["riskAssessment"]
    assert customer_id not in fresh["citedIds"]
    assert (
        fresh["snapshotId"]
        != (
            await egql.data("query($id: ID!) { riskAssessment(id: $id) { snapshotId } }", {"id": run_ids[0]})
        )["riskAssessment"]["snapshotId"]
    )
