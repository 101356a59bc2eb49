"""The three agents on the offline model: engine results, cited evidence, usage bounds."""

from __future__ import annotations

from agents.deps import AnalysisDeps
from agents.model_config import OFFLINE_DISCLAIMER, OFFLINE_MODEL_NAME
from agents.risk_agent import run_risk_assessment
from agents.roadmap_agent import run_roadmap_drafting
from agents.scenario_agent import run_scenario_analysis
from agents.snapshots import portfolio_ids
from engines.forecast import BEYOND_HORIZON, forecast
from engines.risk import assess_risks
from engines.roadmap import draft_roadmap
from engines.scenario_changes import CapacityChange, Reestimate, Scenario
from engines.scenarios import simulate_scenario
from graph.portfolio import Portfolio

from .conftest import AS_OF


def _scenarios(portfolio: Portfolio) -> list[Scenario]:
    busiest = max(portfolio.teams, key=lambda t: sum(1 for f in portfolio.features if f.team_id == t.id))
    open_feature = next(f for f in portfolio.features if f.status != "done" and f.team_id == busiest.id)
    return [
        Scenario(
            id="hire", name="Hire on the busiest team", changes=[CapacityChange(team_id=busiest.id, delta=3)]
        ),
        Scenario(
            id="slip",
            name="Estimate doubles",
            changes=[Reestimate(feature_id=open_feature.id, factor=2.0)],
        ),
    ]


async def test_scenario_agent_reports_the_engine_results(
    demo_portfolio: Portfolio, demo_deps: AnalysisDeps
) -> None:
    deps = demo_deps.model_copy(update={"scenarios": _scenarios(demo_portfolio)})
    report = await run_scenario_analysis(deps)

    baseline = forecast(demo_portfolio, as_of=AS_OF, trials=deps.trials, seed=deps.seed)
    assert report.baseline == baseline
    for scenario, result in zip(deps.scenarios, report.results, strict=True):
        expected = simulate_scenario(
            demo_portfolio, scenario, as_of=AS_OF, trials=deps.trials, seed=deps.seed, baseline=baseline
        )
        assert result == expected
    assert report.comparison is not None
    assert [row.scenario_id for row in report.comparison.rows] == ["baseline", "hire", "slip"]
    assert report.offline and report.model_name == OFFLINE_MODEL_NAME
    assert OFFLINE_DISCLAIMER in report.analysis.headline
    assert set(report.analysis.cited_ids()) <= portfolio_ids(demo_portfolio)
    assert len(report.analysis.findings) == 1 + len(deps.scenarios)
    assert report.usage.requests == 4 and report.usage.tool_calls == 3


async def test_roadmap_agent_keeps_commitments_and_explorations_apart(
    demo_portfolio: Portfolio, demo_deps: AnalysisDeps
) -> None:
    report = await run_roadmap_drafting(demo_deps)

    expected = draft_roadmap(demo_portfolio, as_of=AS_OF, quarters=demo_deps.quarters)
    assert report.plan.quarters == expected.quarters
    assert report.plan.left_out == expected.left_out
    plan_commitments = {i.feature_id for q in report.plan.quarters for i in q.commitments}
    plan_explorations = {i.feature_id for q in report.plan.quarters for i in q.explorations}
    assert set(report.analysis.commitment_ids) == plan_commitments
    assert set(report.analysis.exploration_ids) == plan_explorations
    assert not plan_commitments & plan_explorations
    assert OFFLINE_DISCLAIMER in report.analysis.headline
    assert set(report.analysis.cited_ids()) <= portfolio_ids(demo_portfolio)


async def test_risk_agent_reports_the_engine_results(
    demo_portfolio: Portfolio, demo_deps: AnalysisDeps
) -> None:
    report = await run_risk_assessment(demo_deps)

    baseline = forecast(demo_portfolio, as_of=AS_OF, trials=demo_deps.trials, seed=demo_deps.seed)
    expected = assess_risks(
        demo_portfolio,
        as_of=AS_OF,
        p85_by_feature=baseline.p85_by_feature(),
        p50_by_feature={f.feature_id: f.p50 or BEYOND_HORIZON for f in baseline.features},
        horizon_weeks=demo_deps.risk_horizon_weeks,
        renewal_probability_by_customer={
            c.customer_id: c.probability_before_renewal for c in baseline.customers
        },
    )
    assert report.report.risks == expected.risks
    assert report.report.arr_at_risk == expected.arr_at_risk
    assert report.report.expected_arr_at_risk == expected.expected_arr_at_risk is not None
    assert report.report.resource_critical_path == expected.resource_critical_path
    assert report.analysis.priority_kinds[0] == expected.risks[0].kind
    assert set(report.analysis.cited_ids()) <= portfolio_ids(demo_portfolio)
    assert report.usage.requests <= 5 and report.usage.tool_calls <= 4


async def test_offline_runs_are_deterministic(demo_deps: AnalysisDeps) -> None:
    first = await run_risk_assessment(demo_deps)
    second = await run_risk_assessment(demo_deps)
    assert first.analysis == second.analysis
    assert first.report == second.report
