"""Monte Carlo delivery forecast: when will each open feature, release and objective land, and what ARR is at risk.

The model, per trial:

- Delivery order: the open (not `done`) features in a topological order of the dependency graph that follows
  priority where dependencies allow (priority ascending, None last, then id). Done features finished at time 0,
  so dependencies on them are satisfied.
- Effort: remaining effort = PERT(effort_low, effort_likely, effort_high) x (1 - progress), where PERT is
  low + (high - low) x Beta(1 + 4r, 1 + 4(1 - r)), r = (likely - low) / (high - low), whose mean is the PERT
  mean (low + 4 likely + high) / 6; constant when low == high. Drawn by inverting the tabulated CDF
  (`pert_share`).
- Throughput: `engines.throughput`, the model the planner uses too. By default (`throughput="posterior"`)
  each trial draws the team's true rate from a posterior built from its `throughput_history` and a prior
  centred on its `capacity` (so short histories carry the uncertainty of the rate, and a team without
  history is uncertain around its capacity), then lognormal weekly noise around that rate, one draw per
  team per week. `throughput="bootstrap"` is the former model (re-sample a recorded week; constant capacity
  without history). Scenario capacity changes scale the weeks they cover. Work is delivered evenly within a
  week.
- Scheduling: each team works through its features one at a time, in delivery order, with its full weekly
  throughput. A feature starts when the team has finished its previous feature, all its prerequisites are
  done and any scenario start shift has passed; it finishes at the first moment the team's cumulative
  throughput since the start covers the effort (fractional weeks, linear inside a week).
- Unowned features are never started: they, and every feature that (transitively) depends on one, are
  reported beyond the horizon and listed in `Forecast.unscheduled_feature_ids`. They are left out of the team
  queues, so a team is not stalled by a feature that can never start.
- Anything not finished within `horizon_weeks` is beyond the horizon (no date).
- Dates: `calendar="calendar_days"` (default) puts a completion after w weeks on day ceil(7 w) after as_of;
  `calendar="working_days"` on the team's ceil(5 w)-th working day (weekends and `Team.holidays` skipped).
  P85 is the first day by which at least 85% of the trials are done. Semantics in docs/ENGINES.md.

Random numbers come from one stream per feature, one per team for its per-trial rate and one per team and
block of weeks, each seeded from (seed, id[, block]). Draws are therefore independent of capacity values, of the delivery order and of the
other entities, so two forecasts with the same seed use common random numbers: an untouched feature sees the
same draws in a scenario, and more capacity or fewer dependencies can only make completions earlier, trial
by trial.

Entry points: `forecast` (the summary), `completion_matrix` (raw per-trial completion weeks). Internals
exposed for tests and the benchmark: `plan_simulation`, `draw_simulation`, `simulate_completion_weeks` and
its plain-Python oracle `forecast_reference_python`.
"""

from __future__ import annotations

import math
import os
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TypedDict, Unpack

import networkx as nx
import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field

from engines.common import CustomerAtRisk, customers_at_risk, dependency_cycle, dependency_graph
from engines.scenario_changes import CapacityChange, Scenario, ShiftStart, prepare_scenario
from engines.throughput import (
    DEFAULT_PRIOR,
    RATE_BLOCK,
    TEAM_STREAM,
    WEEK_BLOCK,
    RatePosterior,
    ThroughputKind,
    ThroughputPrior,
    TrialRates,
    bootstrap_choices,
    entity_rng,
    posterior_weekly_block,
)
from engines.work_calendar import (
    WORKING_DAYS_PER_WEEK,
    DateCalendar,
    work_weeks_before,
    working_day_offsets,
)
from graph.portfolio import Feature, FeatureStatus, Portfolio

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]

PERCENTILES = (0.50, 0.85, 0.95)
BEYOND_HORIZON = date.max
"""The P85 `Forecast.p85_by_feature` gives a feature that is not done within the horizon: later than any renewal."""

_DAY_TOLERANCE = 1e-6
"""Days; absorbs floating-point noise so a finish at exactly 14.0 days stays on day 14."""

_FEATURE_STREAM = 1
_ALL_TRIALS = slice(None)


class ForecastError(ValueError):
    """The portfolio cannot be simulated (unknown team or prerequisite, dependency cycle, bad parameters)."""


# --- Result models ------------------------------------------------------------------------------------------


class FeatureForecast(BaseModel):
    model_config = ConfigDict(frozen=True)

    feature_id: str
    team_id: str | None
    p50: date | None = Field(description="None: not done within the horizon in at least half of the trials.")
    p85: date | None
    p95: date | None
    target_date: date | None
    on_time_probability: float | None = Field(
        description="P(done on or before target_date); None: no target."
    )
    beyond_horizon_probability: float
    unscheduled: bool = Field(description="Unowned, or depends on an unowned feature: never starts.")


class GroupForecast(BaseModel):
    """A release or objective: done when its last open member is done."""

    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    feature_ids: list[str] = Field(description="All member features, done ones included.")
    due_date: date | None
    p50: date | None
    p85: date | None
    p95: date | None
    on_time_probability: float | None
    beyond_horizon_probability: float


class CustomerForecast(BaseModel):
    model_config = ConfigDict(frozen=True)

    customer_id: str
    arr: float
    renewal_date: date | None
    requested_feature_ids: list[str] = Field(description="Requested features that are still open.")
    probability_before_renewal: float | None = Field(
        description="P(every open requested feature is done on or before the renewal date); None: no renewal."
    )


