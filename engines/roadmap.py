"""Roadmap drafting: place features into quarters to maximise value under team capacity and dependencies.

Rules the planner follows:

* Candidates are the not-done features whose `team_id` names a team in the portfolio. In-progress
  features compete like any other, with their remaining effort; only a pin forces a feature in.
* Capacity (`capacity_model="throughput"`, the default): a team can take, by the end of quarter k, the
  person-weeks it delivers in 13 (k + 1) weeks with `capacity_probability` (0.85) probability under the
  forecast's throughput model (`engines.throughput.delivered_quantile`: a posterior over the team's rate
  from its `throughput_history`, a prior on its `capacity` when it has little or none). Quarter k's
  capacity is that cumulative figure minus quarter k - 1's, so the work planned to finish by the end of
  any quarter is what the team finishes by then with that probability. `capacity_model="nominal"` is
  the former rule, `team.capacity * 13 weeks * utilisation` per quarter; `utilisation` applies to it only.
* A feature's cost is its expected remaining effort, the PERT mean `(low + 4 likely + high) / 6 *
  (1 - progress)` (`engines.common.expected_remaining_effort`, the convention every engine shares).
* Spanning quarters: a feature starting in quarter s runs over the fewest consecutive quarters s..e whose
  capacity covers its cost, charged to each in proportion to that quarter's capacity; a feature that fits
  one quarter is charged to it whole. The item's `quarter` is s, its `end_quarter` e. A feature whose cost
  exceeds the capacity from s to the last quarter cannot start in s.
* Dependencies: a feature may start in quarter s only if every not-done prerequisite of its own team
  ends in a quarter <= s (the team works the prerequisite first, so a one-quarter dependent may share its
  one-quarter prerequisite's quarter), and every not-done prerequisite of another team ends in a quarter
  < s: the other team's finishing date within its quarter is not known to the plan, and a chain of
  same-quarter hand-overs between teams is what the forecast least often finishes by that quarter's end.
  Done prerequisites are satisfied. A prerequisite that is unknown, unowned or excluded (or itself blocked that way) makes
  the dependent unplaceable.
* Pins fix a feature's start quarter.
* Objective: maximise sum(value_f * discount_e) over placed features, e the quarter the feature ends in,
  discount_e = 1 - 0.02 e, so the same feature is worth a little more earlier. value_f comes from `engines.scoring` for `method`.
* Solving (HiGHS through `scipy.optimize.milp`, binaries x[f, s] = f starts in s, sparse rows: each
  feature at most once, capacity per team and quarter (each column charging its quarters' shares), and
  per dependency and quarter the cumulative form sum_{s<=q} x[f, s] <= sum_{s: end(p, s)+lag<=q} x[p, s],
  lag 0 for a prerequisite of the same team and 1 for one of another team),
  in stages within `time_limit_s`:
  1. the LP relaxation, giving an upper bound on any plan's value;
  2. LP rounding: features the LP places whole keep their quarter, the rest fill in by LP share, then
     value per person-week;
  3. the MILP restricted to features the LP uses at all ("milp_lp_support");
  4. the full MILP, only when stage 3 finished without proving the gap (scipy's `milp` takes no starting
     solution, and on thousands of features HiGHS's root cuts alone can take longer than the limit).
  Stages stop once a plan is within `mip_rel_gap` of the bound. Every stage's plan is checked against
  capacity, dependencies and pins; the best one, greedy included, is returned (ties go to greedy), so
  the plan is never worth less than greedy. The report names the stage, the HiGHS `mip_gap`, and the
  plan's own gap to the best bound.
* Greedy baseline: candidates by value, descending (ties by id); each starts in the earliest quarter where
  its team has capacity left in every quarter it spans and all its prerequisites already end in that
  quarter or earlier.
  Passes repeat until one places nothing, so a prerequisite ranked lower than its dependent still lets
  the dependent in on a later pass. Pinned features and their prerequisites are placed first.
* Finish probability: the plan's order (`plan_order`: by end quarter, start quarter, dependency depth
  within the quarter, value, id) becomes the features' priorities, unplaced features last, and `engines.forecast` (seed `seed`,
  `forecast_trials` trials) gives each item the probability of finishing within 13 (end_quarter + 1)
  weeks of `as_of`, the end of its end quarter.
* An item is `exploration` when confidence < 0.6 or (effort_high - effort_low) / effort_likely > 1.0
  (with zero likely effort: when effort_high > effort_low); otherwise it is a `commitment`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum
from typing import Literal, get_args

import networkx as nx
import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict
from scipy.optimize import Bounds, milp
from scipy.sparse import coo_array, csr_array

from engines.common import dependency_cycle, dependency_graph, expected_remaining_effort
from engines.forecast import completion_matrix
from engines.scoring import FeatureScore, ScoringMethod, score_features
from engines.throughput import weekly_throughput
from graph.portfolio import Feature, FeatureStatus, Portfolio, Team

QUARTER_WEEKS = 13
DISCOUNT_PER_QUARTER = 0.02
MAX_QUARTERS = 40
EXPLORATION_CONFIDENCE_BELOW = 0.6
EXPLORATION_SPREAD_ABOVE = 1.0
CAPACITY_TOLERANCE = 1e-6
"""Person-weeks of slack allowed when comparing effort with capacity, to absorb float rounding."""

CAPACITY_PROBABILITY = 0.85
"""Default probability with which a team finishes, by each quarter's end, the work planned to end by then."""
CAPACITY_TRIALS = 4000
FORECAST_TRIALS = 2000

ItemKind = Literal["commitment", "exploration"]
CapacityModel = Literal["throughput", "nominal"]


class CapacityModelChoice(StrEnum):
    """`CapacityModel` as an enum, for the command line's option and the API's input."""

    THROUGHPUT = "throughput"
    NOMINAL = "nominal"


assert {choice.value for choice in CapacityModelChoice} == set(get_args(CapacityModel))
CapacitySource = Literal["throughput_history", "capacity_prior", "nominal"]
LeftOutReason = Literal["capacity", "dependency", "low_value", "excluded", "unowned"]
Solver = Literal["milp", "greedy"]
PlanSource = Literal["milp", "milp_lp_support", "lp_rounding", "greedy"]

LP_INTEGRAL_TOLERANCE = 1e-6
MIN_STAGE_S = 0.05
TIME_RESERVE_SHARE = 0.1
TIME_RESERVE_MAX_S = 0.5
"""Kept back from `time_limit_s` for solver overrun and building the plan: 10% of it, at most this."""
FORECAST_RESERVE_SHARE = 0.1
FORECAST_RESERVE_MAX_S = 1.0
"""Kept back as well for the finish probabilities' forecast: 10% of `time_limit_s`, at most this."""

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

_MILP_STATUS = {0: "optimal", 1: "time_limit", 2: "infeasible", 3: "unbounded", 4: "other"}


class RoadmapError(ValueError):
    """The request cannot be planned: an unknown id, a bad parameter, or pins that cannot all hold."""


