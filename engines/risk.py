"""Risk assessment over a portfolio snapshot.

`assess_risks` finds schedule risks (critical path, zero-float features, dependency chains that
cross teams), capacity risks (overloaded teams, unowned features, single-person teams), revenue
risks (ARR whose renewal comes before the P85 forecast, ARR concentrated on one feature) and
demand/plan mismatches. Every `Risk` carries a severity in [0, 1] and the formula that produced it.

Schedule model (critical path method): every open feature takes `expected_remaining_effort / weekly
delivery rate of its team` weeks, the effort being the PERT mean of the remaining effort
(`engines.common.expected_remaining_effort`, the convention every engine shares). The rate is the mean of
the team's throughput history, else its capacity; unowned features, features of unknown teams and teams
with a zero rate use the mean rate of the teams that have one (1 person-week/week when none has). Done
features are finished and drop out of the graph. Two critical paths are reported side by side:

* the dependency critical path (`critical_path`, also `dependency_critical_path`): a feature starts as
  soon as its open prerequisites finish, so every team works all its features at once;
* the resource critical path (`resource_critical_path`): a feature also waits for the previous feature in
  its team's queue, the team working its features one at a time in the forecast's delivery order (a
  topological order following priority, None last, then id), as the forecast does. Unowned features and
  features of unknown teams join no queue.

The dependency path is a lower bound on the resource path; the difference is time spent waiting in team
queues, which `critical_path_note` states.

Revenue at risk has two figures: `arr_at_risk`, the ARR of customers with a requested feature whose P85
date falls after their renewal (all or nothing per customer, so a customer near the line flips in and out
between seeds), and, when the forecast's per-customer probabilities are given,
`expected_arr_at_risk` = sum(ARR x P(miss the renewal)), P(miss) = 1 - P(every open requested feature is
done on or before the renewal date), which moves smoothly.

The forecast comes in as plain mappings (`p85_by_feature`, optionally `p50_by_feature` and
`renewal_probability_by_customer`), so this module depends on no forecasting code.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from itertools import pairwise, repeat
from operator import attrgetter

import networkx as nx
import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field

from engines.common import (
    CustomerAtRisk,
    CustomerRenewalRisk,
    customers_at_risk,
    customers_expected_at_risk,
    dependency_cycle,
    dependency_graph,
    expected_remaining_effort,
)
from graph.portfolio import Feature, FeatureStatus, Portfolio, Team

WEEKS_LATE_FOR_FULL_SEVERITY = 13.0
"""A quarter late is as bad as a schedule risk gets."""
ARR_AT_RISK_SHARE_FOR_FULL_SEVERITY = 0.25
CONCENTRATION_THRESHOLD = 0.10
CONCENTRATION_SHARE_FOR_FULL_SEVERITY = 0.5
DEMAND_SHARE_FOR_FULL_SEVERITY = 0.25
MIN_CHAIN_HANDOFFS = 2
MAX_CHAIN_RISKS = 10

_COMMITTED_STATUSES = frozenset({FeatureStatus.PLANNED, FeatureStatus.IN_PROGRESS})
_DEFAULT_WEEKLY_RATE = 1.0


class RiskKind(StrEnum):
    CRITICAL_PATH = "critical_path"
    ZERO_FLOAT = "zero_float"
    CROSS_TEAM_CHAIN = "cross_team_chain"
    TEAM_OVERLOAD = "team_overload"
    UNOWNED = "unowned"
    SINGLE_OWNER = "single_owner"
    ARR_AT_RISK = "arr_at_risk"
    CUSTOMER_CONCENTRATION = "customer_concentration"
    DEMANDED_UNPLANNED = "demanded_unplanned"
    UNDEMANDED_PLANNED = "undemanded_planned"


SEVERITY_FORMULAS: dict[RiskKind, str] = {
    RiskKind.CRITICAL_PATH: (
        "clip(weeks the critical path ends after the latest target date among its features / 13, 0, 1);"
        " 0 when none of its features has a target"
    ),
    RiskKind.ZERO_FLOAT: (
        "max(clip(weeks the feature's earliest finish is after its own target / 13, 0, 1),"
        " critical-path severity * feature duration / critical-path length)"
    ),
    RiskKind.CROSS_TEAM_CHAIN: "handoffs / (handoffs + 2)",
    RiskKind.TEAM_OVERLOAD: (
        "clip(load ratio - 1, 0, 1), load ratio = committed remaining effort / (capacity * horizon weeks);"
        " 1 when the team has committed work and no capacity"
    ),
    RiskKind.UNOWNED: "min(1, (0.6 if committed else 0.3) + 0.4 * requesting ARR / total ARR)",
    RiskKind.SINGLE_OWNER: (
        "min(1, (0.8 if headcount == 0 else 0.5) + 0.5 * ARR requesting the team's open features / total ARR)"
    ),
    RiskKind.ARR_AT_RISK: "clip(ARR at risk / total ARR / 0.25, 0, 1)",
    RiskKind.CUSTOMER_CONCENTRATION: (
        "clip(requesting ARR / total ARR / 0.5, 0, 1); raised when requesting ARR / total ARR >= 0.10"
    ),
    RiskKind.DEMANDED_UNPLANNED: "clip(requesting ARR / total ARR / 0.25, 0, 1)",
    RiskKind.UNDEMANDED_PLANNED: (
        "clip(remaining effort / (owning team's weekly delivery rate * horizon weeks), 0, 1)"
    ),
}


class Risk(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: RiskKind
    severity: float = Field(ge=0, le=1)
    severity_formula: str
    title: str
    detail: str
    affected_ids: list[str]
    arr_at_stake: float | None = None
    mitigation: str

    def sort_key(self) -> tuple[float, str, str, str]:
        return (
            -self.severity,
            self.kind.value,
            self.affected_ids[0] if self.affected_ids else "",
            self.title,
        )


class TeamLoad(BaseModel):
    model_config = ConfigDict(frozen=True)

    team_id: str
    committed_feature_ids: list[str]
    committed_effort: float = Field(description="Expected remaining person-weeks of committed open work.")
    available_effort: float = Field(description="Capacity * horizon weeks, in person-weeks.")
    load_ratio: float | None = Field(description="committed / available; None when nothing is available.")


class CrossTeamChain(BaseModel):
    model_config = ConfigDict(frozen=True)

    feature_ids: list[str] = Field(description="Prerequisite first.")
    owner_ids: list[str | None] = Field(description="Owning team of each feature; None when unowned.")
    handoffs: int


class RiskReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    as_of: date
    horizon_weeks: int
    risks: list[Risk] = Field(description="Sorted by severity (highest first), then kind, then first id.")
    critical_path: list[str]
    critical_path_weeks: float
    critical_path_end: date | None
    float_weeks: dict[str, float] = Field(description="Total float of every open feature, in weeks.")
    team_loads: list[TeamLoad]
    cross_team_chains: list[CrossTeamChain]
    arr_at_risk: float
    arr_at_risk_p50: float | None = Field(description="ARR at risk against the P50 dates, when given.")
    total_arr: float
    customers_at_risk: list[CustomerAtRisk]
    counts: dict[RiskKind, int]
    dependency_critical_path: list[str] | None = Field(
        default=None,
        description="Same as critical_path: prerequisites only, teams work all features at once.",
    )
    resource_critical_path: list[str] | None = Field(
        default=None,
        description="Critical path with team queues: each team works its features one at a time in delivery order.",
    )
    resource_critical_path_weeks: float | None = None
    resource_critical_path_end: date | None = None
    critical_path_note: str | None = Field(
        default=None, description="One line explaining the two critical paths and what separates them."
    )
    expected_arr_at_risk: float | None = Field(
        default=None,
        description="sum(ARR x P(miss renewal)) over customers, from the forecast's per-customer probability.",
    )
    customers_expected_at_risk: list[CustomerRenewalRisk] | None = Field(
        default=None,
        description="Customers with a positive probability of missing renewal, largest loss first.",
    )

    def top(self, n: int) -> list[Risk]:
        return self.risks[: max(n, 0)]

    def of_kind(self, kind: RiskKind) -> list[Risk]:
        return [risk for risk in self.risks if risk.kind == kind]


@dataclass(frozen=True)
class CriticalPathAnalysis:
    """CPM over open features; all times in weeks from `as_of`."""

    duration_weeks: dict[str, float]
    earliest_finish_weeks: dict[str, float]
    float_weeks: dict[str, float]
    critical_path: list[str]
    length_weeks: float


def team_weekly_rate(team: Team) -> float:
    """Person-weeks the team delivers per week: its throughput-history mean when positive, else its capacity."""
    if team.throughput_history:
        history_mean = float(np.mean(team.throughput_history))
        if history_mean > 0:
            return history_mean
    return team.capacity


def delivery_rates(portfolio: Portfolio) -> tuple[dict[str, float], float]:
    """Weekly rate per team with a positive rate, and the fallback rate for every other feature."""
    rates = {team.id: rate for team in portfolio.teams if (rate := team_weekly_rate(team)) > 0}
    fallback = math.fsum(rates.values()) / len(rates) if rates else _DEFAULT_WEEKLY_RATE
    return rates, fallback


def _weekly_rate(feature: Feature, rates: Mapping[str, float], fallback_rate: float) -> float:
    return rates.get(feature.team_id, fallback_rate) if feature.team_id is not None else fallback_rate


def open_dependency_graph(portfolio: Portfolio) -> nx.DiGraph[str]:
    """`dependency_graph` restricted to features that are not done."""
    open_ids = [feature.id for feature in portfolio.features if feature.status != FeatureStatus.DONE]
    return nx.DiGraph(dependency_graph(portfolio).subgraph(open_ids))


def _topological_order(graph: nx.DiGraph[str]) -> list[str]:
    try:
        return list(nx.topological_sort(graph))
    except nx.NetworkXUnfeasible as error:
        cycle = [edge[0] for edge in dependency_cycle(graph)]
        raise ValueError(f"dependency cycle among open features: {' -> '.join(cycle)}") from error


def critical_path_analysis(
    portfolio: Portfolio, *, graph: nx.DiGraph[str] | None = None, order: Sequence[str] | None = None
) -> CriticalPathAnalysis:
    """Forward and backward pass over the open dependency graph; ties broken by smallest id."""
    graph = open_dependency_graph(portfolio) if graph is None else graph
    order = _topological_order(graph) if order is None else order
    rates, fallback_rate = delivery_rates(portfolio)
    features = {feature.id: feature for feature in portfolio.features}
    duration: dict[str, float] = {}
    for feature_id in order:
        feature = features[feature_id]
        duration[feature_id] = expected_remaining_effort(feature) / _weekly_rate(
            feature, rates, fallback_rate
        )

    earliest_start: dict[str, float] = {}
    earliest_finish: dict[str, float] = {}
    for feature_id in order:
        start = max((earliest_finish[p] for p in graph.predecessors(feature_id)), default=0.0)
        earliest_start[feature_id] = start
        earliest_finish[feature_id] = start + duration[feature_id]
    length = max(earliest_finish.values(), default=0.0)

    latest_finish: dict[str, float] = {}
    for feature_id in reversed(order):
        latest_finish[feature_id] = min(
            (latest_finish[s] - duration[s] for s in graph.successors(feature_id)), default=length
        )
    tolerance = 1e-9 * max(1.0, length)
    total_float: dict[str, float] = {}
    for feature_id in sorted(order):
        slack = latest_finish[feature_id] - earliest_finish[feature_id]
        total_float[feature_id] = 0.0 if slack <= tolerance else slack

    path: list[str] = []
    ends = [f for f in order if total_float[f] == 0.0 and earliest_finish[f] >= length - tolerance]
    current = min(ends) if ends else None
    while current is not None:
        path.append(current)
        start = earliest_start[current]
        # A predecessor finishing exactly when a zero-float feature starts has zero float too.
        driving = [p for p in graph.predecessors(current) if abs(earliest_finish[p] - start) <= tolerance]
        current = min(driving) if driving else None
    path.reverse()
    return CriticalPathAnalysis(
        duration_weeks=duration,
        earliest_finish_weeks=earliest_finish,
        float_weeks=total_float,
        critical_path=path,
        length_weeks=length,
    )


def delivery_order(portfolio: Portfolio, graph: nx.DiGraph[str]) -> list[str]:
    """The forecast's delivery order of the open features in `graph`: a topological order following
    priority where dependencies allow (ascending, None last, then id)."""
    features = {feature.id: feature for feature in portfolio.features}

    def rank(feature_id: str) -> tuple[bool, int, str]:
        priority = features[feature_id].priority
        return priority is None, priority or 0, feature_id

    try:
        return list(nx.lexicographical_topological_sort(graph, key=rank))
    except nx.NetworkXUnfeasible as error:
        cycle = [edge[0] for edge in dependency_cycle(graph)]
        raise ValueError(f"dependency cycle among open features: {' -> '.join(cycle)}") from error


def team_queue_graph(portfolio: Portfolio, graph: nx.DiGraph[str], order: Sequence[str]) -> nx.DiGraph[str]:
    """`graph` plus, per team in the portfolio, an edge from each of its open features to the next one in
    `order` (edges marked `queue=True`); acyclic because every edge runs forward in `order`."""
    team_ids = {team.id for team in portfolio.teams}
    features = {feature.id: feature for feature in portfolio.features}
    queued: nx.DiGraph[str] = nx.DiGraph(graph)
    last_of_team: dict[str, str] = {}
    for feature_id in order:
        team_id = features[feature_id].team_id
        if team_id is None or team_id not in team_ids:
            continue
        previous = last_of_team.get(team_id)
        if previous is not None and not queued.has_edge(previous, feature_id):
            queued.add_edge(previous, feature_id, queue=True)
        last_of_team[team_id] = feature_id
    return queued


@dataclass(frozen=True)
class ResourceCriticalPath:
    """The resource-aware critical path and the team-queue links on it."""

    analysis: CriticalPathAnalysis
    queue_links: list[tuple[str, str]]
    """(earlier, later) consecutive path features linked only by their team's queue, not a dependency."""