class Forecast(BaseModel):
    model_config = ConfigDict(frozen=True)

    as_of: date
    trials: int
    seed: int
    horizon_weeks: int
    scenario_id: str | None = None
    throughput: ThroughputKind = Field(
        default=ThroughputKind.POSTERIOR, description="The throughput model the forecast used."
    )
    calendar: DateCalendar = Field(
        default=DateCalendar.CALENDAR_DAYS, description="How weeks of work map to dates (docs/ENGINES.md)."
    )
    features: list[FeatureForecast] = Field(description="Open features in delivery order.")
    releases: list[GroupForecast]
    objectives: list[GroupForecast]
    customers: list[CustomerForecast] = Field(
        description="Customers with at least one open requested feature."
    )
    arr_weighted_on_time: float = Field(
        description="sum(arr x P(before renewal)) / sum(arr) over customers with a renewal date and open "
        "requests; 1.0 when there are none (or their ARR is zero)."
    )
    arr_at_risk: float = Field(description="Total ARR of `customers_at_risk` (P85 after renewal).")
    customers_at_risk: list[CustomerAtRisk]
    unscheduled_feature_ids: list[str] = Field(
        description="Never started: unowned, or depending on an unowned feature; reported beyond the horizon."
    )

    def p85_by_feature(self) -> dict[str, date]:
        """P85 date per open feature; `BEYOND_HORIZON` (date.max) for features not done within the horizon."""
        return {f.feature_id: f.p85 or BEYOND_HORIZON for f in self.features}

    def feature(self, feature_id: str) -> FeatureForecast:
        for feature in self.features:
            if feature.feature_id == feature_id:
                return feature
        raise KeyError(feature_id)


# --- Simulation inputs ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TeamThroughputModel:
    """Weekly throughput of one team: base weekly draw x week_scale[week] + week_extra[week].

    The base weekly draw comes from `engines.throughput`: the posterior model (per-trial rate from
    `posterior`, lognormal weekly noise) or the bootstrap of `sample_values`.
    """

    team_id: str
    kind: ThroughputKind
    sample_values: FloatArray
    """Bootstrap: the throughput history to re-sample, or just [capacity] when there is no history."""
    posterior: RatePosterior
    week_scale: FloatArray
    week_extra: FloatArray

    @property
    def constant(self) -> float | None:
        """The weekly throughput when it does not vary (nothing to draw); None when it does."""
        if self.kind is ThroughputKind.BOOTSTRAP:
            return float(self.sample_values[0]) if self.sample_values.size <= 1 else None
        return self.posterior.constant

    @property
    def bootstrapped(self) -> bool:
        return self.kind is ThroughputKind.BOOTSTRAP and self.sample_values.size > 1


@dataclass(frozen=True)
class SimulationPlan:
    """Everything deterministic about a simulation: open features in delivery order and the teams' models."""

    feature_ids: list[str]
    team_index: IntArray
    """Per feature, index into `teams`; -1 for features that never start (unscheduled)."""
    prerequisites: list[IntArray]
    """Per feature, indices of its open prerequisites (all earlier in delivery order)."""
    earliest_start_weeks: FloatArray
    effort_low: FloatArray
    effort_likely: FloatArray
    effort_high: FloatArray
    remaining_share: FloatArray
    """1 - progress."""
    teams: list[TeamThroughputModel]
    horizon_weeks: int
    throughput: ThroughputKind = ThroughputKind.POSTERIOR
    calendar: DateCalendar = DateCalendar.CALENDAR_DAYS
    day_tables: list[npt.NDArray[np.int64]] | None = None
    """Working-day calendar: per team, entry k = the calendar day by which k working days are done."""


@dataclass(frozen=True)
class SimulationDraws:
    """The random inputs, drawn once and fed to both the vectorised and the reference simulation.

    Efforts and each team's per-trial rates are drawn up front. Weekly throughput is drawn per team and block
    of `WEEK_BLOCK` weeks on first use, each block from its own (seed, team, block) stream and cached, so the
    numbers do not depend on which weeks a run reaches or in which order it asks for them.
    """

    trials: int
    seed: int
    remaining_effort: FloatArray
    """(features, trials): sampled effort x (1 - progress)."""
    teams: list[TeamThroughputModel]
    team_rates: list[TrialRates | None]
    """Per team, the posterior model's per-trial rates; None for bootstrap or constant teams."""
    horizon_weeks: int
    _blocks: dict[tuple[int, int], npt.NDArray[np.generic]] = field(
        default_factory=dict[tuple[int, int], npt.NDArray[np.generic]], repr=False, compare=False
    )

    @property
    def team_ids(self) -> list[str]:
        return [t.team_id for t in self.teams]

    def throughput_block(self, team: int, block: int) -> npt.NDArray[np.generic] | None:
        """(weeks in the block, all trials) compact weekly draws; None for a constant team.

        Posterior teams: float32 weekly throughput. Bootstrap teams: indices into `sample_values`.
        """
        model = self.teams[team]
        if model.constant is not None:
            return None
        key = (team, block)
        if key not in self._blocks:
            weeks = min(WEEK_BLOCK, self.horizon_weeks - block * WEEK_BLOCK)
            rates = self.team_rates[team]
            if rates is None:
                self._blocks[key] = bootstrap_choices(
                    self.seed, model.team_id, block, weeks, self.trials, model.sample_values.size
                )
            else:
                self._blocks[key] = posterior_weekly_block(
                    rates, self.seed, model.team_id, block, weeks, self.trials
                )
        return self._blocks[key]

    def weekly_throughput(
        self, team: int, block: int, trials: slice = _ALL_TRIALS, *, out: FloatArray | None = None
    ) -> FloatArray:
        """(weeks in the block, trials) base weekly throughput (before scenario scaling), in `out` if given."""
        model = self.teams[team]
        weeks = min(WEEK_BLOCK, self.horizon_weeks - block * WEEK_BLOCK)
        if out is None:
            out = np.empty((weeks, len(range(*trials.indices(self.trials)))))
        constant = model.constant
        if constant is not None:
            out.fill(constant)
            return out
        compact = self.throughput_block(team, block)
        assert compact is not None
        if model.kind is ThroughputKind.BOOTSTRAP:
            model.sample_values.take(compact[:, trials].astype(np.intp), out=out)
        else:
            out[...] = compact[:, trials]
        return out