class RoadmapItem(BaseModel):
    model_config = ConfigDict(frozen=True)

    feature_id: str
    team_id: str
    quarter: int
    value: float
    discounted_value: float
    effort: float
    """Expected remaining effort (PERT mean x (1 - progress)) in person-weeks, charged from `quarter` to
    `end_quarter`."""
    kind: ItemKind
    confidence: float
    effort_spread: float | None
    """(effort_high - effort_low) / effort_likely; None when the likely effort is 0."""
    pinned: bool
    scores: FeatureScore
    end_quarter: int | None = None
    """The quarter the feature ends in (== `quarter` unless it spans quarters); None in plans stored before."""
    quarter_efforts: list[float] | None = None
    """Person-weeks charged to each quarter from `quarter` to `end_quarter`."""
    finish_probability: float | None = None
    """The forecast's probability, with the plan's order as priorities, that the feature is done by the end
    of `end_quarter` (13 (end_quarter + 1) weeks after as_of)."""

    @property
    def last_quarter(self) -> int:
        return self.quarter if self.end_quarter is None else self.end_quarter


class TeamCapacityUse(BaseModel):
    model_config = ConfigDict(frozen=True)

    team_id: str
    used: float
    available: float
    source: CapacitySource | None = None
    """Where `available` comes from: the throughput model on the team's history, on its capacity prior
    alone (no history), or nominal capacity x 13 x utilisation."""


class RoadmapQuarter(BaseModel):
    model_config = ConfigDict(frozen=True)

    index: int
    start: date
    end: date
    commitments: list[RoadmapItem]
    explorations: list[RoadmapItem]
    capacity: list[TeamCapacityUse]


class LeftOutFeature(BaseModel):
    model_config = ConfigDict(frozen=True)

    feature_id: str
    team_id: str | None
    reason: LeftOutReason
    detail: str
    value: float | None


class SolverReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    solver: Solver
    """What was asked for."""
    source: PlanSource
    """Which stage produced the returned plan (see `draft_roadmap`)."""
    status: str
    """optimal (within mip_rel_gap of a proven bound) | time_limit | not_run | a HiGHS outcome."""
    optimal: bool
    mip_gap: float | None
    """HiGHS's `mip_gap` from the last MILP stage that ran (`mip_gap_stage`), against that model's own bound."""
    mip_gap_stage: Literal["milp", "milp_lp_support"] | None
    plan_gap: float | None
    """(upper_bound - plan value) / plan value for the returned plan."""
    upper_bound: float | None
    """No plan is worth more: the LP relaxation bound, tightened by the full MILP's dual bound."""
    milp_value: float | None
    """Value of the full MILP's incumbent, when it ran and found one."""
    candidate_values: dict[str, float]
    """Value of every valid plan found, by stage."""
    solve_time_s: float
    wall_time_s: float
    variables: int
    constraints: int
    note: str


class RoadmapPlan(BaseModel):
    model_config = ConfigDict(frozen=True)

    as_of: date
    method: ScoringMethod
    utilisation: float
    """Used by `capacity_model="nominal"` only."""
    quarters: list[RoadmapQuarter]
    left_out: list[LeftOutFeature]
    total_value: float
    greedy_value: float | None
    """None when the greedy baseline cannot honour the pins."""
    value_ratio_vs_greedy: float | None
    solver: SolverReport
    capacity_model: CapacityModel | None = None
    """None in plans stored before it was recorded (they used "nominal")."""
    capacity_probability: float | None = None
    """With `capacity_model="throughput"`: the probability behind each quarter's capacity."""

    def items(self) -> list[RoadmapItem]:
        return [item for q in self.quarters for item in (*q.commitments, *q.explorations)]

    def quarter_by_feature(self) -> dict[str, int]:
        return {item.feature_id: item.quarter for item in self.items()}


@dataclass(frozen=True)
class _Problem:
    """The placeable candidates as arrays; index k refers to `features[k]`."""

    features: list[Feature]
    value: FloatArray
    effort: FloatArray
    team_of: IntArray
    team_ids: list[str]
    quarter_capacity: FloatArray
    """(teams, quarters): person-weeks each team can take in each quarter."""
    end: IntArray
    """(features, quarters): the quarter a feature started in s ends in; -1 when it cannot start in s."""
    charge: FloatArray
    """(features, quarters, quarters): person-weeks a feature started in s charges to each quarter."""
    prerequisites: list[list[int]]
    """Per candidate, the indices of its not-done prerequisites (all placeable)."""
    topological_order: list[int]
    pins: dict[int, int]
    discount: FloatArray

    def fits(self, k: int, start: int, remaining: FloatArray) -> bool:
        """Whether candidate k can start in `start` with `remaining` (teams, quarters) capacity left."""
        return bool(
            self.end[k, start] >= 0
            and np.all(self.charge[k, start] <= remaining[self.team_of[k]] + CAPACITY_TOLERANCE)
        )

    def lag(self, k: int, p: int) -> int:
        """Quarters between prerequisite p's end and dependent k's start: 0 on one team, 1 across teams."""
        return 0 if self.team_of[k] == self.team_of[p] else 1

    def end_value(self, k: int, start: int) -> float:
        return float(self.value[k] * self.discount[self.end[k, start]])


Placement = dict[int, int]
"""Candidate index -> start quarter."""


@dataclass(frozen=True)
class _Capacity:
    """Per team (sorted by id): person-weeks per quarter and where they come from."""

    per_quarter: dict[str, FloatArray]
    source: dict[str, CapacitySource]


