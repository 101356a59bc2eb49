"""Feature scores for roadmap drafting: RICE, WSJF and demand x objectives, each explained by its inputs.

Candidates are the not-done features. Every score comes with a `ScoreBreakdown` naming the formula and
the numbers that went into it, so a planner's choice can be traced back to data.

RICE
    reach * impact * confidence / effort. Reach is the feature's stated reach (users affected per quarter),
    scaled by the customers behind it: stated_reach * (requesting + confirmed) / requesting, where
    requesting counts the customers with a request for the feature and confirmed the customers whose
    feedback a person confirmed is about it and who have no request (`confirmed_feedback_demand`). Each
    such customer is taken to bring as many users as an average requester; with no requester there is no
    such average, and the stated reach stands. Effort is the remaining PERT-mean effort
    (`engines.common.expected_remaining_effort`: (low + 4 likely + high) / 6 x (1 - progress)) floored at `MIN_EFFORT_PERSON_WEEKS` so finished-but-open work
    does not divide by zero.

WSJF
    cost of delay / job size, cost of delay = business value + time criticality + opportunity
    enablement, each on a 1-10 scale:

    * business value: rank-normalised ARR-weighted demand, 1 + 9 * (share of the candidates with any
      demand whose demand is <= this one's); the largest demand is 10, no demand is 1.
    * time criticality: days from `as_of` to the nearest of the feature's target date and the earliest
      renewal date of a customer requesting it; 10 when that date is today or past, 1 when it is
      `TIME_CRITICALITY_HORIZON_DAYS` (four 13-week quarters) or more away, linear in between;
      1 when there is no date.
    * opportunity enablement: n = the number of not-done features that depend on it, directly or
      transitively; 1 + 9 * log(1 + n) / log(1 + n_max) with n_max the largest n among candidates
      (1 for everyone when no candidate has dependents).

    Job size is the same floored remaining effort as RICE uses.

Demand
    ARR-weighted demand (sum over requests of customer.arr * request.weight, plus customer.arr *
    `CONFIRMED_FEEDBACK_WEIGHT` for each customer whose feedback a person confirmed is about the feature and
    who has no request for it) x
    (1 + sum of the weights of the objectives the feature supports).

Value (what the planner maximises), chosen by `method`
    Each score is divided by its maximum over the candidates, giving [0, 1] with ratios kept and a zero
    staying zero (a score whose maximum is 0 normalises to 0 for everyone). "blend" is the mean of the
    three normalised scores; "rice", "wsjf" and "demand" use that one normalised score alone.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from datetime import date
from typing import Literal

import networkx as nx
import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from scipy.stats import rankdata

from engines.common import dependency_graph, expected_remaining_effort
from graph.portfolio import Feature, FeatureStatus, Portfolio

ScoringMethod = Literal["blend", "rice", "wsjf", "demand"]

MIN_EFFORT_PERSON_WEEKS = 0.1
TIME_CRITICALITY_HORIZON_DAYS = 4 * 13 * 7
WSJF_SCALE_MIN = 1.0
WSJF_SCALE_MAX = 10.0
CONFIRMED_FEEDBACK_WEIGHT = 0.5
"""The request weight a confirmed feedback link counts as, for a customer with no request for the feature."""

RICE_FORMULA = "reach * impact * confidence / effort"
WSJF_FORMULA = "(business_value + time_criticality + opportunity_enablement) / job_size"
DEMAND_FORMULA = "arr_weighted_demand * (1 + objective_weight)"
VALUE_FORMULAS: dict[ScoringMethod, str] = {
    "blend": "(rice / max_rice + wsjf / max_wsjf + demand / max_demand) / 3",
    "rice": "rice / max_rice",
    "wsjf": "wsjf / max_wsjf",
    "demand": "demand / max_demand",
}


class ScoreBreakdown(BaseModel):
    """One score, the formula that produced it and the named inputs (None when a datum is absent)."""

    model_config = ConfigDict(frozen=True)

    score: float
    formula: str
    inputs: dict[str, float | None]


class FeatureScore(BaseModel):
    model_config = ConfigDict(frozen=True)

    feature_id: str
    rice: ScoreBreakdown
    wsjf: ScoreBreakdown
    demand: ScoreBreakdown
    method: ScoringMethod
    value: float
    """The planner's value for `method`, in [0, 1]; `value_breakdown` shows the normalised inputs."""
    value_breakdown: ScoreBreakdown