def plan_simulation(
    portfolio: Portfolio,
    *,
    as_of: date,
    horizon_weeks: int,
    capacity_changes: Sequence[CapacityChange] = (),
    shift_starts: Sequence[ShiftStart] = (),
    throughput: ThroughputKind = ThroughputKind.POSTERIOR,
    prior: ThroughputPrior = DEFAULT_PRIOR,
    calendar: DateCalendar = DateCalendar.CALENDAR_DAYS,
) -> SimulationPlan:
    """Delivery order, prerequisite indices, start constraints and the teams' throughput models."""
    teams_by_id = {t.id: t for t in portfolio.teams}
    features_by_id = {f.id: f for f in portfolio.features}
    open_features = {f.id: f for f in portfolio.features if f.status != FeatureStatus.DONE}
    for feature in open_features.values():
        if feature.team_id is not None and feature.team_id not in teams_by_id:
            raise ForecastError(f"feature {feature.id} belongs to unknown team {feature.team_id!r}")
        unknown = [d for d in feature.depends_on if d not in features_by_id]
        if unknown:
            raise ForecastError(f"feature {feature.id} depends on unknown features {unknown}")

    graph = dependency_graph(portfolio).subgraph(open_features).copy()
    order = _delivery_order(graph, open_features)
    never_starts = _never_starting(graph, open_features, order)
    team_ids = sorted({f.team_id for f in open_features.values() if f.team_id is not None})
    team_position = {team_id: i for i, team_id in enumerate(team_ids)}
    position = {feature_id: i for i, feature_id in enumerate(order)}
    features = [open_features[fid] for fid in order]
    working_days = (
        None
        if calendar is DateCalendar.CALENDAR_DAYS
        else {
            team_id: working_day_offsets(
                as_of, teams_by_id[team_id].holidays, WORKING_DAYS_PER_WEEK * horizon_weeks
            )
            for team_id in team_ids
        }
    )

    def weeks_before(team_id: str | None, day_offset: float) -> float:
        if working_days is None or team_id is None:
            return day_offset / 7
        return work_weeks_before(day_offset, working_days[team_id])

    return SimulationPlan(
        feature_ids=order,
        team_index=np.array(
            [-1 if f.id in never_starts else team_position[f.team_id or ""] for f in features], dtype=np.intp
        ),
        prerequisites=[
            np.array(sorted(position[d] for d in graph.predecessors(f.id)), dtype=np.intp) for f in features
        ],
        earliest_start_weeks=_earliest_starts(features, shift_starts, as_of, weeks_before),
        effort_low=np.array([f.effort_low for f in features], dtype=np.float64),
        effort_likely=np.array([f.effort_likely for f in features], dtype=np.float64),
        effort_high=np.array([f.effort_high for f in features], dtype=np.float64),
        remaining_share=np.array([1.0 - f.progress for f in features], dtype=np.float64),
        teams=[
            _team_model(
                teams_by_id[team_id].capacity,
                teams_by_id[team_id].throughput_history,
                team_id,
                [c for c in capacity_changes if c.team_id == team_id],
                as_of,
                horizon_weeks,
                throughput,
                prior,
                None if working_days is None else working_days[team_id],
            )
            for team_id in team_ids
        ],
        horizon_weeks=horizon_weeks,
        throughput=throughput,
        calendar=calendar,
        day_tables=None
        if working_days is None
        else [np.concatenate([np.zeros(1, dtype=np.int64), working_days[t]]) for t in team_ids],
    )


def _delivery_order(graph: nx.DiGraph[str], open_features: Mapping[str, Feature]) -> list[str]:
    """A topological order that follows priority where dependencies allow (ascending, None last, then id)."""

    def delivery_rank(feature_id: str) -> tuple[bool, int, str]:
        priority = open_features[feature_id].priority
        return priority is None, priority or 0, feature_id

    try:
        return list(nx.lexicographical_topological_sort(graph, key=delivery_rank))
    except nx.NetworkXUnfeasible as error:
        raise ForecastError(f"dependency cycle among {sorted(dependency_cycle(graph))}") from error


def _never_starting(
    graph: nx.DiGraph[str], open_features: Mapping[str, Feature], order: list[str]
) -> set[str]:
    """The unowned features and every feature that (transitively) depends on one."""
    never_starts: set[str] = set()
    for feature_id in order:  # prerequisites come first, so one pass propagates
        feature = open_features[feature_id]
        if feature.team_id is None or any(d in never_starts for d in graph.predecessors(feature_id)):
            never_starts.add(feature_id)
    return never_starts


def _earliest_starts(
    features: list[Feature],
    shift_starts: Sequence[ShiftStart],
    as_of: date,
    weeks_before: Callable[[str | None, float], float],
) -> FloatArray:
    """Per feature in delivery order, the weeks after `as_of` before which the scenario's start shifts hold it."""
    earliest = np.zeros(len(features))
    for shift in shift_starts:
        for i, feature in enumerate(features):
            weeks = max(0.0, weeks_before(feature.team_id, (shift.start - as_of).days))
            applies = (
                feature.id in shift.feature_ids
                if shift.feature_ids
                else shift.team_id is None or feature.team_id == shift.team_id
            )
            if applies:
                earliest[i] = max(earliest[i], weeks)
    return earliest


def _team_model(
    capacity: float,
    history: list[float],
    team_id: str,
    changes: list[CapacityChange],
    as_of: date,
    horizon_weeks: int,
    kind: ThroughputKind,
    prior: ThroughputPrior,
    working_day_offsets: IntArray | None,
) -> TeamThroughputModel:
    """The team's throughput model; a capacity change scales each week by the share of its days it covers
    (calendar days, or with the working-day calendar the team's working days of that week)."""
    week_start_day = 7 * np.arange(horizon_weeks, dtype=np.float64)
    delta_in_force = np.zeros(horizon_weeks)
    for change in changes:
        first_day = -math.inf if change.start is None else float((change.start - as_of).days)
        after_last_day = math.inf if change.end is None else float((change.end - as_of).days + 1)
        if working_day_offsets is None:
            share_covered = (
                np.clip(
                    np.minimum(week_start_day + 7, after_last_day) - np.maximum(week_start_day, first_day),
                    0,
                    7,
                )
                / 7
            )
        else:
            days = working_day_offsets.reshape(horizon_weeks, WORKING_DAYS_PER_WEEK)
            covered = (days >= first_day) & (days < after_last_day)
            share_covered = np.count_nonzero(covered, axis=1) / WORKING_DAYS_PER_WEEK
        delta_in_force += change.delta * share_covered
    if capacity > 0:
        scale, extra = (capacity + delta_in_force) / capacity, np.zeros(horizon_weeks)
    else:
        scale, extra = np.ones(horizon_weeks), delta_in_force
    samples = np.array(history if history else [capacity], dtype=np.float64)
    posterior = RatePosterior.of(capacity, history, prior)
    return TeamThroughputModel(team_id, kind, samples, posterior, scale, extra)