def draft_roadmap(
    portfolio: Portfolio,
    *,
    as_of: date,
    quarters: int = 4,
    pins: Mapping[str, int] | None = None,
    exclusions: Collection[str] = (),
    method: ScoringMethod = "blend",
    time_limit_s: float = 10.0,
    utilisation: float = 0.85,
    mip_rel_gap: float = 1e-4,
    solver: Solver = "milp",
    capacity_model: CapacityModel = "throughput",
    capacity_probability: float = CAPACITY_PROBABILITY,
    seed: int = 0,
    forecast_trials: int = FORECAST_TRIALS,
) -> RoadmapPlan:
    """Draft a `quarters`-quarter roadmap (13-week quarters from `as_of`) under the rules in the module doc.

    `pins` force feature -> start quarter index (0-based); `exclusions` keep features out; `time_limit_s`
    bounds the whole call (10% of it, at most 0.5 s, is kept back for building the plan, and 10%, at most
    1 s, for the finish probabilities' forecast); `solver="greedy"` returns the greedy baseline alone;
    `capacity_model`, `capacity_probability` and `utilisation` set the capacity (module doc); `seed`
    seeds the throughput model and the forecast. Raises `RoadmapError` for unknown ids, bad parameters,
    dependency cycles among open features, and pins that cannot all hold (the message names them).
    """
    started = time.perf_counter()
    _check_parameters(quarters, time_limit_s, utilisation, mip_rel_gap)
    _check_capacity_parameters(capacity_model, capacity_probability, seed, forecast_trials)
    pins = dict(pins or {})
    features_by_id = {f.id: f for f in portfolio.features}
    unknown = sorted(set(exclusions) - features_by_id.keys())
    if unknown:
        raise RoadmapError(f"excluded features not in the portfolio: {', '.join(unknown)}")
    excluded = set(exclusions)

    scores = {s.feature_id: s for s in score_features(portfolio, as_of=as_of, method=method)}
    capacity = _team_capacity(
        portfolio.teams,
        quarters,
        model=capacity_model,
        utilisation=utilisation,
        probability=capacity_probability,
        seed=seed,
    )
    open_features = sorted(
        (f for f in portfolio.features if f.status is not FeatureStatus.DONE), key=lambda f: f.id
    )
    done_ids = {f.id for f in portfolio.features if f.status is FeatureStatus.DONE}

    not_placeable = _excluded_or_unowned(open_features, excluded, capacity.per_quarter)
    _block_dependents(portfolio, open_features, done_ids, not_placeable)

    placeable = [f for f in open_features if f.id not in not_placeable]
    problem = _build_problem(placeable, done_ids, scores, capacity.per_quarter, quarters, pins, not_placeable)
    _check_pins(problem, pins, features_by_id, not_placeable, quarters)

    greedy = _greedy(problem)
    greedy_value = None if greedy is None else _objective(problem, greedy)

    if solver == "greedy" or not placeable:
        if greedy is None:
            raise RoadmapError(f"the greedy baseline cannot honour pins {_pin_list(pins)}; try solver='milp'")
        chosen, report = greedy, _greedy_report(solver, bool(placeable), greedy_value)
    else:
        reserve = min(TIME_RESERVE_MAX_S, TIME_RESERVE_SHARE * time_limit_s) + min(
            FORECAST_RESERVE_MAX_S, FORECAST_RESERVE_SHARE * time_limit_s
        )
        chosen, report = _solve(problem, greedy, started + time_limit_s - reserve, mip_rel_gap, pins)

    plan = _assemble_plan(
        problem,
        chosen,
        report,
        scores=scores,
        open_features=open_features,
        not_placeable=not_placeable,
        done_ids=done_ids,
        as_of=as_of,
        quarters=quarters,
        method=method,
        utilisation=utilisation,
        greedy_value=greedy_value,
        capacity=capacity,
    )
    plan = _with_finish_probabilities(plan, portfolio, seed=seed, trials=forecast_trials)
    return plan.model_copy(
        update={
            "capacity_model": capacity_model,
            "capacity_probability": capacity_probability if capacity_model == "throughput" else None,
            "solver": plan.solver.model_copy(update={"wall_time_s": time.perf_counter() - started}),
        }
    )


def _check_capacity_parameters(
    capacity_model: str, capacity_probability: float, seed: int, forecast_trials: int
) -> None:
    if capacity_model not in ("throughput", "nominal"):
        raise RoadmapError(f"capacity_model must be 'throughput' or 'nominal', got {capacity_model!r}")
    if not 0 < capacity_probability < 1:
        raise RoadmapError(f"capacity_probability must be in (0, 1), got {capacity_probability}")
    if seed < 0 or forecast_trials < 1:
        raise RoadmapError("seed must be non-negative and forecast_trials positive")


def _team_capacity(
    teams: list[Team],
    quarters: int,
    *,
    model: CapacityModel,
    utilisation: float,
    probability: float,
    seed: int,
) -> _Capacity:
    """Each team's capacity per quarter under `model` (module doc)."""
    per_quarter: dict[str, FloatArray] = {}
    source: dict[str, CapacitySource] = {}
    for team in sorted(teams, key=lambda t: t.id):
        if model == "nominal":
            per_quarter[team.id] = np.full(quarters, team.capacity * QUARTER_WEEKS * utilisation)
            source[team.id] = "nominal"
            continue
        per_quarter[team.id] = throughput_quarter_capacity(team, quarters, probability=probability, seed=seed)
        source[team.id] = "throughput_history" if team.throughput_history else "capacity_prior"
    return _Capacity(per_quarter, source)


def throughput_quarter_capacity(
    team: Team, quarters: int, *, probability: float = CAPACITY_PROBABILITY, seed: int = 0
) -> FloatArray:
    """Per quarter k, delivered_quantile(team, 13 (k + 1), probability) minus quarter k - 1's figure.

    One draw of the throughput model over all the quarters' weeks, so the cumulative figures are exactly
    `engines.throughput.delivered_quantile`'s at 13, 26, ... weeks (same streams and trials).
    """
    weekly = weekly_throughput(team, QUARTER_WEEKS * quarters, trials=CAPACITY_TRIALS, seed=seed)
    by_quarter_end = np.cumsum(weekly, axis=0)[QUARTER_WEEKS - 1 :: QUARTER_WEEKS]
    cumulative = np.quantile(by_quarter_end, 1 - probability, axis=1, method="inverted_cdf")
    cumulative = np.maximum.accumulate(np.asarray(cumulative, dtype=np.float64))
    return np.diff(cumulative, prepend=0.0)


def _excluded_or_unowned(
    open_features: list[Feature], excluded: set[str], team_capacity: Mapping[str, FloatArray]
) -> dict[str, tuple[LeftOutReason, str]]:
    """Open features that cannot be placed on their own account: excluded, or no team in the portfolio owns them."""
    not_placeable: dict[str, tuple[LeftOutReason, str]] = {}
    for feature in open_features:
        if feature.id in excluded:
            not_placeable[feature.id] = ("excluded", "excluded by request")
        elif feature.team_id is None:
            not_placeable[feature.id] = ("unowned", "no owning team")
        elif feature.team_id not in team_capacity:
            not_placeable[feature.id] = ("unowned", f"owning team {feature.team_id} is not in the portfolio")
    return not_placeable


def _greedy_report(solver: Solver, any_placeable: bool, greedy_value: float | None) -> SolverReport:
    """The report when only the greedy baseline runs: on request, or with nothing to place (trivially optimal)."""
    return SolverReport(
        solver=solver,
        source="greedy",
        status="not_run",
        optimal=not any_placeable,
        mip_gap=None,
        mip_gap_stage=None,
        plan_gap=None if any_placeable else 0.0,
        upper_bound=None if any_placeable else 0.0,
        milp_value=None,
        candidate_values={"greedy": greedy_value or 0.0},
        solve_time_s=0.0,
        wall_time_s=0.0,
        variables=0,
        constraints=0,
        note="greedy baseline requested" if any_placeable else "no placeable candidates",
    )


def _check_parameters(quarters: int, time_limit_s: float, utilisation: float, mip_rel_gap: float) -> None:
    if not 1 <= quarters <= MAX_QUARTERS:
        raise RoadmapError(f"quarters must be between 1 and {MAX_QUARTERS}, got {quarters}")
    if not time_limit_s > 0:
        raise RoadmapError(f"time_limit_s must be positive, got {time_limit_s}")
    if not 0 < utilisation <= 1:
        raise RoadmapError(f"utilisation must be in (0, 1], got {utilisation}")
    if not mip_rel_gap >= 0:
        raise RoadmapError(f"mip_rel_gap must be non-negative, got {mip_rel_gap}")


