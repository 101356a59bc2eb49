"""Scenario changes: what a what-if scenario may change, their validation, and the rewritten portfolio.

A `Scenario` is a list of `ScenarioChange`s applied in order. The changes split in two:

- structural changes (`add_scope`, `remove_scope`, `reestimate`, `reprioritise`) rewrite the portfolio;
  `apply_scenario` returns the rewritten copy;
- timing changes (`capacity`, `shift_start`) do not change any entity; they are simulation parameters that
  `engines.forecast.forecast(portfolio, scenario=...)` honours (`prepare_scenario` hands them over).

Both the forecast and `engines.scenarios` (which compares scenario forecasts) build on this module.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Literal, Self

import networkx as nx
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from engines.common import dependency_graph
from graph.portfolio import EntityId, Feature, Feedback, Portfolio


class ScenarioError(ValueError):
    """A scenario that cannot be applied to the portfolio (unknown ids, negative capacity, cycles...)."""


class _Change(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CapacityChange(_Change):
    """Hires (positive delta) or leave (negative delta) in person-weeks per week, within an optional window.

    Weeks inside the window have their sampled throughput scaled by (capacity + delta) / capacity; a week
    partly inside is scaled by the share of its days inside. A team with zero planned capacity has no ratio to
    scale by, so its throughput gets `delta` added instead.
    """

    kind: Literal["capacity"] = "capacity"
    team_id: EntityId
    delta: float
    start: date | None = Field(default=None, description="First day of the change; None: from the start.")
    end: date | None = Field(
        default=None, description="Last day of the change (inclusive); None: open-ended."
    )

    @model_validator(mode="after")
    def _window_ordered(self) -> Self:
        if self.start is not None and self.end is not None and self.end < self.start:
            raise ValueError(f"capacity change window ends ({self.end}) before it starts ({self.start})")
        return self


class AddScope(_Change):
    kind: Literal["add_scope"] = "add_scope"
    features: list[Feature] = Field(min_length=1)


class RemoveScope(_Change):
    """Drop features; dependencies on them and customer requests for them are dropped too."""

    kind: Literal["remove_scope"] = "remove_scope"
    feature_ids: list[EntityId] = Field(min_length=1)


class Reestimate(_Change):
    """New effort estimates: either all three of low / likely / high, or a factor applied to the current ones."""

    kind: Literal["reestimate"] = "reestimate"
    feature_id: EntityId
    effort_low: float | None = Field(default=None, ge=0)
    effort_likely: float | None = Field(default=None, ge=0)
    effort_high: float | None = Field(default=None, ge=0)
    factor: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _one_form(self) -> Self:
        given = [v is not None for v in (self.effort_low, self.effort_likely, self.effort_high)]
        if self.factor is not None and any(given):
            raise ValueError("give either a factor or new low/likely/high efforts, not both")
        if self.factor is None and not all(given):
            raise ValueError("give a factor or all three of effort_low, effort_likely, effort_high")
        return self


class ShiftStart(_Change):
    """Nothing starts before `start`: all features, a team's features, or the listed features."""

    kind: Literal["shift_start"] = "shift_start"
    start: date
    team_id: EntityId | None = None
    feature_ids: list[EntityId] = Field(default_factory=list[str])

    @model_validator(mode="after")
    def _one_target(self) -> Self:
        if self.team_id is not None and self.feature_ids:
            raise ValueError("a start shift applies to a team or to features, not both")
        return self


class Reprioritise(_Change):
    kind: Literal["reprioritise"] = "reprioritise"
    feature_id: EntityId
    priority: int | None = Field(ge=0)


ScenarioChange = Annotated[
    CapacityChange | AddScope | RemoveScope | Reestimate | ShiftStart | Reprioritise,
    Field(discriminator="kind"),
]