_PERT_GRID = 2048
"""Points of the tabulated PERT density and quantile function (see `pert_share`)."""
_PERT_EDGE_CELLS = 32
"""Cells at each end of the quantile table where the CDF is inverted directly (1.6% of draws each side)."""


def _pert_x_grid() -> tuple[FloatArray, FloatArray, FloatArray]:
    """The grid, log x and log(1 - x), with a huge negative finite log at the ends so 0 x log 0 stays 0."""
    x = np.linspace(0.0, 1.0, _PERT_GRID + 1)
    with np.errstate(divide="ignore"):
        log_x, log_1mx = np.log(x), np.log1p(-x)
    log_x[0] = log_1mx[-1] = -1e300
    return x, log_x, log_1mx


_PERT_X = _pert_x_grid()


def pert_share(mode_share: float, uniforms: FloatArray, *, out: FloatArray | None = None) -> FloatArray:
    """Beta(1 + 4r, 1 + 4(1 - r)) variates on [0, 1] (r = `mode_share`) by inverting its CDF at `uniforms`.

    The CDF is integrated (trapezoid rule) on a grid of `_PERT_GRID` intervals, where the density is smooth
    (both Beta parameters lie in [1, 5]); the quantile function is tabulated at u = j / `_PERT_GRID` and
    interpolated, except in the outermost `_PERT_EDGE_CELLS` cells at each end, where it can be steep and the
    CDF is inverted directly.
    Errors are below 5e-4 of the range (the grid step); it costs a fraction of `Generator.beta`. A larger uniform gives a larger
    share, so common random numbers keep effort changes monotone.
    """
    x, log_x, log_1mx = _PERT_X
    density = log_x * (4 * mode_share)
    density += log_1mx * (4 * (1 - mode_share))
    np.exp(density, out=density)
    cdf = np.empty_like(x)
    cdf[0] = 0.0
    np.cumsum((density[1:] + density[:-1]) * 0.5, out=cdf[1:])
    cdf /= cdf[-1]
    quantiles = np.interp(x, cdf, x)  # x doubles as the grid of u = j / _PERT_GRID
    position = uniforms * _PERT_GRID
    cell = position.astype(np.intp)
    np.minimum(cell, _PERT_GRID - 1, out=cell)
    result = np.empty_like(uniforms) if out is None else out
    lower = quantiles.take(cell)
    np.subtract(quantiles.take(cell + 1), lower, out=result)
    result *= position - cell
    result += lower
    edge = np.flatnonzero((cell < _PERT_EDGE_CELLS) | (cell >= _PERT_GRID - _PERT_EDGE_CELLS))
    result[edge] = np.interp(uniforms[edge], cdf, x)
    return result


def draw_simulation(
    plan: SimulationPlan, *, trials: int, seed: int, workers: int | None = None
) -> SimulationDraws:
    """Sample efforts (one stream per feature) and per-trial team rates; weekly throughput is drawn lazily.

    Effort sampling (a PERT variate per feature per trial, `pert_share`) runs on `workers` threads when large
    (NumPy releases the GIL; default: one for small draws, else the CPU count, at most 4). Each feature has its
    own stream, so the result does not depend on the number of workers.
    """
    effort = np.empty((len(plan.feature_ids), trials))

    def fill(rows: range) -> None:
        for i in rows:
            low, likely, high = plan.effort_low[i], plan.effort_likely[i], plan.effort_high[i]
            if high > low and plan.team_index[i] >= 0:
                rng = entity_rng(seed, _FEATURE_STREAM, plan.feature_ids[i])
                pert_share((likely - low) / (high - low), rng.random(trials), out=effort[i])
                effort[i] *= high - low
                effort[i] += low
            else:
                effort[i] = low
            effort[i] *= plan.remaining_share[i]

    if workers is None:
        workers = 1 if effort.size < 500_000 else min(4, os.cpu_count() or 1)
    workers = max(1, workers)
    blocks = [range(first, len(effort), workers) for first in range(workers)]
    if workers == 1:
        fill(blocks[0])
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(fill, blocks))

    return SimulationDraws(
        trials=trials,
        seed=seed,
        remaining_effort=effort,
        teams=plan.teams,
        team_rates=[
            None
            if t.kind is ThroughputKind.BOOTSTRAP or t.constant is not None
            else t.posterior.draw_trials(entity_rng(seed, TEAM_STREAM, t.team_id, RATE_BLOCK), trials)
            for t in plan.teams
        ],
        horizon_weeks=plan.horizon_weeks,
    )


# --- The vectorised simulation -------------------------------------------------------------------------