def _block_dependents(
    portfolio: Portfolio,
    open_features: list[Feature],
    done_ids: set[str],
    not_placeable: dict[str, tuple[LeftOutReason, str]],
) -> None:
    """Mark open features whose prerequisite chain cannot be satisfied; reject dependency cycles."""
    open_graph = dependency_graph(portfolio)
    open_graph.remove_nodes_from(done_ids)
    if not nx.is_directed_acyclic_graph(open_graph):
        cycle = dependency_cycle(open_graph)
        raise RoadmapError(f"dependency cycle among open features: {' -> '.join(u for u, _ in cycle)}")
    open_by_id = {f.id: f for f in open_features}
    for feature_id in nx.topological_sort(open_graph):
        feature = open_by_id.get(feature_id)
        if feature is None or feature_id in not_placeable:
            continue
        for prerequisite in sorted(feature.depends_on):
            if prerequisite in done_ids:
                continue
            if prerequisite not in open_by_id:
                not_placeable[feature_id] = (
                    "dependency",
                    f"prerequisite {prerequisite} is not in the portfolio",
                )
                break
            blocker = not_placeable.get(prerequisite)
            if blocker is not None:
                why = blocker[1] if blocker[0] != "dependency" else "it cannot be placed"
                not_placeable[feature_id] = ("dependency", f"prerequisite {prerequisite}: {why}")
                break


def _build_problem(
    placeable: list[Feature],
    done_ids: set[str],
    scores: Mapping[str, FeatureScore],
    team_capacity: Mapping[str, FloatArray],
    quarters: int,
    pins: Mapping[str, int],
    not_placeable: Mapping[str, tuple[LeftOutReason, str]],
) -> _Problem:
    index = {f.id: k for k, f in enumerate(placeable)}
    team_ids = list(team_capacity)
    team_index = {t: i for i, t in enumerate(team_ids)}
    prerequisites = [sorted(index[p] for p in set(f.depends_on) if p not in done_ids) for f in placeable]
    graph: nx.DiGraph[int] = nx.DiGraph()
    graph.add_nodes_from(range(len(placeable)))
    graph.add_edges_from((p, k) for k, prereqs in enumerate(prerequisites) for p in prereqs)
    effort = np.array([expected_remaining_effort(f) for f in placeable], dtype=float)
    team_of = np.array([team_index[f.team_id or ""] for f in placeable], dtype=np.int64)
    quarter_capacity = np.array([team_capacity[t] for t in team_ids], dtype=float).reshape(
        len(team_ids), quarters
    )
    end, charge = _spans(effort, team_of, quarter_capacity)
    return _Problem(
        features=placeable,
        value=np.array([scores[f.id].value for f in placeable], dtype=float),
        effort=effort,
        team_of=team_of,
        team_ids=team_ids,
        quarter_capacity=quarter_capacity,
        end=end,
        charge=charge,
        prerequisites=prerequisites,
        topological_order=list(nx.topological_sort(graph)),
        pins={index[f]: q for f, q in pins.items() if f in index and f not in not_placeable},
        discount=1.0 - DISCOUNT_PER_QUARTER * np.arange(quarters, dtype=float),
    )


def _spans(
    effort: FloatArray, team_of: IntArray, quarter_capacity: FloatArray
) -> tuple[IntArray, FloatArray]:
    """Per feature and start quarter s: the end quarter (-1 when it does not fit by the last quarter) and the
    person-weeks charged to each quarter, in proportion to the capacity of the quarters s..end."""
    n, quarter_count = len(effort), quarter_capacity.shape[1]
    end = np.full((n, quarter_count), -1, dtype=np.int64)
    charge = np.zeros((n, quarter_count, quarter_count))
    if n == 0:
        return end, charge
    cumulative = np.concatenate(
        (np.zeros((len(quarter_capacity), 1)), np.cumsum(quarter_capacity, axis=1)), 1
    )
    needed = effort - CAPACITY_TOLERANCE
    rows = np.arange(n)
    quarter_index: IntArray = np.arange(quarter_count, dtype=np.int64)
    for start in range(quarter_count):
        # Capacity from the start of `start` to the end of each later quarter, per feature's team.
        available = cumulative[team_of, start + 1 :] - cumulative[team_of, start, None]
        covered: npt.NDArray[np.bool_] = available >= needed[:, None]
        fits: npt.NDArray[np.bool_] = np.any(covered, axis=1)
        last: IntArray = start + np.argmax(covered, axis=1)
        end[fits, start] = last[fits]
        span: npt.NDArray[np.bool_] = (
            (quarter_index >= start) & (quarter_index[None, :] <= last[:, None]) & fits[:, None]
        )
        share = np.where(span, quarter_capacity[team_of], 0.0)
        total = share.sum(axis=1)
        whole = fits & ((total <= 0) | (last == start))
        spread = fits & ~whole
        charge[spread, start] = share[spread] * (effort[spread] / total[spread])[:, None]
        charge[rows[whole], start, start] = effort[whole]
    return end, charge


def quarter_label(quarter: int) -> str:
    """How people name the 0-based quarter `quarter` in text: `Q1` is the first quarter of the plan."""
    return f"Q{quarter + 1}"


def _pin_list(pins: Mapping[str, int]) -> str:
    return ", ".join(f"{f}->{quarter_label(q)}" for f, q in sorted(pins.items()))