def resource_critical_path_analysis(
    portfolio: Portfolio, *, graph: nx.DiGraph[str] | None = None
) -> ResourceCriticalPath:
    """CPM over the open dependency graph plus team queues in delivery order (module doc)."""
    graph = open_dependency_graph(portfolio) if graph is None else graph
    order = delivery_order(portfolio, graph)
    queued = team_queue_graph(portfolio, graph, order)
    analysis = critical_path_analysis(portfolio, graph=queued, order=order)
    links = [(a, b) for a, b in pairwise(analysis.critical_path) if not graph.has_edge(a, b)]
    return ResourceCriticalPath(analysis, links)


def _critical_path_note(
    dependency: CriticalPathAnalysis, resource: ResourceCriticalPath, teams: Mapping[str, str | None]
) -> str:
    waiting = resource.analysis.length_weeks - dependency.length_weeks
    queues = ", ".join(f"{a} -> {b} ({teams.get(b) or 'no team'})" for a, b in resource.queue_links[:5])
    more = f" and {len(resource.queue_links) - 5} more" if len(resource.queue_links) > 5 else ""
    return (
        f"dependency_critical_path (prerequisites only, every team working all its features at once) takes "
        f"{dependency.length_weeks:.1f} weeks; resource_critical_path (prerequisites and team queues, each team "
        f"one feature at a time in delivery order, as the forecast works) takes {resource.analysis.length_weeks:.1f}"
        f" weeks; the {waiting:.1f} weeks between them are waiting in team queues"
        + (f" (queue links on the path: {queues}{more})" if queues else "")
        + "."
    )


