"""Monte Carlo delivery forecast: when will each open feature, release and objective land, and what ARR is at risk.

The model, per trial:

- Delivery order: the open (not `done`) features in a topological order of the dependency graph that follows
  priority where dependencies allow (priority ascending, None last, then id). Done features finished at time 0,
  so dependencies on them are satisfied.
- Effort: remaining effort = PERT(effort_low, effort_likely, effort_high) x (1 - progress), where PERT is
  low + (high - low) x Beta(1 + 4r, 1 + 4(1 - r)), r = (likely - low) / (high - low); constant when low == high.
- Throughput: each team's weekly throughput (person-weeks per week) is bootstrapped from its
  `throughput_history`, one draw per team per week; a team with no history delivers its `capacity` every
  week. Scenario capacity changes scale the weeks they cover. Work is delivered evenly within a week.
- Scheduling: each team works through its features one at a time, in delivery order, with its full weekly
  throughput. A feature starts when the team has finished its previous feature, all its prerequisites are
  done and any scenario start shift has passed; it finishes at the first moment the team's cumulative
  throughput since the start covers the effort (fractional weeks, linear inside a week).
- Unowned features are never started: they, and every feature that (transitively) depends on one, are
  reported beyond the horizon and listed in `Forecast.unscheduled_feature_ids`. They are left out of the team
  queues, so a team is not stalled by a feature that can never start.
- Anything not finished within `horizon_weeks` is beyond the horizon (no date).

Random numbers come from one stream per feature and one per team and block of weeks, each seeded from
(seed, id[, block]). Draws are therefore independent of capacity values, of the delivery order and of the
other entities, so two forecasts with the same seed use common random numbers: an untouched feature sees the
same draws in a scenario, and more capacity or fewer dependencies can only make completions earlier, trial
by trial.

Entry points: `forecast` (the summary), `completion_matrix` (raw per-trial completion weeks). Internals
exposed for tests and the benchmark: `plan_simulation`, `draw_simulation`, `simulate_completion_weeks` and
its plain-Python oracle `forecast_reference_python`.
"""

from __future__ import annotations

import hashlib
import math
import os
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Mapping, Sequence
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
from graph.portfolio import Feature, FeatureStatus, Portfolio

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]

PERCENTILES = (0.50, 0.85, 0.95)
BEYOND_HORIZON = date.max
"""The P85 `Forecast.p85_by_feature` gives a feature that is not done within the horizon: later than any renewal."""

_DAY_TOLERANCE = 1e-6
"""Days; absorbs floating-point noise so a finish at exactly 14.0 days stays on day 14."""

_FEATURE_STREAM, _TEAM_STREAM = 1, 2


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
    """Weekly throughput of one team: sample_values[choice] x week_scale[week] + week_extra[week]."""

    team_id: str
    sample_values: FloatArray
    """The throughput history to bootstrap from, or just [capacity] when there is no history."""
    week_scale: FloatArray
    week_extra: FloatArray

    @property
    def bootstrapped(self) -> bool:
        return self.sample_values.size > 1


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


WEEK_BLOCK = 13
"""Weeks of throughput drawn (and accumulated) at a time: a run only pays for the weeks it reaches."""


@dataclass(frozen=True)
class SimulationDraws:
    """The random inputs, drawn once and fed to both the vectorised and the reference simulation.

    Efforts are drawn up front. Bootstrap choices are drawn per team and block of `WEEK_BLOCK` weeks on first
    use, each block from its own (seed, team, block) stream and cached, so the numbers do not depend on which
    weeks a run reaches or in which order it asks for them.
    """

    trials: int
    seed: int
    remaining_effort: FloatArray
    """(features, trials): sampled effort x (1 - progress)."""
    team_ids: list[str]
    sample_counts: list[int]
    """Per team, how many values its throughput is bootstrapped from (1: constant, nothing to draw)."""
    horizon_weeks: int
    _choice_blocks: dict[tuple[int, int], npt.NDArray[np.integer]] = field(
        default_factory=dict[tuple[int, int], npt.NDArray[np.integer]], repr=False, compare=False
    )

    def throughput_choice(self, team: int, block: int) -> npt.NDArray[np.integer] | None:
        """(weeks in the block, trials) indices into the team's `sample_values`; None for a constant team."""
        count = self.sample_counts[team]
        if count <= 1:
            return None
        key = (team, block)
        if key not in self._choice_blocks:
            weeks = min(WEEK_BLOCK, self.horizon_weeks - block * WEEK_BLOCK)
            index_type = np.uint8 if count <= 2**8 else np.uint16 if count <= 2**16 else np.uint32
            rng = _entity_rng(self.seed, _TEAM_STREAM, self.team_ids[team], block)
            self._choice_blocks[key] = rng.integers(0, count, size=(weeks, self.trials), dtype=index_type)
        return self._choice_blocks[key]