def _check_pins(
    problem: _Problem,
    pins: Mapping[str, int],
    features_by_id: Mapping[str, Feature],
    not_placeable: Mapping[str, tuple[LeftOutReason, str]],
    quarters: int,
) -> None:
    """Reject pins that cannot hold, naming them; joint infeasibility beyond these checks is the MILP's."""
    for feature_id, quarter in sorted(pins.items()):
        feature = features_by_id.get(feature_id)
        if feature is None:
            raise RoadmapError(f"pinned feature {feature_id} is not in the portfolio")
        if not _is_quarter_index(quarter, quarters):
            raise RoadmapError(
                f"pin {feature_id}->{quarter!r}: quarter must be an integer in [0, {quarters})"
            )
        if feature.status is FeatureStatus.DONE:
            raise RoadmapError(f"pinned feature {feature_id} is already done")
        if feature_id in not_placeable:
            raise RoadmapError(
                f"pinned feature {feature_id} cannot be placed: {not_placeable[feature_id][1]}"
            )

    quarter_count = len(problem.discount)
    for k in sorted(problem.pins):
        team, start = problem.team_of[k], problem.pins[k]
        if problem.end[k, start] < 0:
            raise RoadmapError(
                f"pinned feature {problem.features[k].id} needs {problem.effort[k]:.2f} person-weeks but team "
                f"{problem.team_ids[team]} has {problem.quarter_capacity[team, start:].sum():.2f} from "
                f"{quarter_label(start)} to the end of the plan"
            )

    latest_end = _pin_deadlines(problem)
    for k in reversed(problem.topological_order):
        if k not in latest_end:
            continue
        latest, team = latest_end[k], problem.team_of[k]
        feature_id = problem.features[k].id
        if k in problem.pins:
            if problem.end[k, problem.pins[k]] > latest:
                raise RoadmapError(
                    f"pinned feature {feature_id} ({quarter_label(problem.pins[k])}, ends in "
                    f"{quarter_label(int(problem.end[k, problem.pins[k]]))}) is a prerequisite of pinned features and "
                    f"must end by {quarter_label(latest)} (a quarter earlier for another team's dependent); pins "
                    f"{_pin_list(pins)} contradict the dependencies"
                )
        elif _latest_start(problem, k, latest) < 0:
            by_then = float(problem.quarter_capacity[team, : latest + 1].sum()) if latest >= 0 else 0.0
            raise RoadmapError(
                f"{feature_id}, a prerequisite of pins {_pin_list(pins)}, needs {problem.effort[k]:.2f} "
                f"person-weeks but team {problem.team_ids[team]} has {by_then:.2f} by the end of "
                f"{quarter_label(max(latest, 0))}"
            )

    for team, team_id in enumerate(problem.team_ids):
        for quarter in range(quarter_count):
            due = [k for k, latest in latest_end.items() if problem.team_of[k] == team and latest <= quarter]
            need = float(problem.effort[due].sum()) if due else 0.0
            pinned_here = [k for k in problem.pins if problem.team_of[k] == team]
            pinned_load = float(sum(problem.charge[k, problem.pins[k], quarter] for k in pinned_here))
            if pinned_load > problem.quarter_capacity[team, quarter] + CAPACITY_TOLERANCE:
                names = ", ".join(
                    problem.features[k].id
                    for k in sorted(pinned_here)
                    if problem.charge[k, problem.pins[k], quarter] > 0
                )
                raise RoadmapError(
                    f"pins {names} need {pinned_load:.2f} person-weeks of team {team_id} in {quarter_label(quarter)}, "
                    f"which has {problem.quarter_capacity[team, quarter]:.2f}"
                )
            available = float(problem.quarter_capacity[team, : quarter + 1].sum())
            if need > available + CAPACITY_TOLERANCE:
                names = ", ".join(sorted(problem.features[k].id for k in due if k in problem.pins))
                raise RoadmapError(
                    f"pins {names or _pin_list(pins)} with their prerequisites need {need:.2f} person-weeks of "
                    f"team {team_id} by the end of {quarter_label(quarter)}, which has {available:.2f}"
                )


def _is_quarter_index(quarter: object, quarters: int) -> bool:
    """Whether a pin's quarter is an integer in [0, quarters): pins come from tools and requests unchecked."""
    return not isinstance(quarter, bool) and isinstance(quarter, int) and 0 <= quarter < quarters


def _latest_start(problem: _Problem, k: int, latest_end: int) -> int:
    """The latest quarter candidate k can start in and still end by `latest_end`; -1 when none."""
    starts = [s for s in range(len(problem.discount)) if 0 <= problem.end[k, s] <= latest_end]
    return max(starts, default=-1)


def _pin_deadlines(problem: _Problem) -> dict[int, int]:
    """Latest quarter each pinned feature, or prerequisite of one, may end in: the latest start of the
    features it enables (-1 when it cannot make it)."""
    latest_end: dict[int, int] = {k: int(problem.end[k, start]) for k, start in problem.pins.items()}
    for k in reversed(problem.topological_order):
        if k not in latest_end:
            continue
        latest_start = problem.pins.get(k, _latest_start(problem, k, latest_end[k]))
        for p in problem.prerequisites[k]:
            deadline = latest_start - problem.lag(k, p)
            latest_end[p] = min(latest_end.get(p, deadline), deadline)
    return latest_end


def _greedy(problem: _Problem) -> Placement | None:
    """The greedy baseline (see module docstring); None when it cannot honour the pins."""
    order = sorted(range(len(problem.features)), key=lambda k: (-problem.value[k], problem.features[k].id))
    return _list_schedule(problem, order)


def _list_schedule(
    problem: _Problem, order: list[int], preferred: Mapping[int, int] | None = None
) -> Placement | None:
    """Pins, then their prerequisites (earliest fit by each one's deadline), then `preferred` start quarters
    where they still fit, then `order` into the earliest quarter that fits, in passes until one places
    nothing. None when the pins' prerequisites cannot be fitted."""
    quarter_count = len(problem.discount)
    remaining = problem.quarter_capacity.copy()
    placement: Placement = {}

    def place(k: int, start: int) -> None:
        placement[k] = start
        remaining[problem.team_of[k]] -= problem.charge[k, start]

    for k, start in problem.pins.items():
        place(k, start)
    latest_end = _pin_deadlines(problem)
    for k in problem.topological_order:
        if k in latest_end and k not in placement:
            start = _earliest_fit(problem, remaining, placement, k, latest_end=latest_end[k])
            if start is None:
                return None
            place(k, start)

    for k in problem.topological_order:
        start = (preferred or {}).get(k)
        if (
            start is not None
            and k not in placement
            and all(p in placement for p in problem.prerequisites[k])
            and _earliest_start(problem, k, placement) <= start
            and problem.fits(k, start, remaining)
        ):
            place(k, start)

    placed_in_pass = True
    while placed_in_pass:
        placed_in_pass = False
        for k in order:
            if k in placement or any(p not in placement for p in problem.prerequisites[k]):
                continue
            start = _earliest_fit(problem, remaining, placement, k, latest_end=quarter_count - 1)
            if start is not None:
                place(k, start)
                placed_in_pass = True
    return placement


def _end_of(problem: _Problem, k: int, placement: Placement) -> int:
    return int(problem.end[k, placement[k]])


def _earliest_start(problem: _Problem, k: int, placement: Placement) -> int:
    """The first quarter k's placed prerequisites let it start in (`_Problem.lag` after each one's end)."""
    return max(
        (_end_of(problem, p, placement) + problem.lag(k, p) for p in problem.prerequisites[k]), default=0
    )


def _earliest_fit(
    problem: _Problem, remaining: FloatArray, placement: Placement, k: int, *, latest_end: int
) -> int | None:
    """The earliest start quarter after k's prerequisites end where k fits and ends by `latest_end`."""
    for start in range(_earliest_start(problem, k, placement), len(problem.discount)):
        if 0 <= problem.end[k, start] <= latest_end and problem.fits(k, start, remaining):
            return start
    return None


def _objective(problem: _Problem, placement: Placement) -> float:
    return float(sum(problem.end_value(k, start) for k, start in placement.items()))


def _violations(problem: _Problem, placement: Placement) -> list[str]:
    """What a placement breaks (capacity, spans, dependencies, pins); empty when it is a valid plan."""
    broken: list[str] = []
    used = np.zeros_like(problem.quarter_capacity)
    for k, start in placement.items():
        if problem.end[k, start] < 0:
            broken.append(f"{problem.features[k].id} does not fit from {quarter_label(start)}")
            continue
        used[problem.team_of[k]] += problem.charge[k, start]
        broken.extend(
            f"{problem.features[k].id} starts before its prerequisite {problem.features[p].id} ends"
            for p in problem.prerequisites[k]
            if p not in placement
            or problem.end[p, placement[p]] < 0
            or problem.end[p, placement[p]] + problem.lag(k, p) > start
        )
    over = np.argwhere(used > problem.quarter_capacity + CAPACITY_TOLERANCE)
    broken.extend(f"team {problem.team_ids[t]} over capacity in {quarter_label(q)}" for t, q in over)
    broken.extend(
        f"pin {problem.features[k].id}->{quarter_label(q)} not honoured"
        for k, q in problem.pins.items()
        if placement.get(k) != q
    )
    return broken