def cross_team_chains(
    portfolio: Portfolio,
    *,
    min_handoffs: int = MIN_CHAIN_HANDOFFS,
    limit: int = MAX_CHAIN_RISKS,
    graph: nx.DiGraph[str] | None = None,
    order: Sequence[str] | None = None,
) -> list[CrossTeamChain]:
    """Dependency chains of open features with the most team hand-offs, found by DP over the topological order.

    A hand-off is a dependency edge whose two features have different owners (an unowned feature's
    owner is None). Each feature keeps the chain ending at it with the most hand-offs (then the most
    features, then the smallest predecessor id). Reported: chains with at least `min_handoffs` that
    no other kept chain extends, most hand-offs first, each adding at least one hand-off not already
    reported, at most `limit`.
    """
    graph = open_dependency_graph(portfolio) if graph is None else graph
    order = _topological_order(graph) if order is None else order
    team_ids = {team.id for team in portfolio.teams}
    owner = {
        feature.id: feature.team_id if feature.team_id in team_ids else None
        for feature in portfolio.features
        if feature.id in graph
    }
    handoffs: dict[str, int] = {}
    length: dict[str, int] = {}
    previous: dict[str, str | None] = {}
    for feature_id in order:
        best, best_previous = (0, 1), None
        for prerequisite in sorted(graph.predecessors(feature_id)):
            candidate = (
                handoffs[prerequisite] + (owner[prerequisite] != owner[feature_id]),
                length[prerequisite] + 1,
            )
            if candidate > best:
                best, best_previous = candidate, prerequisite
        handoffs[feature_id], length[feature_id] = best
        previous[feature_id] = best_previous

    # Chains some feature extends are prefixes and would add no hand-off; skip them before sorting.
    extended = {p for p in previous.values() if p is not None}
    ends = sorted(
        (f for f in order if handoffs[f] >= min_handoffs and f not in extended),
        key=lambda f: (-handoffs[f], -length[f], f),
    )
    chains: list[CrossTeamChain] = []
    reported_handoffs: set[tuple[str, str]] = set()
    for end in ends:
        if len(chains) >= limit:
            break
        chain: list[str] = []
        current: str | None = end
        while current is not None:
            chain.append(current)
            current = previous[current]
        chain.reverse()
        chain_handoffs = {(a, b) for a, b in pairwise(chain) if owner[a] != owner[b]}
        if chain_handoffs <= reported_handoffs:
            continue
        reported_handoffs |= chain_handoffs
        chains.append(
            CrossTeamChain(feature_ids=chain, owner_ids=[owner[f] for f in chain], handoffs=handoffs[end])
        )
    return chains