def score_features(
    portfolio: Portfolio, *, as_of: date, method: ScoringMethod = "blend"
) -> list[FeatureScore]:
    """Score every not-done feature, in portfolio order."""
    candidates = [f for f in portfolio.features if f.status is not FeatureStatus.DONE]
    if not candidates:
        return []

    confirmed_pairs = confirmed_feedback_demand(portfolio)
    arr_demand, earliest_renewal = _requested_demand(portfolio, confirmed_pairs)
    requesting = Counter(
        feature_id for _, feature_id in {(r.customer_id, r.feature_id) for r in portfolio.requests}
    )
    confirmed = Counter(feature_id for _, feature_id in confirmed_pairs)
    objective_weight_by_id = {o.id: o.weight for o in portfolio.objectives}
    dependents_count = _open_dependents_count(portfolio)
    business_values = _rank_scale(np.array([arr_demand[f.id] for f in candidates]))
    max_dependents = max(dependents_count.get(f.id, 0) for f in candidates)

    raw: list[tuple[Feature, ScoreBreakdown, ScoreBreakdown, ScoreBreakdown]] = []
    for feature, business_value in zip(candidates, business_values, strict=True):
        effort = max(expected_remaining_effort(feature), MIN_EFFORT_PERSON_WEEKS)
        nearest = _nearest_date(feature.target_date, earliest_renewal.get(feature.id))
        wsjf = _wsjf(
            effort,
            arr_demand[feature.id],
            float(business_value),
            None if nearest is None else (nearest - as_of).days,
            dependents_count.get(feature.id, 0),
            max_dependents,
        )
        objective_weight = sum(objective_weight_by_id.get(o, 0.0) for o in feature.objective_ids)
        raw.append(
            (
                feature,
                _rice(feature, effort, requesting[feature.id], confirmed[feature.id]),
                wsjf,
                _demand(arr_demand[feature.id], objective_weight),
            )
        )

    max_rice = max(r.score for _, r, _, _ in raw)
    max_wsjf = max(w.score for _, _, w, _ in raw)
    max_demand = max(d.score for _, _, _, d in raw)
    return [
        _feature_score(feature, rice, wsjf, demand, method, max_rice, max_wsjf, max_demand)
        for feature, rice, wsjf, demand in raw
    ]


def _requested_demand(
    portfolio: Portfolio, confirmed_pairs: list[tuple[str, str]]
) -> tuple[defaultdict[str, float], dict[str, date]]:
    """Per feature, the ARR-weighted demand of its requests and of its `confirmed_feedback_demand` pairs, and
    the earliest renewal among its requesters."""
    arr_by_customer = {c.id: c.arr for c in portfolio.customers}
    renewal_by_customer = {c.id: c.renewal_date for c in portfolio.customers}
    arr_demand: defaultdict[str, float] = defaultdict(float)
    earliest_renewal: dict[str, date] = {}
    for request in portfolio.requests:
        arr_demand[request.feature_id] += arr_by_customer.get(request.customer_id, 0.0) * request.weight
        renewal = renewal_by_customer.get(request.customer_id)
        if renewal is not None:
            known = earliest_renewal.get(request.feature_id)
            earliest_renewal[request.feature_id] = renewal if known is None else min(known, renewal)
    for customer_id, feature_id in confirmed_pairs:
        arr_demand[feature_id] += arr_by_customer.get(customer_id, 0.0) * CONFIRMED_FEEDBACK_WEIGHT
    return arr_demand, earliest_renewal


def confirmed_feedback_demand(portfolio: Portfolio) -> list[tuple[str, str]]:
    """(customer, feature) pairs that a confirmed feedback link adds to the demand: the customer gave feedback
    a person confirmed is about the feature, and has no request for it. Each pair counts once."""
    requested = {(request.customer_id, request.feature_id) for request in portfolio.requests}
    pairs = {
        (item.customer_id, feature_id)
        for item in portfolio.feedback
        for feature_id in item.confirmed_feature_ids
    }
    return sorted(pairs - requested)


class ConfirmedFeedbackEvidence(BaseModel):
    """What confirmed feedback adds to one feature's demand (`confirmed_feedback_demand`), and the ids behind it."""

    feature_id: str
    added_demand: float = Field(description="Sum of the customers' ARR x CONFIRMED_FEEDBACK_WEIGHT.")
    feedback_ids: list[str] = Field(description="The confirmed feedback items of those customers, sorted.")
    customer_ids: list[str] = Field(description="The customers whose confirmed feedback counts, sorted.")


def confirmed_feedback_evidence(portfolio: Portfolio) -> dict[str, ConfirmedFeedbackEvidence]:
    """Per feature whose demand includes confirmed feedback: the added demand, the feedback and the customers
    that `score_features` counts (a customer with a request for the feature adds nothing, so is not cited)."""
    counted = set(confirmed_feedback_demand(portfolio))
    arr_by_customer = {c.id: c.arr for c in portfolio.customers}
    feedback_ids: defaultdict[str, set[str]] = defaultdict(set)
    for item in portfolio.feedback:
        for feature_id in item.confirmed_feature_ids:
            if (item.customer_id, feature_id) in counted:
                feedback_ids[feature_id].add(item.id)
    customer_ids: defaultdict[str, set[str]] = defaultdict(set)
    for customer_id, feature_id in counted:
        customer_ids[feature_id].add(customer_id)
    return {
        feature_id: ConfirmedFeedbackEvidence(
            feature_id=feature_id,
            added_demand=sum(arr_by_customer.get(c, 0.0) for c in customers) * CONFIRMED_FEEDBACK_WEIGHT,
            feedback_ids=sorted(feedback_ids[feature_id]),
            customer_ids=sorted(customers),
        )
        for feature_id, customers in sorted(customer_ids.items())
    }


