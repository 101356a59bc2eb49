"""The analysis workflows end to end: real Temporal dev server, real graph database, offline model."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import ActivityTaskScheduledEventAttributes
from temporalio.client import Client

from agents.model_config import OFFLINE_MODEL_NAME
from agents.reports import RiskAssessmentReport, ScenarioReport
from agents.snapshots import portfolio_ids, snapshot_id_of
from engines.forecast import BEYOND_HORIZON, Forecast, forecast
from engines.risk import RiskReport, assess_risks
from engines.scenarios import late_feature_count, simulate_scenario
from graph.portfolio import Portfolio
from graph.result_store import ResultStore
from graph.store import GraphStore, normalise_portfolio
from graph.vocabulary import NodeLabel
from workflows import client as lodestar
from workflows.activities import risk_key
from workflows.local_temporal import LocalTemporalServer
from workflows.payloads import (
    PortfolioReviewOutcome,
    RiskAssessmentOutcome,
    ScenarioSimulationOutcome,
    Stage,
)
from workflows.workflows import SNAPSHOT_HEARTBEAT_TIMEOUT

from .conftest import running_worker
from .support import AS_OF, SEED, TRIALS, review_request, risk_request, scenario_request

pytestmark = pytest.mark.integration


async def _scheduled_activities(
    client: Client, workflow_id: str
) -> list[ActivityTaskScheduledEventAttributes]:
    scheduled: list[ActivityTaskScheduledEventAttributes] = []
    async for event in client.get_workflow_handle(workflow_id).fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            scheduled.append(event.activity_task_scheduled_event_attributes)
    return scheduled


async def _activity_names(client: Client, workflow_id: str) -> list[str]:
    return [scheduled.activity_type.name for scheduled in await _scheduled_activities(client, workflow_id)]


def _baseline(portfolio: Portfolio) -> Forecast:
    return forecast(portfolio, as_of=AS_OF, trials=TRIALS, seed=SEED)


def _risks(portfolio: Portfolio) -> RiskReport:
    baseline = _baseline(portfolio)
    return assess_risks(
        portfolio,
        as_of=AS_OF,
        p85_by_feature=baseline.p85_by_feature(),
        p50_by_feature={f.feature_id: f.p50 or BEYOND_HORIZON for f in baseline.features},
        horizon_weeks=26,
        renewal_probability_by_customer={
            c.customer_id: c.probability_before_renewal for c in baseline.customers
        },
    )


async def test_scenario_simulation_runs_durably_and_stores_one_result(
    temporal_client: Client,
    task_queue: str,
    demo_store: GraphStore,
    results: ResultStore,
    demo_portfolio: Portfolio,
) -> None:
    request = scenario_request(demo_portfolio)
    workflow_id = await lodestar.start_scenario_simulation(temporal_client, request, task_queue=task_queue)
    outcome = await lodestar.get_result(temporal_client, workflow_id)

    assert isinstance(outcome, ScenarioSimulationOutcome)
    baseline = _baseline(demo_portfolio)
    assert outcome.baseline_arr_at_risk == round(baseline.arr_at_risk, 2)
    for scenario, figures in zip(request.scenarios, outcome.scenarios, strict=True):
        expected = simulate_scenario(
            demo_portfolio, scenario, as_of=AS_OF, trials=TRIALS, seed=SEED, baseline=baseline
        )
        assert figures.scenario_id == scenario.id
        assert figures.arr_at_risk_after == round(expected.delta.arr_at_risk_after, 2)
    assert outcome.offline and outcome.model_name == OFFLINE_MODEL_NAME
    assert outcome.usage.requests == 4 and outcome.usage.tool_calls == 3
    assert outcome.snapshot_id == snapshot_id_of(normalise_portfolio(demo_portfolio))

    assert await results.count_results(NodeLabel.SCENARIO_ANALYSIS, workflow_id) == 1
    stored = await results.get_result(NodeLabel.SCENARIO_ANALYSIS, workflow_id, with_report=True)
    assert stored is not None and stored.report_json is not None
    report = ScenarioReport.model_validate_json(stored.report_json)
    assert report.baseline == baseline
    assert set(report.analysis.cited_ids()) <= portfolio_ids(demo_portfolio)
    assert stored.cited_in_graph == sorted(set(report.analysis.cited_ids()))
    assert stored.figures["preferred_scenario_id"] == outcome.preferred_scenario_id

    progress = await lodestar.get_progress(temporal_client, workflow_id)
    assert progress.stage is Stage.COMPLETED and progress.percent == 100
    assert any("simulate_requested_scenarios" in message for message in progress.messages)
    scheduled = await _scheduled_activities(temporal_client, workflow_id)
    names = [activity.activity_type.name for activity in scheduled]
    assert names[:2] == ["load_snapshot", "precompute_engines"]
    assert names[-1] == "persist_scenario_analysis"
    assert scheduled[0].heartbeat_timeout.ToTimedelta() == SNAPSHOT_HEARTBEAT_TIMEOUT, (
        "a worker killed while it loads the snapshot is noticed by the heartbeat timeout"
    )
    assert names.count("agent__lodestar_scenario__model_request") == 4
    assert names.count("agent__lodestar_scenario__toolset__scenario_tools__call_tool") == 3


@pytest.fixture
def spans() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider, exporter
    provider.shutdown()


async def test_risk_assessment_end_to_end_with_connected_traces(
    temporal_server: LocalTemporalServer,
    demo_store: GraphStore,
    results: ResultStore,
    demo_portfolio: Portfolio,
    spans: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, exporter = spans
    traced = await lodestar.connect(temporal_server.endpoint(), tracer=provider.get_tracer("lodestar-test"))
    async with running_worker(traced, demo_store) as queue:
        workflow_id = await lodestar.start_risk_assessment(traced, risk_request(), task_queue=queue)
        outcome = await lodestar.get_result(traced, workflow_id)

    assert isinstance(outcome, RiskAssessmentOutcome)
    expected = _risks(demo_portfolio)
    assert outcome.arr_at_risk == round(expected.arr_at_risk, 2)
    assert outcome.risk_count == len(expected.risks)
    assert [r.title for r in outcome.top_risks] == [r.title for r in expected.top(5)]
    assert outcome.priority_kinds[0] == expected.risks[0].kind
    stored = await results.get_result(NodeLabel.RISK_ASSESSMENT, workflow_id, with_report=True)
    assert stored is not None and stored.report_json is not None
    assert RiskAssessmentReport.model_validate_json(stored.report_json).report.risks == expected.risks

    finished = exporter.get_finished_spans()
    names = {span.name for span in finished}
    assert {
        "StartWorkflow:RiskAssessmentWorkflow",
        "RunWorkflow:RiskAssessmentWorkflow",
        "StartActivity:load_snapshot",
        "RunActivity:load_snapshot",
        "RunActivity:agent__lodestar_risk__model_request",
        "RunActivity:persist_risk_assessment",
    } <= names
    start = next(span for span in finished if span.name == "StartWorkflow:RiskAssessmentWorkflow")
    assert start.context is not None
    run_activity = next(span for span in finished if span.name == "RunActivity:persist_risk_assessment")
    assert run_activity.context is not None
    assert run_activity.context.trace_id == start.context.trace_id  # client -> workflow -> activity


async def test_portfolio_review_records_the_trend_since_the_previous_review(
    temporal_client: Client,
    task_queue: str,
    demo_store: GraphStore,
    results: ResultStore,
    demo_portfolio: Portfolio,
) -> None:
    first_id = await lodestar.start_portfolio_review(temporal_client, review_request(), task_queue=task_queue)
    first = await lodestar.get_result(temporal_client, first_id)
    assert isinstance(first, PortfolioReviewOutcome)
    assert first.previous_review_id is None and first.arr_at_risk_change is None
    before = _risks(demo_portfolio)
    assert first.arr_at_risk == round(before.arr_at_risk, 2)
    assert first.late_feature_count == late_feature_count(_baseline(demo_portfolio))
    assert await results.count_results(NodeLabel.RISK_ASSESSMENT, first.risk_assessment_id) == 1

    # The most exposed customer withdraws all its requests: it can no longer be at risk.
    exposed = before.customers_at_risk[0]
    changed = demo_portfolio.model_copy(
        update={"requests": [r for r in demo_portfolio.requests if r.customer_id != exposed.customer_id]}
    )
    await demo_store.import_portfolio(changed)
    second_id = await lodestar.start_portfolio_review(
        temporal_client, review_request(), task_queue=task_queue
    )
    second = await lodestar.get_result(temporal_client, second_id)
    assert isinstance(second, PortfolioReviewOutcome)

    after = _risks(changed)
    # Requests do not move the forecast, so ARR at risk drops by exactly that customer's ARR.
    assert second.arr_at_risk_change == pytest.approx(-exposed.arr, abs=0.01)
    assert second.previous_review_id == first_id
    assert exposed.customer_id in second.customers_no_longer_at_risk
    before_keys = {risk_key(r) for r in before.risks}
    after_keys = {risk_key(r) for r in after.risks}
    assert second.new_risk_count == len(after_keys - before_keys)
    assert second.resolved_risk_count == len(before_keys - after_keys)
    assert second.resolved_risk_count > 0
    stored = await results.get_result(NodeLabel.PORTFOLIO_REVIEW, second_id)
    assert stored is not None
    assert stored.previous_review_id == first_id and stored.risk_assessment_id == second.risk_assessment_id
    assert stored.figures["arr_at_risk_change"] == second.arr_at_risk_change


async def test_runs_are_listed_with_their_status(temporal_client: Client, task_queue: str) -> None:
    workflow_id = await lodestar.start_risk_assessment(temporal_client, risk_request(), task_queue=task_queue)
    await lodestar.get_result(temporal_client, workflow_id)
    status = await lodestar.get_status(temporal_client, workflow_id)
    assert status.state is lodestar.RunState.COMPLETED
    assert status.workflow_type == "RiskAssessmentWorkflow" and status.task_queue == task_queue

    async def listed() -> list[lodestar.RunStatus] | None:
        runs = await lodestar.list_runs(temporal_client, workflow_type="RiskAssessmentWorkflow", limit=200)
        return runs if any(run.workflow_id == workflow_id for run in runs) else None

    from .support import eventually

    runs = await eventually(listed, within=30, what="the run in the visibility store")
    assert all(run.workflow_type == "RiskAssessmentWorkflow" for run in runs)
    with pytest.raises(ValueError, match="unknown workflow type"):
        await lodestar.list_runs(temporal_client, workflow_type="Nope")