def _is_committed(feature: Feature, horizon_end: date) -> bool:
    if feature.status == FeatureStatus.DONE:
        return False
    return feature.status in _COMMITTED_STATUSES or (
        feature.target_date is not None and feature.target_date <= horizon_end
    )


def team_loads(portfolio: Portfolio, *, as_of: date, horizon_weeks: int) -> list[TeamLoad]:
    """Committed open work (planned / in progress, or due by the horizon) against capacity, per team."""
    horizon_end = as_of + timedelta(weeks=horizon_weeks)
    committed: defaultdict[str, list[Feature]] = defaultdict(list)
    for feature in portfolio.features:
        if feature.team_id is not None and _is_committed(feature, horizon_end):
            committed[feature.team_id].append(feature)
    loads: list[TeamLoad] = []
    for team in sorted(portfolio.teams, key=lambda t: t.id):
        work = sorted(committed.get(team.id, []), key=lambda f: f.id)
        effort = math.fsum(expected_remaining_effort(f) for f in work)
        available = team.capacity * horizon_weeks
        loads.append(
            TeamLoad(
                team_id=team.id,
                committed_feature_ids=[f.id for f in work],
                committed_effort=effort,
                available_effort=available,
                load_ratio=effort / available if available > 0 else None,
            )
        )
    return loads


def _risk(
    *,
    kind: RiskKind,
    severity: float,
    title: str,
    detail: str,
    affected_ids: list[str],
    arr_at_stake: float | None = None,
    mitigation: str,
) -> Risk:
    """A risk of `kind`, stating the formula its severity follows."""
    return Risk(
        kind=kind,
        severity=severity,
        severity_formula=SEVERITY_FORMULAS[kind],
        title=title,
        detail=detail,
        affected_ids=affected_ids,
        arr_at_stake=arr_at_stake,
        mitigation=mitigation,
    )


def _clip01(value: float) -> float:
    return min(1.0, max(0.0, value))


def _money(amount: float) -> str:
    return f"{amount:,.0f}"


def _date_after(as_of: date, weeks: float) -> date:
    """The calendar day on which something `weeks` after `as_of` is finished."""
    return as_of + timedelta(days=math.ceil(weeks * 7 - 1e-9))


def _weeks_between(start: date, end: date) -> float:
    return (end - start).days / 7