def plan_simulation(
    portfolio: Portfolio,
    *,
    as_of: date,
    horizon_weeks: int,
    capacity_changes: Sequence[CapacityChange] = (),
    shift_starts: Sequence[ShiftStart] = (),
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
    return SimulationPlan(
        feature_ids=order,
        team_index=np.array(
            [-1 if f.id in never_starts else team_position[f.team_id or ""] for f in features], dtype=np.intp
        ),
        prerequisites=[
            np.array(sorted(position[d] for d in graph.predecessors(f.id)), dtype=np.intp) for f in features
        ],
        earliest_start_weeks=_earliest_starts(features, shift_starts, as_of),
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
            )
            for team_id in team_ids
        ],
        horizon_weeks=horizon_weeks,
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


def _earliest_starts(features: list[Feature], shift_starts: Sequence[ShiftStart], as_of: date) -> FloatArray:
    """Per feature in delivery order, the weeks after `as_of` before which the scenario's start shifts hold it."""
    earliest = np.zeros(len(features))
    for shift in shift_starts:
        weeks = max(0.0, (shift.start - as_of).days / 7)
        for i, feature in enumerate(features):
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
) -> TeamThroughputModel:
    week_start_day = 7 * np.arange(horizon_weeks, dtype=np.float64)
    delta_in_force = np.zeros(horizon_weeks)
    for change in changes:
        first_day = -math.inf if change.start is None else float((change.start - as_of).days)
        after_last_day = math.inf if change.end is None else float((change.end - as_of).days + 1)
        days_covered = np.clip(
            np.minimum(week_start_day + 7, after_last_day) - np.maximum(week_start_day, first_day), 0, 7
        )
        delta_in_force += change.delta * days_covered / 7
    if capacity > 0:
        scale, extra = (capacity + delta_in_force) / capacity, np.zeros(horizon_weeks)
    else:
        scale, extra = np.ones(horizon_weeks), delta_in_force
    samples = np.array(history if history else [capacity], dtype=np.float64)
    return TeamThroughputModel(team_id, samples, scale, extra)


def _entity_rng(seed: int, stream: int, entity_id: str, *more: int) -> np.random.Generator:
    digest = int.from_bytes(hashlib.blake2b(entity_id.encode(), digest_size=8).digest(), "little")
    return np.random.default_rng([seed, stream, digest, *more])


def draw_simulation(
    plan: SimulationPlan, *, trials: int, seed: int, workers: int | None = None
) -> SimulationDraws:
    """Sample efforts (one stream per feature); bootstrap choices are drawn lazily (see `SimulationDraws`).

    Effort sampling (a Beta variate per feature per trial) dominates; NumPy releases the GIL while filling, so
    blocks of features are drawn on `workers` threads (default: one for small draws, else the CPU count, at
    most 4). Each feature has
    its own stream, so the result does not depend on the number of workers.
    """
    effort = np.empty((len(plan.feature_ids), trials))

    def fill(rows: range) -> None:
        for i in rows:
            low, likely, high = plan.effort_low[i], plan.effort_likely[i], plan.effort_high[i]
            if high > low and plan.team_index[i] >= 0:
                mode_share = (likely - low) / (high - low)
                rng = _entity_rng(seed, _FEATURE_STREAM, plan.feature_ids[i])
                effort[i] = rng.beta(1 + 4 * mode_share, 1 + 4 * (1 - mode_share), size=trials)
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
        team_ids=[t.team_id for t in plan.teams],
        sample_counts=[t.sample_values.size for t in plan.teams],
        horizon_weeks=plan.horizon_weeks,
    )


# --- The vectorised simulation -------------------------------------------------------------------------


