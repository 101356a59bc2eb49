"""What-if scenarios' effect on the forecast: deltas against the baseline and side-by-side comparisons.

The changes themselves and their validation live in `engines.scenario_changes`. `simulate_scenario` runs
the scenario's forecast with the baseline's seed (common random numbers: every feature and team draws from
its own seeded stream, so untouched features see the same draws) and reports the `ScenarioDelta`;
`compare_scenarios` puts several results side by side.
"""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field

from engines.forecast import FeatureForecast, Forecast, forecast
from engines.scenario_changes import Scenario, ScenarioError
from engines.throughput import ThroughputKind
from graph.portfolio import Portfolio


class FeatureDelta(BaseModel):
    """How one feature's forecast moved. Shifts are in days, positive = later; None when a side is beyond the horizon."""

    model_config = ConfigDict(frozen=True)

    feature_id: str
    baseline_p50: date | None
    scenario_p50: date | None
    baseline_p85: date | None
    scenario_p85: date | None
    p50_shift_days: int | None
    p85_shift_days: int | None
    on_time_probability_change: float | None
    beyond_horizon_probability_change: float

    @property
    def magnitude(self) -> float:
        """Size of the move for ranking: a P85 crossing the horizon counts as infinite."""
        if (self.baseline_p85 is None) != (self.scenario_p85 is None):
            return float("inf")
        return max(
            abs(self.p85_shift_days or 0),
            abs(self.p50_shift_days or 0),
            # A probability move of 0.01 ranks like a one-day shift.
            100 * abs(self.on_time_probability_change or 0.0),
            100 * abs(self.beyond_horizon_probability_change),
        )


class ScenarioDelta(BaseModel):
    model_config = ConfigDict(frozen=True)

    feature_changes: list[FeatureDelta] = Field(description="Only features that moved, biggest move first.")
    added_feature_ids: list[str]
    removed_feature_ids: list[str]
    arr_at_risk_before: float
    arr_at_risk_after: float
    arr_at_risk_change: float
    customers_newly_at_risk: list[str]
    customers_no_longer_at_risk: list[str]
    arr_weighted_on_time_before: float
    arr_weighted_on_time_after: float
    arr_weighted_on_time_change: float


class ScenarioResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    scenario: Scenario
    forecast: Forecast
    delta: ScenarioDelta


def simulate_scenario(
    portfolio: Portfolio,
    scenario: Scenario,
    *,
    as_of: date,
    trials: int = 10_000,
    seed: int = 0,
    horizon_weeks: int = 260,
    baseline: Forecast | None = None,
    throughput: ThroughputKind = ThroughputKind.POSTERIOR,
) -> ScenarioResult:
    """Forecast the scenario and its delta against the baseline (forecast here when not given, same seed)."""
    if baseline is None:
        baseline = forecast(
            portfolio,
            as_of=as_of,
            trials=trials,
            seed=seed,
            horizon_weeks=horizon_weeks,
            throughput=throughput,
        )
    elif (
        baseline.as_of,
        baseline.trials,
        baseline.seed,
        baseline.horizon_weeks,
        baseline.scenario_id,
        baseline.throughput,
    ) != (as_of, trials, seed, horizon_weeks, None, throughput):
        raise ScenarioError(
            "the baseline must be the unchanged portfolio forecast with the same as_of, trials, seed, horizon "
            "and throughput model"
        )
    result = forecast(
        portfolio,
        as_of=as_of,
        scenario=scenario,
        trials=trials,
        seed=seed,
        horizon_weeks=horizon_weeks,
        throughput=throughput,
    )
    return ScenarioResult(scenario=scenario, forecast=result, delta=forecast_delta(baseline, result))