def _milp_model(
    problem: _Problem,
) -> _MilpModel:
    """Columns k * Q + s are x[k, s]; rows: once per feature, capacity per team-quarter, dependencies."""
    n, quarter_count = len(problem.features), len(problem.discount)
    k_of_column = np.repeat(np.arange(n), quarter_count)
    valid = problem.end.ravel() >= 0
    end_of_column = np.where(valid, problem.end.ravel(), 0)
    cost = np.where(valid, -(problem.value[k_of_column] * problem.discount[end_of_column]), 0.0)

    upper = valid.astype(np.float64)
    lower = np.zeros(n * quarter_count)
    for k, quarter in problem.pins.items():
        upper[k * quarter_count : (k + 1) * quarter_count] = 0
        upper[k * quarter_count + quarter] = lower[k * quarter_count + quarter] = 1

    columns = np.arange(n * quarter_count)
    charged_column, charged_quarter = np.nonzero(problem.charge.reshape(n * quarter_count, quarter_count))
    capacity_rows = n + problem.team_of[k_of_column[charged_column]] * quarter_count + charged_quarter
    rows = [k_of_column, capacity_rows]
    cols = [columns, charged_column]
    data = [
        np.ones(n * quarter_count),
        problem.charge.reshape(n * quarter_count, quarter_count)[charged_column, charged_quarter],
    ]
    row_upper = [np.ones(n), problem.quarter_capacity.ravel()]

    dependents = np.array(
        [k for k, prereqs in enumerate(problem.prerequisites) for _ in prereqs], dtype=np.int64
    )
    prerequisite = np.array([p for prereqs in problem.prerequisites for p in prereqs], dtype=np.int64)
    lag = np.array(
        [problem.lag(k, p) for k, prereqs in enumerate(problem.prerequisites) for p in prereqs],
        dtype=np.int64,
    )
    first_dependency_row = n + len(problem.team_ids) * quarter_count
    edge_rows = first_dependency_row + np.arange(len(dependents)) * quarter_count
    prerequisite_end = problem.end[prerequisite] if len(prerequisite) else np.zeros((0, quarter_count))
    for quarter in range(quarter_count):
        for start in range(quarter + 1):
            # sum_{s <= q} x[k, s] - sum_{s: end(p, s) + lag <= q} x[p, s] <= 0
            rows.append(edge_rows + quarter)
            cols.append(dependents * quarter_count + start)
            data.append(np.ones(len(dependents)))
        for start in range(quarter_count):
            ends_by_then = (prerequisite_end[:, start] >= 0) & (prerequisite_end[:, start] + lag <= quarter)
            rows.append(edge_rows[ends_by_then] + quarter)
            cols.append(prerequisite[ends_by_then] * quarter_count + start)
            data.append(-np.ones(int(ends_by_then.sum())))
    row_upper.append(np.zeros(len(dependents) * quarter_count))

    upper_bounds = np.concatenate(row_upper)
    matrix = coo_array(
        (np.concatenate(data), (np.concatenate(rows), np.concatenate(cols))),
        shape=(len(upper_bounds), n * quarter_count),
    ).tocsr()
    return _MilpModel(cost, (matrix, -np.inf, upper_bounds), lower, upper)


@dataclass(frozen=True)
class _MilpModel:
    """The MILP of `_milp_model`: objective, constraint rows and the columns' bounds."""

    cost: FloatArray
    constraints: tuple[csr_array, float, FloatArray]
    lower: FloatArray
    upper: FloatArray


@dataclass
class _Incumbent:
    source: PlanSource
    placement: Placement
    value: float


@dataclass
class _Stages:
    """What the solving stages have found so far: the best valid plan, the best upper bound, each stage's outcome."""

    problem: _Problem
    model: _MilpModel
    deadline: float
    mip_rel_gap: float
    best: _Incumbent | None = None
    candidate_values: dict[str, float] = field(default_factory=dict[str, float])
    stage_status: dict[str, str] = field(default_factory=dict[str, str])
    solve_time: float = 0.0
    upper_bound: float | None = None
    last_gap: float | None = None
    last_gap_stage: Literal["milp", "milp_lp_support"] | None = None
    full_value: float | None = None

    def consider(self, source: PlanSource, placement: Placement | None) -> None:
        """Keep `placement` as the best plan when it is valid and worth more than the best so far."""
        if placement is None or _violations(self.problem, placement):
            return
        value = _objective(self.problem, placement)
        self.candidate_values[source] = value
        if self.best is None or value > self.best.value + 1e-12 * max(1.0, abs(self.best.value)):
            self.best = _Incumbent(source, placement, value)

    def proven(self) -> bool:
        """Whether the best plan is within `mip_rel_gap` of the best upper bound."""
        gap = _relative_gap(self.upper_bound, None if self.best is None else self.best.value)
        return gap is not None and gap <= self.mip_rel_gap

    def time_left(self) -> bool:
        return self.deadline - time.perf_counter() > MIN_STAGE_S

    def run_milp(self, stage: str, upper: FloatArray, *, integral: bool):
        """Solve the model with column upper bounds `upper` until the deadline; record the stage's outcome."""
        time_limit = self.deadline - time.perf_counter()
        solve_started = time.perf_counter()
        result = milp(
            self.model.cost,
            integrality=np.full(len(self.model.cost), 1 if integral else 0),
            bounds=Bounds(self.model.lower, upper),
            constraints=self.model.constraints,
            options={
                "time_limit": max(time_limit, MIN_STAGE_S),
                "mip_rel_gap": self.mip_rel_gap,
                "presolve": True,
            },
        )
        self.solve_time += time.perf_counter() - solve_started
        self.stage_status[stage] = _MILP_STATUS.get(int(result.status), "other")
        return result


def _solve(
    problem: _Problem,
    greedy: Placement | None,
    deadline: float,
    mip_rel_gap: float,
    pins: Mapping[str, int],
) -> tuple[Placement, SolverReport]:
    """LP relaxation, LP rounding, MILP on the LP's support, full MILP; keep the best valid plan.

    Each stage runs only while the best plan is not yet within `mip_rel_gap` of the best upper bound and
    time is left; the full MILP is skipped when the support MILP already ran out of time.
    """
    stages = _Stages(problem, _milp_model(problem), deadline, mip_rel_gap)
    stages.consider("greedy", greedy)
    _relaxation_stages(stages, pins)
    # The full model is a superset of the support one: when that ran out of time, so would this.
    support_timed_out = stages.stage_status.get("milp_lp_support") == "time_limit"
    if not stages.proven() and not support_timed_out and stages.time_left():
        _full_milp_stage(stages, pins)
    return _solver_report(stages, pins)