def _rice(feature: Feature, effort: float, requesting: int, confirmed: int) -> ScoreBreakdown:
    reach = feature.reach * (requesting + confirmed) / requesting if requesting else feature.reach
    return ScoreBreakdown(
        score=reach * feature.impact * feature.confidence / effort,
        formula=RICE_FORMULA,
        inputs={
            "reach": reach,
            "stated_reach": feature.reach,
            "requesting_customers": float(requesting),
            "confirmed_feedback_customers": float(confirmed),
            "impact": feature.impact,
            "confidence": feature.confidence,
            "effort": effort,
        },
    )


def _wsjf(
    effort: float,
    arr_demand: float,
    business_value: float,
    days_to_nearest: int | None,
    dependents: int,
    max_dependents: int,
) -> ScoreBreakdown:
    time_criticality = _time_criticality(days_to_nearest)
    enablement = _enablement(dependents, max_dependents)
    cost_of_delay = business_value + time_criticality + enablement
    return ScoreBreakdown(
        score=cost_of_delay / effort,
        formula=WSJF_FORMULA,
        inputs={
            "arr_weighted_demand": arr_demand,
            "business_value": business_value,
            "days_to_nearest_date": None if days_to_nearest is None else float(days_to_nearest),
            "time_criticality": time_criticality,
            "transitive_dependents": float(dependents),
            "opportunity_enablement": enablement,
            "cost_of_delay": cost_of_delay,
            "job_size": effort,
        },
    )


def _demand(arr_demand: float, objective_weight: float) -> ScoreBreakdown:
    return ScoreBreakdown(
        score=arr_demand * (1.0 + objective_weight),
        formula=DEMAND_FORMULA,
        inputs={"arr_weighted_demand": arr_demand, "objective_weight": objective_weight},
    )


def _feature_score(
    feature: Feature,
    rice: ScoreBreakdown,
    wsjf: ScoreBreakdown,
    demand: ScoreBreakdown,
    method: ScoringMethod,
    max_rice: float,
    max_wsjf: float,
    max_demand: float,
) -> FeatureScore:
    """The three scores as shares of their maximum over the candidates, and the value `method` makes of them."""
    normalised = {
        "rice": _share_of_max(rice.score, max_rice),
        "wsjf": _share_of_max(wsjf.score, max_wsjf),
        "demand": _share_of_max(demand.score, max_demand),
    }
    value = sum(normalised.values()) / 3.0 if method == "blend" else normalised[method]
    return FeatureScore(
        feature_id=feature.id,
        rice=rice,
        wsjf=wsjf,
        demand=demand,
        method=method,
        value=value,
        value_breakdown=ScoreBreakdown(
            score=value,
            formula=VALUE_FORMULAS[method],
            inputs={
                **{f"normalised_{name}": share for name, share in normalised.items()},
                "max_rice": max_rice,
                "max_wsjf": max_wsjf,
                "max_demand": max_demand,
            },
        ),
    )


def _open_dependents_count(portfolio: Portfolio) -> dict[str, int]:
    """Per feature, how many not-done features depend on it directly or transitively."""
    graph = dependency_graph(portfolio)
    done = {f.id for f in portfolio.features if f.status is FeatureStatus.DONE}
    counts: dict[str, int] = {}
    for feature in portfolio.features:
        if feature.id in done:
            continue
        # Each descendant is reached by exactly one breadth-first edge.
        counts[feature.id] = sum(1 for _, d in nx.bfs_edges(graph, feature.id) if d not in done)
    return counts


def _rank_scale(values: np.ndarray) -> np.ndarray:
    """Map demand to 1-10: 1 + 9 * the share of demand-bearing candidates with demand <= this one's.

    No demand gives 1; the largest demand gives 10; ties share the higher rank.
    """
    scaled = np.full(len(values), WSJF_SCALE_MIN)
    positive = values > 0
    if positive.any():
        ranks = rankdata(values[positive], method="max")
        scaled[positive] = WSJF_SCALE_MIN + (WSJF_SCALE_MAX - WSJF_SCALE_MIN) * ranks / positive.sum()
    return scaled


def _nearest_date(first: date | None, second: date | None) -> date | None:
    known = [d for d in (first, second) if d is not None]
    return min(known) if known else None


def _time_criticality(days_to_nearest: int | None) -> float:
    if days_to_nearest is None:
        return WSJF_SCALE_MIN
    clipped = min(max(days_to_nearest, 0), TIME_CRITICALITY_HORIZON_DAYS)
    return WSJF_SCALE_MAX - (WSJF_SCALE_MAX - WSJF_SCALE_MIN) * clipped / TIME_CRITICALITY_HORIZON_DAYS


def _enablement(dependents: int, max_dependents: int) -> float:
    if max_dependents == 0:
        return WSJF_SCALE_MIN
    return WSJF_SCALE_MIN + (WSJF_SCALE_MAX - WSJF_SCALE_MIN) * math.log1p(dependents) / math.log1p(
        max_dependents
    )


def _share_of_max(score: float, maximum: float) -> float:
    return score / maximum if maximum > 0 else 0.0