def forecast_delta(baseline: Forecast, changed: Forecast) -> ScenarioDelta:
    """What moved between two forecasts of the same portfolio (same seed, so unchanged inputs give zero moves)."""
    before = {f.feature_id: f for f in baseline.features}
    after = {f.feature_id: f for f in changed.features}
    moves = [
        delta
        for feature_id in before.keys() & after.keys()
        if (delta := _feature_delta(before[feature_id], after[feature_id])).magnitude > 0
    ]
    moves.sort(key=lambda d: (-d.magnitude, d.feature_id))
    at_risk_before = {c.customer_id for c in baseline.customers_at_risk}
    at_risk_after = {c.customer_id for c in changed.customers_at_risk}
    return ScenarioDelta(
        feature_changes=moves,
        added_feature_ids=sorted(after.keys() - before.keys()),
        removed_feature_ids=sorted(before.keys() - after.keys()),
        arr_at_risk_before=baseline.arr_at_risk,
        arr_at_risk_after=changed.arr_at_risk,
        arr_at_risk_change=changed.arr_at_risk - baseline.arr_at_risk,
        customers_newly_at_risk=sorted(at_risk_after - at_risk_before),
        customers_no_longer_at_risk=sorted(at_risk_before - at_risk_after),
        arr_weighted_on_time_before=baseline.arr_weighted_on_time,
        arr_weighted_on_time_after=changed.arr_weighted_on_time,
        arr_weighted_on_time_change=changed.arr_weighted_on_time - baseline.arr_weighted_on_time,
    )


def _feature_delta(before: FeatureForecast, after: FeatureForecast) -> FeatureDelta:
    def shift(old: date | None, new: date | None) -> int | None:
        return None if old is None or new is None else (new - old).days

    on_time_change = (
        None
        if before.on_time_probability is None or after.on_time_probability is None
        else after.on_time_probability - before.on_time_probability
    )
    return FeatureDelta(
        feature_id=before.feature_id,
        baseline_p50=before.p50,
        scenario_p50=after.p50,
        baseline_p85=before.p85,
        scenario_p85=after.p85,
        p50_shift_days=shift(before.p50, after.p50),
        p85_shift_days=shift(before.p85, after.p85),
        on_time_probability_change=on_time_change,
        beyond_horizon_probability_change=after.beyond_horizon_probability
        - before.beyond_horizon_probability,
    )


class ComparisonRow(BaseModel):
    model_config = ConfigDict(frozen=True)

    scenario_id: str
    name: str
    arr_at_risk: float
    arr_weighted_on_time: float
    late_features: int = Field(description="Open features with a target date whose P85 falls after it.")
    customers_at_risk: int
    biggest_movers: list[FeatureDelta] = Field(
        description="Up to three largest feature moves vs the baseline."
    )


class ScenarioComparison(BaseModel):
    model_config = ConfigDict(frozen=True)

    rows: list[ComparisonRow] = Field(
        description="The baseline first, then the scenarios in the order given."
    )
    lowest_arr_at_risk: str
    highest_arr_weighted_on_time: str


BASELINE_ROW_ID = "baseline"


def late_feature_count(result: Forecast) -> int:
    """Open features with a target date whose P85 is after it (a P85 beyond the horizon is late)."""
    return sum(
        1 for f in result.features if f.target_date is not None and (f.p85 is None or f.p85 > f.target_date)
    )


def compare_scenarios(
    baseline: Forecast, results: list[ScenarioResult], *, movers: int = 3
) -> ScenarioComparison:
    """Side-by-side rows for the baseline and each scenario; ties go to the earlier row."""
    if not results:
        raise ScenarioError("compare_scenarios needs at least one scenario result besides the baseline")
    for result in results:
        run = result.forecast
        if (run.as_of, run.trials, run.seed, run.horizon_weeks) != (
            baseline.as_of,
            baseline.trials,
            baseline.seed,
            baseline.horizon_weeks,
        ):
            raise ScenarioError(f"scenario {result.scenario.id} was not simulated against this baseline")
    rows = [
        ComparisonRow(
            scenario_id=BASELINE_ROW_ID,
            name="Baseline",
            arr_at_risk=baseline.arr_at_risk,
            arr_weighted_on_time=baseline.arr_weighted_on_time,
            late_features=late_feature_count(baseline),
            customers_at_risk=len(baseline.customers_at_risk),
            biggest_movers=[],
        )
    ]
    rows += [
        ComparisonRow(
            scenario_id=result.scenario.id,
            name=result.scenario.name,
            arr_at_risk=result.forecast.arr_at_risk,
            arr_weighted_on_time=result.forecast.arr_weighted_on_time,
            late_features=late_feature_count(result.forecast),
            customers_at_risk=len(result.forecast.customers_at_risk),
            biggest_movers=forecast_delta(baseline, result.forecast).feature_changes[:movers],
        )
        for result in results
    ]
    return ScenarioComparison(
        rows=rows,
        lowest_arr_at_risk=min(rows, key=lambda r: r.arr_at_risk).scenario_id,
        highest_arr_weighted_on_time=max(rows, key=lambda r: r.arr_weighted_on_time).scenario_id,
    )