def _relaxation_stages(stages: _Stages, pins: Mapping[str, int]) -> None:
    """The LP relaxation (the first upper bound), LP rounding, then the MILP on the LP's support."""
    problem, model = stages.problem, stages.model
    quarter_count = len(problem.discount)
    relaxation = stages.run_milp("lp_relaxation", model.upper, integral=False)
    if stages.stage_status["lp_relaxation"] == "infeasible" and stages.best is None:
        raise RoadmapError(f"no plan honours pins {_pin_list(pins)} within capacity and dependencies")
    if relaxation.x is None:
        return
    if stages.stage_status["lp_relaxation"] == "optimal":
        stages.upper_bound = -float(relaxation.fun)
    share = np.asarray(relaxation.x).reshape(len(problem.features), quarter_count)
    mass = share.sum(axis=1)
    stages.consider("lp_rounding", _lp_rounding(problem, share, mass))

    if not stages.proven() and stages.time_left():
        support_upper = model.upper.copy()
        support_upper[np.repeat(mass < LP_INTEGRAL_TOLERANCE, quarter_count)] = 0
        support_upper[model.lower > 0] = 1
        support = stages.run_milp("milp_lp_support", support_upper, integral=True)
        stages.consider("milp_lp_support", _placement_of(support.x, quarter_count))
        stages.last_gap, stages.last_gap_stage = _finite(support.mip_gap), "milp_lp_support"


def _lp_rounding(problem: _Problem, share: FloatArray, mass: FloatArray) -> Placement | None:
    """Features the LP places whole keep their quarter; the rest fill in by LP share, then value per person-week."""
    density = problem.value / np.maximum(problem.effort, CAPACITY_TOLERANCE)
    order = sorted(
        range(len(problem.features)),
        key=lambda k: (-round(mass[k], 6), -density[k], problem.features[k].id),
    )
    preferred = {int(k): int(q) for k, q in np.argwhere(share > 1 - LP_INTEGRAL_TOLERANCE)}
    return _list_schedule(problem, order, preferred)


def _full_milp_stage(stages: _Stages, pins: Mapping[str, int]) -> None:
    """The MILP over every candidate; its dual bound tightens the upper bound."""
    quarter_count = len(stages.problem.discount)
    full = stages.run_milp("milp", stages.model.upper, integral=True)
    if stages.stage_status["milp"] == "infeasible" and stages.best is None:
        raise RoadmapError(f"no plan honours pins {_pin_list(pins)} within capacity and dependencies")
    full_placement = _placement_of(full.x, quarter_count)
    stages.consider("milp", full_placement)
    stages.full_value = None if full_placement is None else _objective(stages.problem, full_placement)
    stages.last_gap, stages.last_gap_stage = _finite(full.mip_gap), "milp"
    dual_bound = _finite(full.mip_dual_bound)
    if dual_bound is not None:
        stages.upper_bound = (
            -dual_bound if stages.upper_bound is None else min(stages.upper_bound, -dual_bound)
        )


def _solver_report(stages: _Stages, pins: Mapping[str, int]) -> tuple[Placement, SolverReport]:
    """The best plan and the report on how it was found; raises when no stage found a valid plan."""
    best, stage_status = stages.best, stages.stage_status
    if best is None:
        raise RoadmapError(
            f"no plan honouring pins {_pin_list(pins)} was found within the time limit "
            f"(stages: {', '.join(f'{k}={v}' for k, v in stage_status.items())})"
        )
    optimal = stages.proven()
    if optimal:
        status = "optimal"
    elif "time_limit" in stage_status.values() or "milp" not in stage_status:
        status = "time_limit"
    else:
        status = stage_status.get("milp", "other")
    found = ", ".join(f"{source} {value:.6g}" for source, value in stages.candidate_values.items())
    outcomes = ", ".join(f"{stage} {outcome}" for stage, outcome in stage_status.items())
    return best.placement, SolverReport(
        solver="milp",
        source=best.source,
        status=status,
        optimal=optimal,
        mip_gap=stages.last_gap,
        mip_gap_stage=stages.last_gap_stage,
        plan_gap=_relative_gap(stages.upper_bound, best.value),
        upper_bound=stages.upper_bound,
        milp_value=stages.full_value,
        candidate_values=stages.candidate_values,
        solve_time_s=stages.solve_time,
        wall_time_s=0.0,
        variables=len(stages.model.cost),
        constraints=len(stages.model.constraints[2]),
        note=f"stages: {outcomes}; plans: {found}; returned {best.source}",
    )