class _TeamCumulative:
    """One team's cumulative throughput for a chunk of n trials, built lazily a block of weeks at a time.

    Week-major rows, used flat: row k (flat[k*n + r] for trial r) is the work delivered before week k, so
    week k of trial r spans [flat[k*n + r], flat[(k+1)*n + r]]. Row 0 is zeros, row H the total; row H + 1
    repeats the total (an empty week H, where starts at or past the horizon land) and row H + 2 is +inf,
    which stops every forward search. Rows are a running sum, week by week (each row adds its week's
    throughput to the row before it): the same additions, in the same order, as the reference's.
    """

    def __init__(self, model: TeamThroughputModel, draws: SimulationDraws, team: int, trials: slice) -> None:
        self.model, self.draws, self.team, self.trials = model, draws, team, trials
        self.horizon = draws.horizon_weeks
        n = len(range(*trials.indices(draws.trials)))
        self.flat = np.empty((self.horizon + 3) * n)  # rows not yet built are never read
        self.rows = self.flat.reshape(self.horizon + 3, n)
        self.rows[0] = 0.0
        self.built = 0
        """Rows 0..built are valid."""
        self.complete = False
        self._scaled = bool(np.any(model.week_scale != 1.0) or np.any(model.week_extra != 0.0))

    def ensure_row(self, row: int) -> None:
        """Build rows up to `row` (whole blocks of weeks; the sentinels once the horizon is reached)."""
        while self.built < min(row, self.horizon):
            first = self.built  # always the first week of a block
            weeks = min(WEEK_BLOCK, self.horizon - first)
            weekly = self.rows[first + 1 : first + 1 + weeks]  # filled with the weekly draws, then summed
            self.draws.weekly_throughput(self.team, first // WEEK_BLOCK, self.trials, out=weekly)
            if self._scaled:
                weekly *= self.model.week_scale[first : first + weeks, None]
                weekly += self.model.week_extra[first : first + weeks, None]
            for week in range(first + 1, first + 1 + weeks):  # row by row: much faster than cumsum on axis 0
                np.add(self.rows[week - 1], self.rows[week], out=self.rows[week])
            self.built = first + weeks
        if row > self.horizon and not self.complete:
            self.rows[self.horizon + 1] = self.rows[self.horizon]
            self.rows[self.horizon + 2] = math.inf
            self.built = self.horizon + 2
            self.complete = True


_CUMULATIVE_BUDGET_BYTES = 256 * 2**20
"""Trials are simulated in chunks so the teams' cumulative throughput arrays stay within about this much even
if every team's whole horizon is reached (rows are built lazily, so usually far less is touched)."""


def simulate_completion_weeks(
    plan: SimulationPlan,
    draws: SimulationDraws,
    *,
    chunk_trials: int | None = None,
    workers: int | None = None,
) -> FloatArray:
    """(features, trials) completion times in weeks after as_of; +inf = beyond the horizon.

    Vectorised over trials, in chunks of `chunk_trials` (default: as many as fit the memory budget);
    features are visited in delivery order. Chunks are independent, so large runs simulate them on
    `workers` threads (default: one for small runs, else the CPU count, at most 2; NumPy releases the GIL
    in the array work). Neither the chunking nor the threads change the result.
    """
    if workers is None:
        workers = 1 if len(plan.feature_ids) * draws.trials < 2_000_000 else min(2, os.cpu_count() or 1)
    workers = max(1, workers)
    if chunk_trials is None:
        bytes_per_trial = 8 * (plan.horizon_weeks + 3) * max(1, len(plan.teams))
        # Chunks of a few thousand trials keep a feature's working set in cache; many teams shrink them.
        budget = _CUMULATIVE_BUDGET_BYTES // workers
        chunk_trials = min(2_500, max(500, budget // bytes_per_trial))
    finish = np.full((len(plan.feature_ids), draws.trials), math.inf)
    chunks = [
        slice(first, min(first + chunk_trials, draws.trials))
        for first in range(0, draws.trials, chunk_trials)
    ]

    def run(chunk: slice) -> None:
        _simulate_chunk(plan, draws, chunk, finish[:, chunk])

    if workers == 1 or len(chunks) == 1:
        for chunk in chunks:
            run(chunk)
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(run, chunks))
    return finish


def _simulate_chunk(plan: SimulationPlan, draws: SimulationDraws, trials: slice, finish: FloatArray) -> None:
    """Fill `finish` (features, chunk trials), feature by feature in delivery order, vectorised over trials.

    A feature's lookups cluster around similar weeks, so the week-major layout of `_TeamCumulative` keeps
    them close together in memory; a forward search steps by n (one week).
    """
    horizon = plan.horizon_weeks
    n = finish.shape[1]
    cumulative = [_TeamCumulative(model, draws, t, trials) for t, model in enumerate(plan.teams)]
    trial_index = np.arange(n, dtype=np.intp)
    past_horizon = (horizon + 1) * n  # positions from here on are ends of week H or the sentinel
    efforts = draws.remaining_effort[:, trials]
    team_last: list[FloatArray] = [np.zeros(n)] * len(plan.teams)  # completion of each team's latest feature
    start = np.empty(n)
    clipped = np.empty(n)
    week = np.empty(n, dtype=np.intp)
    position = np.empty(n, dtype=np.intp)
    begin = np.empty(n)
    end = np.empty(n)
    needed = np.empty(n)
    for i in range(len(plan.feature_ids)):
        team = int(plan.team_index[i])
        if team < 0:
            continue
        lazy = cumulative[team]
        cum = lazy.flat
        prerequisites = plan.prerequisites[i]
        if prerequisites.size:
            np.maximum(team_last[team], finish[prerequisites[0]], out=start)
            for prerequisite in prerequisites[1:]:
                np.maximum(start, finish[prerequisite], out=start)
        else:
            start[:] = team_last[team]
        if plan.earliest_start_weeks[i] > 0:
            np.maximum(start, plan.earliest_start_weeks[i], out=start)

        # Work delivered by `start`: starts at or past the horizon fall in the empty week H.
        np.minimum(start, horizon, out=clipped)
        week[:] = clipped
        if not lazy.complete:
            lazy.ensure_row(int(week.max()) + 1)
        np.multiply(week, n, out=position)
        position += trial_index
        cum.take(position, out=begin)
        position += n
        cum.take(position, out=end)
        clipped -= week
        np.subtract(end, begin, out=needed)
        needed *= clipped
        needed += begin
        needed += efforts[i]

        # Walk each trial forward to the first week whose end covers `needed` (the +inf sentinel stops it).
        pending = np.flatnonzero(end < needed)
        while pending.size:
            advanced = position[pending] + n
            if not lazy.complete:
                lazy.ensure_row(int(advanced.max()) // n)
            position[pending] = advanced
            reached = cum[advanced]
            end[pending] = reached
            pending = pending[reached < needed[pending]]

        # `position` is the end of week k = position // n - 1; interpolate inside that week.
        cum.take(position - n, out=begin)
        with np.errstate(invalid="ignore"):  # 0/0 only for zero effort in an empty week: fmax keeps `start`
            done = (needed - begin) / (end - begin)
        done += position // n - 1
        completion = finish[i]
        np.fmax(start, done, out=completion)
        completion[position >= past_horizon] = math.inf
        team_last[team] = completion


def _weekly_rows(draws: SimulationDraws, team: int) -> list[list[float]]:
    """[week][trial] base weekly throughput of one team over the whole horizon."""
    rows: list[list[float]] = []
    for block in range(math.ceil(draws.horizon_weeks / WEEK_BLOCK)):
        rows.extend(draws.weekly_throughput(team, block).tolist())
    return rows


def forecast_reference_python(plan: SimulationPlan, draws: SimulationDraws) -> list[list[float]]:
    """The same simulation in plain Python, one trial and one feature at a time: the vectorised code's oracle.

    Returns [feature][trial] completion weeks (inf = beyond the horizon), like `simulate_completion_weeks`.
    """
    horizon = plan.horizon_weeks
    n_features = len(plan.feature_ids)
    efforts: list[list[float]] = draws.remaining_effort.tolist()
    prerequisites: list[list[int]] = [p.tolist() for p in plan.prerequisites]
    team_of: list[int] = plan.team_index.tolist()
    earliest: list[float] = plan.earliest_start_weeks.tolist()
    team_inputs = [
        (m.week_scale.tolist(), m.week_extra.tolist(), _weekly_rows(draws, team))
        for team, m in enumerate(plan.teams)
    ]
    finish = [[math.inf] * draws.trials for _ in range(n_features)]
    for trial in range(draws.trials):
        cumulative: list[list[float]] = []
        for scale, extra, weekly in team_inputs:
            running, cum = 0.0, [0.0]
            for week in range(horizon):
                running += weekly[week][trial] * scale[week] + extra[week]
                cum.append(running)
            cumulative.append(cum)
        team_free = [0.0] * len(plan.teams)
        for i in range(n_features):
            team = team_of[i]
            if team < 0:
                continue
            start = max([team_free[team], earliest[i]] + [finish[p][trial] for p in prerequisites[i]])
            completion = math.inf
            if start < horizon:
                cum = cumulative[team]
                week = int(start)
                needed = cum[week] + (start - week) * (cum[week + 1] - cum[week]) + efforts[i][trial]
                end = bisect_left(cum, needed, lo=week + 1, hi=horizon + 1)
                if end <= horizon:
                    weekly = cum[end] - cum[end - 1]
                    completion = (
                        start if weekly == 0 else max(start, end - 1 + (needed - cum[end - 1]) / weekly)
                    )
            finish[i][trial] = completion
            team_free[team] = completion
    return finish


# --- The forecast ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CompletionMatrix:
    """Raw per-trial completion times, for engines that need more than the percentiles."""

    plan: SimulationPlan
    portfolio: Portfolio
    """The portfolio simulated (the scenario's rewritten portfolio when there is one)."""
    as_of: date
    seed: int
    weeks: FloatArray
    """(trials, features) completion weeks after as_of, columns in `plan.feature_ids` order; inf = beyond."""


def completion_matrix(
    portfolio: Portfolio,
    *,
    as_of: date,
    scenario: Scenario | None = None,
    trials: int = 10_000,
    seed: int = 0,
    horizon_weeks: int = 260,
    throughput: ThroughputKind = ThroughputKind.POSTERIOR,
    prior: ThroughputPrior = DEFAULT_PRIOR,
    calendar: DateCalendar = DateCalendar.CALENDAR_DAYS,
) -> CompletionMatrix:
    """Run the simulation and return the raw (trials x features) completion weeks."""
    if trials < 1 or horizon_weeks < 1 or seed < 0:
        raise ForecastError("trials and horizon_weeks must be positive and seed non-negative")
    capacity_changes: Sequence[CapacityChange] = ()
    shift_starts: Sequence[ShiftStart] = ()
    if scenario is not None:
        prepared = prepare_scenario(portfolio, scenario)
        portfolio, capacity_changes, shift_starts = (
            prepared.portfolio,
            prepared.capacity_changes,
            prepared.shift_starts,
        )
    plan = plan_simulation(
        portfolio,
        as_of=as_of,
        horizon_weeks=horizon_weeks,
        capacity_changes=capacity_changes,
        shift_starts=shift_starts,
        throughput=throughput,
        prior=prior,
        calendar=calendar,
    )
    draws = draw_simulation(plan, trials=trials, seed=seed)
    return CompletionMatrix(plan, portfolio, as_of, seed, simulate_completion_weeks(plan, draws).T)


class SimulationOptions(TypedDict, total=False):
    """`completion_matrix`'s options after `as_of`, which `forecast` passes on."""

    scenario: Scenario | None
    trials: int
    seed: int
    horizon_weeks: int
    throughput: ThroughputKind
    prior: ThroughputPrior
    calendar: DateCalendar


def forecast(portfolio: Portfolio, *, as_of: date, **options: Unpack[SimulationOptions]) -> Forecast:
    """Monte Carlo forecast of every open feature, release, objective and requesting customer (see module doc).

    `options` are `completion_matrix`'s: the scenario, trials (10,000), seed (0) and horizon_weeks (260).
    """
    scenario = options.get("scenario")
    return summarise(
        completion_matrix(portfolio, as_of=as_of, **options),
        scenario_id=None if scenario is None else scenario.id,
    )


def summarise(matrix: CompletionMatrix, *, scenario_id: str | None = None) -> Forecast:
    """Percentile dates, on-time probabilities and ARR at risk from the raw completion times."""
    portfolio, plan = matrix.portfolio, matrix.plan
    by_feature = matrix.weeks.T  # (features, trials), rows contiguous
    column = {feature_id: i for i, feature_id in enumerate(plan.feature_ids)}
    feature_days = DoneByDay.of(
        by_feature, plan.horizon_weeks, day_tables=plan.day_tables, row_tables=plan.team_index
    )
    customers = _customer_forecasts(portfolio, column, feature_days, matrix.as_of)
    releases, objectives = _release_and_objective_groups(portfolio)
    result = Forecast(
        as_of=matrix.as_of,
        trials=by_feature.shape[1],
        seed=matrix.seed,
        horizon_weeks=plan.horizon_weeks,
        scenario_id=scenario_id,
        throughput=plan.throughput,
        calendar=plan.calendar,
        features=_feature_forecasts(matrix, feature_days),
        releases=_group_forecasts(releases, feature_days, column, matrix),
        objectives=_group_forecasts(objectives, feature_days, column, matrix),
        customers=customers,
        arr_weighted_on_time=_arr_weighted_on_time(customers),
        arr_at_risk=0.0,
        customers_at_risk=[],
        unscheduled_feature_ids=[
            f for f, t in zip(plan.feature_ids, plan.team_index.tolist(), strict=True) if t < 0
        ],
    )
    at_risk = customers_at_risk(portfolio, result.p85_by_feature())
    return result.model_copy(
        update={"customers_at_risk": at_risk, "arr_at_risk": float(sum(c.arr for c in at_risk))}
    )


def _feature_forecasts(matrix: CompletionMatrix, feature_days: DoneByDay) -> list[FeatureForecast]:
    features_by_id = {f.id: f for f in matrix.portfolio.features}
    forecasts: list[FeatureForecast] = []
    for i, feature_id in enumerate(matrix.plan.feature_ids):
        feature = features_by_id[feature_id]
        p50, p85, p95 = feature_days.percentile_dates(i, matrix.as_of)
        forecasts.append(
            FeatureForecast(
                feature_id=feature_id,
                team_id=feature.team_id,
                p50=p50,
                p85=p85,
                p95=p95,
                target_date=feature.target_date,
                on_time_probability=feature_days.probability_by(i, matrix.as_of, feature.target_date),
                beyond_horizon_probability=feature_days.beyond_horizon_probability(i),
                unscheduled=bool(matrix.plan.team_index[i] < 0),
            )
        )
    return forecasts


@dataclass(frozen=True)
class _Group:
    """A release or objective with at least one feature: what its forecast is made of."""

    id: str
    name: str
    feature_ids: list[str]
    due: date | None


def _release_and_objective_groups(portfolio: Portfolio) -> tuple[list[_Group], list[_Group]]:
    """The releases and the objectives that have features, in portfolio order, with their features."""
    release_members: defaultdict[str, list[str]] = defaultdict(list)
    objective_members: defaultdict[str, list[str]] = defaultdict(list)
    for feature in portfolio.features:
        if feature.release_id is not None:
            release_members[feature.release_id].append(feature.id)
        for objective_id in feature.objective_ids:
            objective_members[objective_id].append(feature.id)
    releases = [
        _Group(r.id, r.name, release_members[r.id], r.date)
        for r in portfolio.releases
        if release_members[r.id]
    ]
    objectives = [
        _Group(o.id, o.name, objective_members[o.id], o.due_date)
        for o in portfolio.objectives
        if objective_members[o.id]
    ]
    return releases, objectives


def _group_forecasts(
    groups: list[_Group], feature_days: DoneByDay, column: dict[str, int], matrix: CompletionMatrix
) -> list[GroupForecast]:
    """A group is done on the day its last open member is; one with no open member is done at once.

    Days, not weeks, are maxed: with the working-day calendar the members' teams may count days differently.
    """
    latest = np.zeros((len(groups), feature_days.trials), dtype=feature_days.days.dtype)
    for g, group in enumerate(groups):
        rows = [column[m] for m in group.feature_ids if m in column]
        if rows:
            np.max(feature_days.days[rows], axis=0, out=latest[g])
    days = DoneByDay.from_days(latest, feature_days.beyond_day)
    forecasts: list[GroupForecast] = []
    for g, group in enumerate(groups):
        p50, p85, p95 = days.percentile_dates(g, matrix.as_of)
        forecasts.append(
            GroupForecast(
                id=group.id,
                name=group.name,
                feature_ids=group.feature_ids,
                due_date=group.due,
                p50=p50,
                p85=p85,
                p95=p95,
                on_time_probability=days.probability_by(g, matrix.as_of, group.due),
                beyond_horizon_probability=days.beyond_horizon_probability(g),
            )
        )
    return forecasts


def _customer_forecasts(
    portfolio: Portfolio, column: dict[str, int], feature_days: DoneByDay, as_of: date
) -> list[CustomerForecast]:
    """Customers with open requests, and the chance that all of them are done before the renewal."""
    requested: defaultdict[str, set[str]] = defaultdict(set)
    for request in portfolio.requests:
        if request.feature_id in column:
            requested[request.customer_id].add(request.feature_id)
    forecasts: list[CustomerForecast] = []
    for customer in portfolio.customers:
        if not requested.get(customer.id):
            continue
        open_requests = sorted(requested[customer.id], key=column.__getitem__)
        forecasts.append(
            CustomerForecast(
                customer_id=customer.id,
                arr=customer.arr,
                renewal_date=customer.renewal_date,
                requested_feature_ids=open_requests,
                probability_before_renewal=feature_days.probability_all_by(
                    [column[f] for f in open_requests], as_of, customer.renewal_date
                ),
            )
        )
    return forecasts


def _arr_weighted_on_time(customers: list[CustomerForecast]) -> float:
    """ARR-weighted probability that customers get their requests before renewal; 1 when no ARR is at stake."""
    weighed = [
        (c.arr, c.probability_before_renewal) for c in customers if c.probability_before_renewal is not None
    ]
    total_arr = sum(arr for arr, _ in weighed)
    return sum(arr * p for arr, p in weighed) / total_arr if total_arr > 0 else 1.0


def completion_day(weeks: float) -> int | None:
    """Whole days after as_of by which a completion at `weeks` is done (rounded up); None when beyond the horizon."""
    if math.isinf(weeks):
        return None
    return max(0, math.ceil(weeks * 7 - _DAY_TOLERANCE))


@dataclass(frozen=True)
class DoneByDay:
    """Per row (a feature or a group), how many trials are done on or before each day after as_of.

    Dates round completion times up to whole days (`completion_day`). Percentiles are empirical order
    statistics, like `np.quantile(method="inverted_cdf")`: the P85 is the first day by which at least
    ceil(0.85 x trials) trials are done. Counting days (at most 7 x horizon + 2 bins per row) is cheaper than
    partitioning every row of the (rows x trials) matrix.
    """

    days: npt.NDArray[np.signedinteger]
    """(rows, trials) completion day per trial; `beyond_day` when beyond the horizon."""
    done_by: npt.NDArray[np.int64]
    """(rows, beyond_day + 1) cumulative counts; column `beyond_day` also counts the trials beyond the horizon."""
    percentile_days: npt.NDArray[np.intp]
    """(rows, len(PERCENTILES)); `beyond_day` where the percentile is beyond the horizon."""
    trials: int
    beyond_day: int

    @classmethod
    def of(
        cls,
        weeks: FloatArray,
        horizon_weeks: int,
        *,
        block_rows: int = 128,
        day_tables: Sequence[npt.NDArray[np.int64]] | None = None,
        row_tables: IntArray | None = None,
    ) -> DoneByDay:
        """From (rows, trials) completion weeks; with `day_tables` (the working-day calendar) row r's
        completion after k = ceil(5 w) working days lands on day `day_tables[row_tables[r]][k]`."""
        rows, trials = weeks.shape
        if day_tables is None:
            beyond_day = 7 * horizon_weeks + 1  # completions are at most horizon_weeks, i.e. day 7 x horizon
        else:
            beyond_day = max((int(t[-1]) for t in day_tables), default=7 * horizon_weeks) + 1
        all_days = np.empty((rows, trials), dtype=np.int16 if beyond_day < 2**15 else np.int32)
        lookup: npt.NDArray[np.int64] | None = None
        tables = np.full(rows, 0 if day_tables is None else len(day_tables), dtype=np.intp)
        if day_tables is not None:
            # Per table, one more entry for the trials beyond the horizon; rows of no table (never started:
            # always beyond the horizon) use the last.
            lookup = np.full((len(day_tables) + 1, WORKING_DAYS_PER_WEEK * horizon_weeks + 2), beyond_day)
            for t, table in enumerate(day_tables):
                lookup[t, : table.size] = table
            if row_tables is not None:
                tables[row_tables >= 0] = row_tables[row_tables >= 0]
        for first in range(0, rows, block_rows):
            block = weeks[first : first + block_rows]
            days = block * (7.0 if lookup is None else float(WORKING_DAYS_PER_WEEK))
            days -= _DAY_TOLERANCE
            np.ceil(days, out=days)
            if lookup is None:
                np.clip(days, 0, beyond_day, out=days)  # inf lands on beyond_day
                all_days[first : first + block_rows] = days
            else:
                np.clip(days, 0, WORKING_DAYS_PER_WEEK * horizon_weeks + 1, out=days)  # inf: the last entry
                working = days.astype(np.intp)
                all_days[first : first + block_rows] = lookup[
                    tables[first : first + block_rows, None], working
                ]
        return cls.from_days(all_days, beyond_day, block_rows=block_rows)

    @classmethod
    def from_days(
        cls, all_days: npt.NDArray[np.signedinteger], beyond_day: int, *, block_rows: int = 128
    ) -> DoneByDay:
        """From (rows, trials) completion days after as_of, `beyond_day` for beyond the horizon."""
        rows, trials = all_days.shape
        bins = beyond_day + 1
        done_by = np.empty((rows, bins), dtype=np.int64)
        for first in range(0, rows, block_rows):
            bin_index = all_days[first : first + block_rows].astype(np.intp)
            count = bin_index.shape[0]
            bin_index += (np.arange(count, dtype=np.intp) * bins)[:, None]
            counts = np.bincount(bin_index.ravel(), minlength=count * bins)
            np.cumsum(counts.reshape(count, bins), axis=1, out=done_by[first : first + block_rows])
        needed = [max(1, math.ceil(q * trials - 1e-9)) for q in PERCENTILES]
        percentile_days = np.stack([np.argmax(done_by >= k, axis=1) for k in needed], axis=1).astype(np.intp)
        return cls(all_days, done_by, percentile_days.reshape(rows, len(PERCENTILES)), trials, beyond_day)

    def percentile_dates(self, row: int, as_of: date) -> tuple[date | None, date | None, date | None]:
        p50, p85, p95 = (
            None if day >= self.beyond_day else as_of + timedelta(days=day)
            for day in self.percentile_days[row].tolist()
        )
        return p50, p85, p95

    def probability_by(self, row: int, as_of: date, due: date | None) -> float | None:
        """P(done on or before `due`); None without a due date."""
        if due is None:
            return None
        allowed = (due - as_of).days
        if allowed < 0:
            return 0.0
        return int(self.done_by[row, min(allowed, self.beyond_day - 1)]) / self.trials

    def probability_all_by(self, rows: Sequence[int], as_of: date, due: date | None) -> float | None:
        """P(every one of `rows` is done on or before `due`), jointly per trial; None without a due date."""
        if due is None or len(rows) == 1:
            return self.probability_by(rows[0], as_of, due)
        allowed = (due - as_of).days
        if allowed < 0:
            return 0.0
        all_done = np.all(self.days[list(rows)] <= min(allowed, self.beyond_day - 1), axis=0)
        return np.count_nonzero(all_done) / self.trials

    def beyond_horizon_probability(self, row: int) -> float:
        return (self.trials - int(self.done_by[row, self.beyond_day - 1])) / self.trials