class Scenario(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: EntityId
    name: str = Field(min_length=1)
    description: str = ""
    changes: list[ScenarioChange] = Field(default_factory=list[ScenarioChange])


@dataclass(frozen=True)
class PreparedScenario:
    """A validated scenario: the rewritten portfolio plus the timing changes the simulation applies."""

    portfolio: Portfolio
    capacity_changes: tuple[CapacityChange, ...]
    shift_starts: tuple[ShiftStart, ...]


def prepare_scenario(portfolio: Portfolio, scenario: Scenario) -> PreparedScenario:
    """Validate every change in order against the portfolio as the earlier changes left it; apply the structural ones."""
    features = {f.id: f for f in portfolio.features}
    requests = list(portfolio.requests)
    feedback: list[Feedback] = list(portfolio.feedback)
    team_ids = {t.id for t in portfolio.teams}
    capacity_changes: list[CapacityChange] = []
    shift_starts: list[ShiftStart] = []

    def require_feature(feature_id: str, change: str) -> Feature:
        if feature_id not in features:
            raise ScenarioError(f"{scenario.id}: {change} names unknown feature {feature_id!r}")
        return features[feature_id]

    def require_team(team_id: str, change: str) -> None:
        if team_id not in team_ids:
            raise ScenarioError(f"{scenario.id}: {change} names unknown team {team_id!r}")

    for change in scenario.changes:
        match change:
            case CapacityChange():
                require_team(change.team_id, "capacity change")
                capacity_changes.append(change)
            case ShiftStart():
                if change.team_id is not None:
                    require_team(change.team_id, "start shift")
                for feature_id in change.feature_ids:
                    require_feature(feature_id, "start shift")
                shift_starts.append(change)
            case AddScope():
                _check_new_features(portfolio, change.features, features, team_ids, scenario.id)
                features.update((f.id, f) for f in change.features)
            case RemoveScope():
                removed = set(change.feature_ids)
                for feature_id in change.feature_ids:
                    require_feature(feature_id, "scope removal")
                features = {
                    f.id: _with(f, depends_on=[d for d in f.depends_on if d not in removed])
                    if removed.intersection(f.depends_on)
                    else f
                    for f in features.values()
                    if f.id not in removed
                }
                requests = [r for r in requests if r.feature_id not in removed]
                feedback = [
                    fb.model_copy(update={"feature_id": None}) if fb.feature_id in removed else fb
                    for fb in feedback
                ]
            case Reestimate():
                feature = require_feature(change.feature_id, "re-estimate")
                if change.factor is not None:
                    low, likely, high = (
                        feature.effort_low * change.factor,
                        feature.effort_likely * change.factor,
                        feature.effort_high * change.factor,
                    )
                else:
                    low, likely, high = change.effort_low, change.effort_likely, change.effort_high
                try:
                    features[feature.id] = _with(
                        feature, effort_low=low, effort_likely=likely, effort_high=high
                    )
                except ValidationError as error:
                    raise ScenarioError(f"{scenario.id}: re-estimate of {feature.id}: {error}") from error
            case Reprioritise():
                feature = require_feature(change.feature_id, "reprioritisation")
                features[feature.id] = _with(feature, priority=change.priority)

    _check_capacity_stays_non_negative(portfolio, capacity_changes, scenario.id)
    rewritten = portfolio.model_copy(
        update={"features": list(features.values()), "requests": requests, "feedback": feedback}
    )
    if not nx.is_directed_acyclic_graph(dependency_graph(rewritten)):
        raise ScenarioError(f"{scenario.id}: the changes create a dependency cycle")
    return PreparedScenario(rewritten, tuple(capacity_changes), tuple(shift_starts))


def apply_scenario(portfolio: Portfolio, scenario: Scenario) -> Portfolio:
    """The portfolio after the scenario's structural changes (scope, effort, priority); the input is untouched.

    Timing changes (capacity, start shifts) are validated here too but only the forecast applies them.
    """
    return prepare_scenario(portfolio, scenario).portfolio


def _with(feature: Feature, **changes: object) -> Feature:
    """A copy of `feature` with `changes`, re-validated (model_copy alone would skip the validators)."""
    return Feature.model_validate({**feature.model_dump(), **changes})


def _check_new_features(
    portfolio: Portfolio,
    new_features: list[Feature],
    existing: dict[str, Feature],
    team_ids: set[str],
    scenario_id: str,
) -> None:
    new_ids = [f.id for f in new_features]
    clashes = sorted({i for i in new_ids if i in existing} | {i for i in new_ids if new_ids.count(i) > 1})
    if clashes:
        raise ScenarioError(f"{scenario_id}: added features reuse existing ids {clashes}")
    known_features = set(existing) | set(new_ids)
    product_ids = {p.id for p in portfolio.products}
    objective_ids = {o.id for o in portfolio.objectives}
    release_ids = {r.id for r in portfolio.releases}
    for feature in new_features:
        problems: list[str] = []
        if feature.team_id is not None and feature.team_id not in team_ids:
            problems.append(f"unknown team {feature.team_id!r}")
        if feature.product_id not in product_ids:
            problems.append(f"unknown product {feature.product_id!r}")
        problems += [f"unknown prerequisite {d!r}" for d in feature.depends_on if d not in known_features]
        problems += [f"unknown objective {o!r}" for o in feature.objective_ids if o not in objective_ids]
        if feature.release_id is not None and feature.release_id not in release_ids:
            problems.append(f"unknown release {feature.release_id!r}")
        if problems:
            raise ScenarioError(f"{scenario_id}: added feature {feature.id}: {'; '.join(problems)}")


def _check_capacity_stays_non_negative(
    portfolio: Portfolio, changes: list[CapacityChange], scenario_id: str
) -> None:
    """Capacity plus the deltas in force on any day must stay >= 0; the worst day is one where a window opens."""
    capacity = {t.id: t.capacity for t in portfolio.teams}
    by_team: defaultdict[str, list[CapacityChange]] = defaultdict(list)
    for change in changes:
        by_team[change.team_id].append(change)
    for team_id, team_changes in by_team.items():
        for opening in team_changes:
            day = opening.start or date.min
            in_force = sum(
                c.delta
                for c in team_changes
                if (c.start or date.min) <= day and (c.end is None or day <= c.end)
            )
            if capacity[team_id] + in_force < -1e-9:
                raise ScenarioError(
                    f"{scenario_id}: capacity of team {team_id} would be {capacity[team_id] + in_force:g} "
                    f"person-weeks/week from {day if opening.start else 'the start'} (below zero)"
                )