def _placement_of(solution: FloatArray | None, quarter_count: int) -> Placement | None:
    if solution is None:
        return None
    chosen = np.flatnonzero(solution > 0.5)
    return {int(c // quarter_count): int(c % quarter_count) for c in chosen}


def _finite(number: float | None) -> float | None:
    return None if number is None or not np.isfinite(number) else float(number)


def _relative_gap(upper_bound: float | None, value: float | None) -> float | None:
    """(bound - value) / value, the definition HiGHS uses; 0 when both are 0, None when unknown."""
    if upper_bound is None or value is None:
        return None
    if value <= 0:
        return 0.0 if upper_bound <= 1e-12 else None
    return max(0.0, (upper_bound - value) / value)


def _assemble_plan(
    problem: _Problem,
    placement: Placement,
    report: SolverReport,
    *,
    scores: Mapping[str, FeatureScore],
    open_features: list[Feature],
    not_placeable: Mapping[str, tuple[LeftOutReason, str]],
    done_ids: set[str],
    as_of: date,
    quarters: int,
    method: ScoringMethod,
    utilisation: float,
    greedy_value: float | None,
    capacity: _Capacity,
) -> RoadmapPlan:
    used = np.zeros((len(problem.team_ids), quarters))
    items_by_quarter: list[list[RoadmapItem]] = [[] for _ in range(quarters)]
    for k in sorted(placement, key=lambda k: problem.features[k].id):
        start = placement[k]
        feature = problem.features[k]
        used[problem.team_of[k]] += problem.charge[k, start]
        items_by_quarter[start].append(_item(feature, start, problem, k, scores[feature.id]))

    placed_end = {problem.features[k].id: int(problem.end[k, q]) for k, q in placement.items()}
    remaining = problem.quarter_capacity - used
    index = {f.id: k for k, f in enumerate(problem.features)}
    left_out: list[LeftOutFeature] = []
    for feature in open_features:
        if feature.id in placed_end:
            continue
        reason, detail = not_placeable.get(feature.id) or _why_left_out(
            feature,
            placed_end,
            done_ids,
            remaining[problem.team_of[index[feature.id]]],
            fits=lambda start, k=index[feature.id]: problem.fits(k, start, remaining),
            lag=lambda prerequisite, k=index[feature.id]: problem.lag(k, index[prerequisite]),
        )
        left_out.append(
            LeftOutFeature(
                feature_id=feature.id,
                team_id=feature.team_id,
                reason=reason,
                detail=detail,
                value=scores[feature.id].value,
            )
        )

    quarter_length = timedelta(weeks=QUARTER_WEEKS)
    total_value = _objective(problem, placement)
    return RoadmapPlan(
        as_of=as_of,
        method=method,
        utilisation=utilisation,
        quarters=[
            RoadmapQuarter(
                index=q,
                start=as_of + q * quarter_length,
                end=as_of + (q + 1) * quarter_length - timedelta(days=1),
                commitments=[i for i in items_by_quarter[q] if i.kind == "commitment"],
                explorations=[i for i in items_by_quarter[q] if i.kind == "exploration"],
                capacity=[
                    TeamCapacityUse(
                        team_id=team_id,
                        used=float(used[t, q]),
                        available=float(problem.quarter_capacity[t, q]),
                        source=capacity.source[team_id],
                    )
                    for t, team_id in enumerate(problem.team_ids)
                ],
            )
            for q in range(quarters)
        ],
        left_out=left_out,
        total_value=total_value,
        greedy_value=greedy_value,
        value_ratio_vs_greedy=total_value / greedy_value if greedy_value else None,
        solver=report,
    )


def _item(feature: Feature, start: int, problem: _Problem, k: int, score: FeatureScore) -> RoadmapItem:
    spread = (
        (feature.effort_high - feature.effort_low) / feature.effort_likely
        if feature.effort_likely > 0
        else None
    )
    uncertain_effort = (
        feature.effort_high > feature.effort_low if spread is None else spread > EXPLORATION_SPREAD_ABOVE
    )
    exploration = feature.confidence < EXPLORATION_CONFIDENCE_BELOW or uncertain_effort
    end = int(problem.end[k, start])
    return RoadmapItem(
        feature_id=feature.id,
        team_id=problem.team_ids[int(problem.team_of[k])],
        quarter=start,
        value=float(problem.value[k]),
        discounted_value=problem.end_value(k, start),
        effort=float(problem.effort[k]),
        kind="exploration" if exploration else "commitment",
        confidence=feature.confidence,
        effort_spread=spread,
        pinned=k in problem.pins,
        scores=score,
        end_quarter=end,
        quarter_efforts=[float(c) for c in problem.charge[k, start, start : end + 1]],
    )


def _why_left_out(
    feature: Feature,
    placed_end: Mapping[str, int],
    done_ids: set[str],
    team_remaining: FloatArray,
    *,
    fits: Callable[[int], bool],
    lag: Callable[[str], int],
) -> tuple[LeftOutReason, str]:
    """Why a placeable feature is not in the plan; `fits(s)`: whether it would still fit starting in s;
    `lag(p)`: quarters between prerequisite p's end and this feature's start (`_Problem.lag`)."""
    missing = sorted(p for p in set(feature.depends_on) if p not in done_ids and p not in placed_end)
    if missing:
        return "dependency", f"prerequisite {', '.join(missing)} not in the plan"
    earliest = max((placed_end[p] + lag(p) for p in feature.depends_on if p in placed_end), default=0)
    if earliest >= len(team_remaining):
        late = sorted(p for p in feature.depends_on if p in placed_end and placed_end[p] + lag(p) == earliest)
        return "dependency", (
            f"prerequisite {', '.join(late)} of another team ends in {quarter_label(earliest - 1)}, the "
            "plan's last quarter; this feature could only start after it"
        )
    window = team_remaining[earliest:]
    if window.size == 0 or not any(fits(start) for start in range(earliest, len(team_remaining))):
        effort = expected_remaining_effort(feature)
        most = float(np.clip(window, 0, None).sum()) if window.size else 0.0
        return "capacity", (
            f"needs {effort:.2f} person-weeks; at most {most:.2f} left in {quarter_label(earliest)} onwards "
            f"for team {feature.team_id}"
        )
    return "low_value", f"fits from {quarter_label(earliest)} but did not earn a place"


def plan_order(plan: RoadmapPlan, portfolio: Portfolio) -> list[str]:
    """The placed features in the plan's delivery order: by end quarter, start quarter, then dependency
    depth within the end quarter (a feature whose prerequisite ends in the same quarter comes after it and
    after the team's other work there, so a team does not wait idle for another team's prerequisite), then
    value (highest first), then id."""
    items = {item.feature_id: item for item in plan.items()}
    prerequisites = {
        f.id: [d for d in f.depends_on if d in items] for f in portfolio.features if f.id in items
    }
    depth: dict[str, int] = {}

    def depth_of(feature_id: str) -> int:
        if feature_id not in depth:
            end = items[feature_id].last_quarter
            same_quarter = [p for p in prerequisites[feature_id] if items[p].last_quarter == end]
            depth[feature_id] = 1 + max(map(depth_of, same_quarter)) if same_quarter else 0
        return depth[feature_id]

    ordered = sorted(
        items.values(),
        key=lambda i: (i.last_quarter, i.quarter, depth_of(i.feature_id), -i.value, i.feature_id),
    )
    return [item.feature_id for item in ordered]


def portfolio_in_plan_order(portfolio: Portfolio, plan: RoadmapPlan) -> Portfolio:
    """The placed and the done features, with the plan's order as the placed ones' priorities, ready for
    `engines.forecast`.

    Open features the plan leaves out are dropped: with no priority they would come after every placed
    feature of their team, and no placed feature depends on them, so they cannot change a placed feature's
    forecast; leaving them out only saves simulating them.
    """
    rank = {feature_id: position for position, feature_id in enumerate(plan_order(plan, portfolio))}
    kept = [f for f in portfolio.features if f.id in rank or f.status is FeatureStatus.DONE]
    kept_ids = {f.id for f in kept}
    features = [
        f.model_copy(
            update={"priority": rank.get(f.id), "depends_on": [d for d in f.depends_on if d in kept_ids]}
        )
        for f in kept
    ]
    return portfolio.model_copy(update={"features": features})


def _with_finish_probabilities(
    plan: RoadmapPlan, portfolio: Portfolio, *, seed: int, trials: int
) -> RoadmapPlan:
    """Each item with the forecast's probability of being done by the end of its end quarter (module doc)."""
    if not plan.items():
        return plan
    horizon = QUARTER_WEEKS * len(plan.quarters)
    matrix = completion_matrix(
        portfolio_in_plan_order(portfolio, plan),
        as_of=plan.as_of,
        trials=trials,
        seed=seed,
        horizon_weeks=horizon,
    )
    column = {feature_id: i for i, feature_id in enumerate(matrix.plan.feature_ids)}

    def with_probability(item: RoadmapItem) -> RoadmapItem:
        weeks = matrix.weeks[:, column[item.feature_id]]
        due = QUARTER_WEEKS * (item.last_quarter + 1) + 1e-9
        return item.model_copy(
            update={"finish_probability": float(np.count_nonzero(weeks <= due) / len(weeks))}
        )

    quarters = [
        q.model_copy(
            update={
                "commitments": [with_probability(i) for i in q.commitments],
                "explorations": [with_probability(i) for i in q.explorations],
            }
        )
        for q in plan.quarters
    ]
    return plan.model_copy(update={"quarters": quarters})