class _TeamCumulative:
    """One team's cumulative throughput for a chunk of n trials, built lazily a block of weeks at a time.

    Week-major rows, used flat: row k (flat[k*n + r] for trial r) is the work delivered before week k, so
    week k of trial r spans [flat[k*n + r], flat[(k+1)*n + r]]. Row 0 is zeros, row H the total; row H + 1
    repeats the total (an empty week H, where starts at or past the horizon land) and row H + 2 is +inf,
    which stops every forward search. Rows are a running sum, week by week (cumsum down a block, seeded with
    the row before it): the same additions, in the same order, as the reference's.
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
            choice = self.draws.throughput_choice(self.team, first // WEEK_BLOCK)
            weeks = min(WEEK_BLOCK, self.horizon - first)
            if choice is None:
                weekly = np.full((weeks, self.rows.shape[1]), self.model.sample_values[0])
            else:
                weekly = self.model.sample_values.take(choice[:, self.trials].astype(np.intp))
            if self._scaled:
                weekly *= self.model.week_scale[first : first + weeks, None]
                weekly += self.model.week_extra[first : first + weeks, None]
            weekly[0] += self.rows[first]
            np.cumsum(weekly, axis=0, out=self.rows[first + 1 : first + 1 + weeks])
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
    plan: SimulationPlan, draws: SimulationDraws, *, chunk_trials: int | None = None
) -> FloatArray:
    """(features, trials) completion times in weeks after as_of; +inf = beyond the horizon.

    Vectorised over trials, in chunks of `chunk_trials` (default: as many as fit the memory budget);
    features are visited in delivery order. The chunking does not change the result.
    """
    if chunk_trials is None:
        bytes_per_trial = 8 * (plan.horizon_weeks + 3) * max(1, len(plan.teams))
        # Chunks of a few thousand trials keep a feature's working set in cache; many teams shrink them.
        chunk_trials = min(2_500, max(500, _CUMULATIVE_BUDGET_BYTES // bytes_per_trial))
    finish = np.full((len(plan.feature_ids), draws.trials), math.inf)
    for first in range(0, draws.trials, chunk_trials):
        chunk = slice(first, min(first + chunk_trials, draws.trials))
        _simulate_chunk(plan, draws, chunk, finish[:, chunk])
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


def _week_choices(draws: SimulationDraws, team: int, week: int) -> list[int]:
    block = draws.throughput_choice(team, week // WEEK_BLOCK)
    assert block is not None
    return block[week % WEEK_BLOCK].tolist()


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
    weeks = range(horizon)
    team_inputs = [
        (
            m.sample_values.tolist(),
            m.week_scale.tolist(),
            m.week_extra.tolist(),
            None if m.sample_values.size <= 1 else [_week_choices(draws, team, week) for week in weeks],
        )
        for team, m in enumerate(plan.teams)
    ]
    finish = [[math.inf] * draws.trials for _ in range(n_features)]
    for trial in range(draws.trials):
        cumulative: list[list[float]] = []
        for samples, scale, extra, choices in team_inputs:
            running, cum = 0.0, [0.0]
            for week in range(horizon):
                sample = samples[0] if choices is None else samples[choices[week][trial]]
                running += sample * scale[week] + extra[week]
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
    )
    draws = draw_simulation(plan, trials=trials, seed=seed)
    return CompletionMatrix(plan, portfolio, as_of, seed, simulate_completion_weeks(plan, draws).T)


class SimulationOptions(TypedDict, total=False):
    """`completion_matrix`'s options after `as_of`, which `forecast` passes on."""

    scenario: Scenario | None
    trials: int
    seed: int
    horizon_weeks: int


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
    feature_days = DoneByDay.of(by_feature, plan.horizon_weeks)
    customers = _customer_forecasts(portfolio, column, feature_days, matrix.as_of)
    releases, objectives = _release_and_objective_groups(portfolio)
    result = Forecast(
        as_of=matrix.as_of,
        trials=by_feature.shape[1],
        seed=matrix.seed,
        horizon_weeks=plan.horizon_weeks,
        scenario_id=scenario_id,
        features=_feature_forecasts(matrix, feature_days),
        releases=_group_forecasts(releases, by_feature, column, matrix),
        objectives=_group_forecasts(objectives, by_feature, column, matrix),
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
    groups: list[_Group], by_feature: FloatArray, column: dict[str, int], matrix: CompletionMatrix
) -> list[GroupForecast]:
    """A group is done when its last open member is; one with no open member is done at once."""
    latest = np.zeros((len(groups), by_feature.shape[1]))
    for g, group in enumerate(groups):
        rows = [column[m] for m in group.feature_ids if m in column]
        if rows:
            np.max(by_feature[rows], axis=0, out=latest[g])
    days = DoneByDay.of(latest, matrix.plan.horizon_weeks)
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
    def of(cls, weeks: FloatArray, horizon_weeks: int, *, block_rows: int = 128) -> DoneByDay:
        rows, trials = weeks.shape
        beyond_day = 7 * horizon_weeks + 1  # completions are at most horizon_weeks, i.e. day 7 x horizon
        bins = beyond_day + 1
        all_days = np.empty((rows, trials), dtype=np.int16 if beyond_day < 2**15 else np.int32)
        done_by = np.empty((rows, bins), dtype=np.int64)
        for first in range(0, rows, block_rows):
            block = weeks[first : first + block_rows]
            days = block * 7.0
            days -= _DAY_TOLERANCE
            np.ceil(days, out=days)
            np.clip(days, 0, beyond_day, out=days)  # inf lands on beyond_day
            all_days[first : first + block_rows] = days
            bin_index = days.astype(np.intp)
            bin_index += (np.arange(block.shape[0], dtype=np.intp) * bins)[:, None]
            counts = np.bincount(bin_index.ravel(), minlength=block.shape[0] * bins)
            np.cumsum(counts.reshape(block.shape[0], bins), axis=1, out=done_by[first : first + block_rows])
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