def _distinct(values: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Sorted distinct values; sort-based, several times faster than `np.unique` (hash-based in numpy 2.4) here."""
    ordered = np.sort(values)
    if ordered.size == 0:
        return ordered
    return ordered[np.concatenate(([True], ordered[1:] != ordered[:-1]))]


@dataclass(frozen=True)
class _Demand:
    """Distinct (feature, customer) request pairs as a CSR matrix; positions follow sorted ids."""

    customer_ids: npt.NDArray[np.object_]
    customer_arr: npt.NDArray[np.float64]
    feature_position: dict[str, int]
    row_start: npt.NDArray[np.int64]
    requester_positions: npt.NDArray[np.int64]
    requesting_arr: npt.NDArray[np.float64]

    @classmethod
    def of(cls, portfolio: Portfolio) -> _Demand:
        arr_by_customer = {c.id: c.arr for c in portfolio.customers}
        customer_ids = sorted(arr_by_customer)
        customer_position = {c: i for i, c in enumerate(customer_ids)}
        feature_position = {f: i for i, f in enumerate(sorted({f.id for f in portfolio.features}))}
        requests = portfolio.requests
        missing = repeat(-1)
        rows = np.fromiter(
            map(feature_position.get, map(attrgetter("feature_id"), requests), missing),
            np.int64,
            len(requests),
        )
        columns = np.fromiter(
            map(customer_position.get, map(attrgetter("customer_id"), requests), missing),
            np.int64,
            len(requests),
        )
        known = (rows >= 0) & (columns >= 0)
        n_customers = max(len(customer_ids), 1)
        pairs = _distinct(rows[known] * n_customers + columns[known])
        pair_rows, pair_columns = np.divmod(pairs, n_customers)
        customer_arr = np.asarray([arr_by_customer[c] for c in customer_ids], dtype=np.float64)
        per_row = np.bincount(pair_rows, minlength=len(feature_position))
        return cls(
            customer_ids=np.asarray(customer_ids, dtype=np.object_),
            customer_arr=customer_arr,
            feature_position=feature_position,
            row_start=np.concatenate(([0], np.cumsum(per_row))).astype(np.int64),
            requester_positions=pair_columns,
            requesting_arr=np.bincount(
                pair_rows, weights=customer_arr[pair_columns], minlength=len(feature_position)
            ).astype(np.float64),
        )

    def _positions(self, feature_id: str) -> npt.NDArray[np.int64]:
        row = self.feature_position[feature_id]
        return self.requester_positions[self.row_start[row] : self.row_start[row + 1]]

    def requesters(self, feature_id: str) -> list[str]:
        """Customers requesting the feature, largest ARR first (then by id)."""
        positions = self._positions(feature_id)
        ranked = positions[np.lexsort((positions, -self.customer_arr[positions]))]
        return self.customer_ids[ranked].tolist()

    def is_requested(self, feature_id: str) -> bool:
        row = self.feature_position[feature_id]
        return bool(self.row_start[row + 1] > self.row_start[row])

    def arr_requesting(self, feature_id: str) -> float:
        return float(self.requesting_arr[self.feature_position[feature_id]])

    def arr_requesting_any(self, feature_ids: Iterable[str]) -> float:
        """ARR of the distinct customers requesting at least one of the features."""
        slices = [self._positions(f) for f in feature_ids]
        if not slices:
            return 0.0
        return float(self.customer_arr[_distinct(np.concatenate(slices))].sum())


@dataclass(frozen=True)
class _Index:
    features: dict[str, Feature]
    teams: dict[str, Team]
    demand: _Demand
    total_arr: float
    horizon_end: date
    weekly_rates: dict[str, float]
    fallback_weekly_rate: float

    @classmethod
    def of(cls, portfolio: Portfolio, horizon_end: date) -> _Index:
        demand = _Demand.of(portfolio)
        weekly_rates, fallback_weekly_rate = delivery_rates(portfolio)
        return cls(
            features={f.id: f for f in portfolio.features},
            teams={t.id: t for t in portfolio.teams},
            demand=demand,
            total_arr=math.fsum(demand.customer_arr.tolist()),
            horizon_end=horizon_end,
            weekly_rates=weekly_rates,
            fallback_weekly_rate=fallback_weekly_rate,
        )

    def arr_share(self, arr: float) -> float:
        return arr / self.total_arr if self.total_arr > 0 else 0.0

    def owner(self, feature: Feature) -> Team | None:
        return self.teams.get(feature.team_id) if feature.team_id is not None else None

    def weekly_rate(self, feature: Feature) -> float:
        return _weekly_rate(feature, self.weekly_rates, self.fallback_weekly_rate)

    def team_name(self, feature: Feature) -> str:
        team = self.owner(feature)
        return team.name if team is not None else "no team"


def _schedule_risks(
    index: _Index,
    analysis: CriticalPathAnalysis,
    *,
    as_of: date,
    p85_by_feature: Mapping[str, date],
    p50_by_feature: Mapping[str, date] | None,
) -> list[Risk]:
    if not analysis.critical_path:
        return []
    path_risk = _critical_path_risk(
        index, analysis, as_of=as_of, p85_by_feature=p85_by_feature, p50_by_feature=p50_by_feature
    )
    return [path_risk, *_zero_float_risks(index, analysis, as_of=as_of, path_severity=path_risk.severity)]


def _critical_path_risk(
    index: _Index,
    analysis: CriticalPathAnalysis,
    *,
    as_of: date,
    p85_by_feature: Mapping[str, date],
    p50_by_feature: Mapping[str, date] | None,
) -> Risk:
    """The critical path against the latest target on it; its severity is the lateness in weeks, scaled."""
    path = analysis.critical_path
    end = _date_after(as_of, analysis.length_weeks)
    path_features = [index.features[f] for f in path]
    targets = [f.target_date for f in path_features if f.target_date is not None]
    if targets:
        latest_target = max(targets)
        weeks_late = analysis.length_weeks - _weeks_between(as_of, latest_target)
        path_severity = _clip01(weeks_late / WEEKS_LATE_FOR_FULL_SEVERITY)
        lateness = f"{weeks_late:.1f} weeks after" if weeks_late > 0 else f"{-weeks_late:.1f} weeks before"
        versus_target = f"; that is {lateness} the latest target on the path ({latest_target})"
    else:
        path_severity = 0.0
        versus_target = "; no feature on the path has a target date"
    last = path[-1]
    forecast = ""
    if last in p85_by_feature:
        forecast = f" The forecast puts {last} at P85 {p85_by_feature[last]}"
        if p50_by_feature is not None and last in p50_by_feature:
            forecast += f" (P50 {p50_by_feature[last]})"
        forecast += "."
    longest = max(path, key=lambda f: (analysis.duration_weeks[f], f))
    path_arr = index.demand.arr_requesting_any(path)
    return _risk(
        kind=RiskKind.CRITICAL_PATH,
        severity=path_severity,
        title=f"Critical path of {len(path)} features ends in {analysis.length_weeks:.1f} weeks",
        detail=(
            f"{' -> '.join(path)} finishes at the earliest on {end}{versus_target}.{forecast}"
            f" Longest step: {longest} ({analysis.duration_weeks[longest]:.1f} weeks)."
        ),
        affected_ids=list(path),
        arr_at_stake=path_arr,
        mitigation=(
            f"Staff the critical path first, split or descope its longest step ({longest}),"
            " and move nothing onto these teams that could delay them."
        ),
    )


def _zero_float_risks(
    index: _Index, analysis: CriticalPathAnalysis, *, as_of: date, path_severity: float
) -> list[Risk]:
    """Features with zero float: any slip moves the portfolio end."""
    risks: list[Risk] = []
    end = _date_after(as_of, analysis.length_weeks)
    for feature_id, slack in analysis.float_weeks.items():
        if slack != 0.0:
            continue
        feature = index.features[feature_id]
        finish_weeks = analysis.earliest_finish_weeks[feature_id]
        own_late = 0.0
        own_target = ""
        if feature.target_date is not None:
            weeks_late = finish_weeks - _weeks_between(as_of, feature.target_date)
            own_late = _clip01(weeks_late / WEEKS_LATE_FOR_FULL_SEVERITY)
            own_target = f" (target {feature.target_date})"
        share = analysis.duration_weeks[feature_id] / analysis.length_weeks if analysis.length_weeks else 0.0
        team = index.owner(feature)
        risks.append(
            _risk(
                kind=RiskKind.ZERO_FLOAT,
                severity=_clip01(max(own_late, path_severity * share)),
                title=f"{feature_id} has zero float",
                detail=(
                    f"{feature.name} ({index.team_name(feature)}) finishes at the earliest on "
                    f"{_date_after(as_of, finish_weeks)}{own_target}; any slip moves the portfolio end "
                    f"({end}) by as much."
                ),
                affected_ids=[feature_id] + ([team.id] if team is not None else []),
                arr_at_stake=index.demand.arr_requesting(feature_id),
                mitigation=f"Start {feature_id} as early as possible and shield its team from other work.",
            )
        )
    return risks


def _chain_risks(index: _Index, chains: list[CrossTeamChain]) -> list[Risk]:
    risks: list[Risk] = []
    for chain in chains:
        teams = list(dict.fromkeys(o for o in chain.owner_ids if o is not None))
        names = [index.teams[t].name for t in teams]
        if None in chain.owner_ids:
            names.append("unowned work")
        risks.append(
            _risk(
                kind=RiskKind.CROSS_TEAM_CHAIN,
                severity=chain.handoffs / (chain.handoffs + 2),
                title=f"Dependency chain of {len(chain.feature_ids)} features with {chain.handoffs} team hand-offs",
                detail=(
                    " -> ".join(
                        f"{f} ({o if o is not None else 'unowned'})"
                        for f, o in zip(chain.feature_ids, chain.owner_ids, strict=True)
                    )
                    + f"; teams involved: {', '.join(names)}."
                ),
                affected_ids=[*chain.feature_ids, *teams],
                arr_at_stake=index.demand.arr_requesting_any(chain.feature_ids),
                mitigation=(
                    "Agree hand-off dates and interfaces between the teams now, or move links of the chain"
                    " to one team so fewer hand-offs remain."
                ),
            )
        )
    return risks


def _overload_risks(index: _Index, loads: list[TeamLoad], horizon_weeks: int) -> list[Risk]:
    risks: list[Risk] = []
    for load in loads:
        if load.committed_effort <= 0:
            continue
        if load.load_ratio is None:
            severity, ratio_text = 1.0, "no capacity"
        elif load.load_ratio > 1:
            severity, ratio_text = _clip01(load.load_ratio - 1), f"load ratio {load.load_ratio:.2f}"
        else:
            continue
        team = index.teams[load.team_id]
        excess = load.committed_effort - load.available_effort
        risks.append(
            _risk(
                kind=RiskKind.TEAM_OVERLOAD,
                severity=severity,
                title=f"{team.name} is committed beyond capacity ({ratio_text})",
                detail=(
                    f"{len(load.committed_feature_ids)} committed open features need "
                    f"{load.committed_effort:.1f} person-weeks; {team.name} has {load.available_effort:.1f} "
                    f"in the next {horizon_weeks} weeks ({team.capacity:g} per week)."
                ),
                affected_ids=[team.id, *load.committed_feature_ids],
                arr_at_stake=index.demand.arr_requesting_any(load.committed_feature_ids),
                mitigation=(
                    f"Defer or descope about {excess:.1f} person-weeks of {team.name}'s committed work,"
                    " or add capacity to the team."
                ),
            )
        )
    return risks


def _ownership_risks(index: _Index, open_features: list[Feature]) -> list[Risk]:
    risks: list[Risk] = []
    open_by_team: defaultdict[str, list[Feature]] = defaultdict(list)
    for feature in open_features:
        team = index.owner(feature)
        if team is not None:
            open_by_team[team.id].append(feature)
            continue
        committed = _is_committed(feature, index.horizon_end)
        arr = index.demand.arr_requesting(feature.id)
        unknown = f" (its team {feature.team_id} is not in the portfolio)" if feature.team_id else ""
        risks.append(
            _risk(
                kind=RiskKind.UNOWNED,
                severity=_clip01((0.6 if committed else 0.3) + 0.4 * index.arr_share(arr)),
                title=f"{feature.id} has no owning team",
                detail=(
                    f"{feature.name} is {feature.status.value}{' and committed' if committed else ''}"
                    f" with no team to deliver it{unknown}."
                ),
                affected_ids=[feature.id],
                arr_at_stake=arr,
                mitigation=f"Assign an owning team to {feature.id} or take it off the plan.",
            )
        )
    for team_id in sorted(open_by_team):
        team = index.teams[team_id]
        if team.headcount > 1:
            continue
        work = open_by_team[team_id]
        arr = index.demand.arr_requesting_any(f.id for f in work)
        who = "nobody" if team.headcount == 0 else "a single person"
        risks.append(
            _risk(
                kind=RiskKind.SINGLE_OWNER,
                severity=_clip01((0.8 if team.headcount == 0 else 0.5) + 0.5 * index.arr_share(arr)),
                title=f"{team.name} has headcount {team.headcount} and {len(work)} open features",
                detail=f"{', '.join(f.id for f in work)} depend on {who} in {team.name}.",
                affected_ids=[team.id, *(f.id for f in work)],
                arr_at_stake=arr,
                mitigation=(
                    f"Pair a second person with {team.name} or document and share the work;"
                    " plan cover for absences."
                ),
            )
        )
    return risks


def _arr_at_risk_risks(
    index: _Index, at_risk: list[CustomerAtRisk], arr_at_risk: float, expected_arr: float | None
) -> list[Risk]:
    if not at_risk:
        return []
    late_features = sorted(set[str]().union(*(c.late_feature_ids for c in at_risk)) & index.features.keys())
    share = index.arr_share(arr_at_risk)
    largest = ", ".join(f"{c.customer_id} ({_money(c.arr)}, renews {c.renewal_date})" for c in at_risk[:3])
    return [
        _risk(
            kind=RiskKind.ARR_AT_RISK,
            severity=_clip01(share / ARR_AT_RISK_SHARE_FOR_FULL_SEVERITY),
            title=f"{_money(arr_at_risk)} ARR ({share:.1%}) renews before its requested features' P85 date",
            detail=(
                f"{len(at_risk)} customers renew before the P85 date of a feature they requested;"
                f" {len(late_features)} late features. Largest: {largest}."
                + (
                    ""
                    if expected_arr is None
                    else f" Expected ARR at risk (ARR x P(miss renewal)): {_money(expected_arr)}."
                )
            ),
            affected_ids=[*(c.customer_id for c in at_risk), *late_features],
            arr_at_stake=arr_at_risk,
            mitigation=(
                "Pull the late features forward for the largest accounts, or agree interim commitments"
                " with these customers before their renewals."
            ),
        )
    ]


def _demand_risks(index: _Index, open_features: list[Feature], horizon_weeks: int) -> list[Risk]:
    risks: list[Risk] = []
    for feature in open_features:
        arr = index.demand.arr_requesting(feature.id)
        share = index.arr_share(arr)
        requested = index.demand.is_requested(feature.id)
        if requested and share >= CONCENTRATION_THRESHOLD:
            customers = index.demand.requesters(feature.id)
            risks.append(
                _risk(
                    kind=RiskKind.CUSTOMER_CONCENTRATION,
                    severity=_clip01(share / CONCENTRATION_SHARE_FOR_FULL_SEVERITY),
                    title=f"{share:.1%} of ARR hangs on {feature.id}",
                    detail=(
                        f"{len(customers)} customers holding {_money(arr)} of {_money(index.total_arr)} ARR"
                        f" requested {feature.name} ({feature.status.value})."
                    ),
                    affected_ids=[feature.id, *customers],
                    arr_at_stake=arr,
                    mitigation=(
                        f"Track {feature.id} as a key-account commitment, de-risk its delivery and keep"
                        " its requesters informed."
                    ),
                )
            )
        if requested and feature.status == FeatureStatus.PROPOSED and feature.release_id is None:
            customers = index.demand.requesters(feature.id)
            risks.append(
                _risk(
                    kind=RiskKind.DEMANDED_UNPLANNED,
                    severity=_clip01(share / DEMAND_SHARE_FOR_FULL_SEVERITY),
                    title=f"{feature.id} is requested by {len(customers)} customers but not planned",
                    detail=(
                        f"{feature.name} is proposed with no release while customers holding {_money(arr)}"
                        f" ARR ({share:.1%}) asked for it."
                    ),
                    affected_ids=[feature.id, *customers],
                    arr_at_stake=arr,
                    mitigation=(
                        f"Triage {feature.id}: plan it into a release or tell its requesters it is not planned."
                    ),
                )
            )
        if feature.status in _COMMITTED_STATUSES and not requested and not feature.objective_ids:
            team = index.owner(feature)
            effort = expected_remaining_effort(feature)
            weeks_of_team = effort / index.weekly_rate(feature)
            risks.append(
                _risk(
                    kind=RiskKind.UNDEMANDED_PLANNED,
                    severity=_clip01(weeks_of_team / horizon_weeks),
                    title=f"{feature.id} is {feature.status.value} with no customer request or objective",
                    detail=(
                        f"{feature.name} still needs {effort:.1f} person-weeks, about {weeks_of_team:.1f} weeks"
                        f" of {index.team_name(feature)}, with nothing recorded that asks for it."
                    ),
                    affected_ids=[feature.id] + ([team.id] if team is not None else []),
                    arr_at_stake=0.0,
                    mitigation=(
                        f"Link {feature.id} to an objective or customer need, or stop it and free the capacity."
                    ),
                )
            )
    return risks


def assess_risks(
    portfolio: Portfolio,
    *,
    as_of: date,
    p85_by_feature: Mapping[str, date],
    p50_by_feature: Mapping[str, date] | None = None,
    horizon_weeks: int = 26,
    min_chain_handoffs: int = MIN_CHAIN_HANDOFFS,
    max_chains: int = MAX_CHAIN_RISKS,
    renewal_probability_by_customer: Mapping[str, float | None] | None = None,
) -> RiskReport:
    """Every risk the portfolio shows as of `as_of`, most severe first.

    `renewal_probability_by_customer`: the forecast's P(all open requests done by the renewal) per
    customer (`CustomerForecast.probability_before_renewal`); with it the report carries the expected ARR
    at risk (module doc).

    Raises ValueError when open features depend on each other in a cycle, or `horizon_weeks` < 1.
    """
    if horizon_weeks < 1:
        raise ValueError(f"horizon_weeks must be at least 1, got {horizon_weeks}")
    horizon_end = as_of + timedelta(weeks=horizon_weeks)
    index = _Index.of(portfolio, horizon_end)
    graph = open_dependency_graph(portfolio)
    order = _topological_order(graph)
    open_features = sorted((index.features[f] for f in graph), key=lambda f: f.id)

    analysis = critical_path_analysis(portfolio, graph=graph, order=order)
    resource = resource_critical_path_analysis(portfolio, graph=graph)
    chains = cross_team_chains(
        portfolio, min_handoffs=min_chain_handoffs, limit=max_chains, graph=graph, order=order
    )
    loads = team_loads(portfolio, as_of=as_of, horizon_weeks=horizon_weeks)
    at_risk = customers_at_risk(portfolio, p85_by_feature)
    arr_at_risk = math.fsum(c.arr for c in at_risk)
    arr_at_risk_p50 = (
        math.fsum(c.arr for c in customers_at_risk(portfolio, p50_by_feature))
        if p50_by_feature is not None
        else None
    )
    expected = (
        None
        if renewal_probability_by_customer is None
        else customers_expected_at_risk(portfolio, renewal_probability_by_customer)
    )
    expected_arr = None if expected is None else math.fsum(c.expected_arr_at_risk for c in expected)

    risks = [
        *_schedule_risks(
            index, analysis, as_of=as_of, p85_by_feature=p85_by_feature, p50_by_feature=p50_by_feature
        ),
        *_chain_risks(index, chains),
        *_overload_risks(index, loads, horizon_weeks),
        *_ownership_risks(index, open_features),
        *_arr_at_risk_risks(index, at_risk, arr_at_risk, expected_arr),
        *_demand_risks(index, open_features, horizon_weeks),
    ]
    risks.sort(key=Risk.sort_key)
    counts = dict.fromkeys(RiskKind, 0)
    for risk in risks:
        counts[risk.kind] += 1
    return RiskReport(
        as_of=as_of,
        horizon_weeks=horizon_weeks,
        risks=risks,
        critical_path=analysis.critical_path,
        critical_path_weeks=analysis.length_weeks,
        critical_path_end=_date_after(as_of, analysis.length_weeks) if analysis.critical_path else None,
        float_weeks=analysis.float_weeks,
        team_loads=loads,
        cross_team_chains=chains,
        arr_at_risk=arr_at_risk,
        arr_at_risk_p50=arr_at_risk_p50,
        total_arr=index.total_arr,
        customers_at_risk=at_risk,
        counts=counts,
        dependency_critical_path=analysis.critical_path,
        resource_critical_path=resource.analysis.critical_path,
        resource_critical_path_weeks=resource.analysis.length_weeks,
        resource_critical_path_end=(
            _date_after(as_of, resource.analysis.length_weeks) if resource.analysis.critical_path else None
        ),
        critical_path_note=_critical_path_note(
            analysis, resource, {f.id: f.team_id for f in index.features.values()}
        )
        if analysis.critical_path
        else None,
        expected_arr_at_risk=expected_arr,
        customers_expected_at_risk=expected,
    )
