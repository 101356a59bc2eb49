"""Engine calls keyed by snapshot and settings, so a tool call and the final report share one computation.

The engines are deterministic for a given snapshot and settings (seeded), so a cache miss in another
process recomputes exactly the same result.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import TypeVar

from pydantic import BaseModel

from agents.deps import AnalysisDeps
from engines.forecast import BEYOND_HORIZON, Forecast, forecast
from engines.risk import RiskReport, assess_risks
from engines.roadmap import RoadmapPlan, draft_roadmap
from engines.scenario_changes import Scenario
from engines.scenarios import ScenarioResult, simulate_scenario
from graph.portfolio import Portfolio

ResultT = TypeVar("ResultT", bound=BaseModel)

_CACHE_SIZE = 32
_cache: OrderedDict[tuple[str, ...], BaseModel] = OrderedDict()


def _memo(key: tuple[str, ...], result_type: type[ResultT], compute: Callable[[], ResultT]) -> ResultT:
    hit = _cache.get(key)
    if isinstance(hit, result_type):
        _cache.move_to_end(key)
        return hit
    result = compute()
    _cache[key] = result
    while len(_cache) > _CACHE_SIZE:
        _cache.popitem(last=False)
    return result


def _forecast_key(deps: AnalysisDeps) -> tuple[str, ...]:
    return (
        deps.snapshot_id,
        deps.as_of.isoformat(),
        str(deps.trials),
        str(deps.seed),
        str(deps.horizon_weeks),
    )


def baseline_forecast(portfolio: Portfolio, deps: AnalysisDeps) -> Forecast:
    return _memo(
        ("forecast", *_forecast_key(deps)),
        Forecast,
        lambda: forecast(
            portfolio, as_of=deps.as_of, trials=deps.trials, seed=deps.seed, horizon_weeks=deps.horizon_weeks
        ),
    )


def scenario_result(portfolio: Portfolio, deps: AnalysisDeps, scenario: Scenario) -> ScenarioResult:
    baseline = baseline_forecast(portfolio, deps)
    return _memo(
        ("scenario", *_forecast_key(deps), scenario.model_dump_json()),
        ScenarioResult,
        lambda: simulate_scenario(
            portfolio,
            scenario,
            as_of=deps.as_of,
            trials=deps.trials,
            seed=deps.seed,
            horizon_weeks=deps.horizon_weeks,
            baseline=baseline,
        ),
    )


def scenario_results(portfolio: Portfolio, deps: AnalysisDeps) -> tuple[Forecast, list[ScenarioResult]]:
    """The baseline forecast and each requested scenario's result against it."""
    baseline = baseline_forecast(portfolio, deps)
    return baseline, [scenario_result(portfolio, deps, scenario) for scenario in deps.scenarios]


def roadmap_plan(portfolio: Portfolio, deps: AnalysisDeps) -> RoadmapPlan:
    key = (
        "roadmap",
        deps.snapshot_id,
        deps.as_of.isoformat(),
        str(deps.quarters),
        repr(sorted(deps.pins.items())),
        repr(sorted(deps.exclusions)),
        str(deps.planner_time_limit_s),
        deps.capacity_model,
    )
    return _memo(
        key,
        RoadmapPlan,
        lambda: draft_roadmap(
            portfolio,
            as_of=deps.as_of,
            quarters=deps.quarters,
            pins=deps.pins,
            exclusions=deps.exclusions,
            time_limit_s=deps.planner_time_limit_s,
            capacity_model=deps.capacity_model,
        ),
    )


def risk_report(portfolio: Portfolio, deps: AnalysisDeps) -> RiskReport:
    baseline = baseline_forecast(portfolio, deps)
    return _memo(
        ("risk", *_forecast_key(deps), str(deps.risk_horizon_weeks)),
        RiskReport,
        lambda: assess_risks(
            portfolio,
            as_of=deps.as_of,
            p85_by_feature=baseline.p85_by_feature(),
            p50_by_feature={f.feature_id: f.p50 or BEYOND_HORIZON for f in baseline.features},
            horizon_weeks=deps.risk_horizon_weeks,
            renewal_probability_by_customer={
                c.customer_id: c.probability_before_renewal for c in baseline.customers
            },
        ),
    )


def clear_cache() -> None:
    _cache.clear()
