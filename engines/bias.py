"""Whom a roadmap serves: how concentrated the customer demand behind its planned features is.

The planner weighs customer demand as ARR-weighted demand (`engines.scoring`): each request adds
`customer.arr * request.weight` to its feature, and a confirmed feedback link without a request adds
`customer.arr * CONFIRMED_FEEDBACK_WEIGHT`. Over the features a plan places, `plan_bias` splits that weight
by customer and reports:

- the share of it that comes from the `top_n` customers who contribute most (default 10);
- its share by customer segment and by ARR size band (`SIZE_BANDS`);
- the planned features driven by one customer alone: one customer holds more than
  `single_customer_share` (default 0.5) of the feature's demand weight;
- `concentrated`: the top customers' share is at least `concentration_threshold` (default 0.5).

A plan whose features nobody requested has no demand weight: every share is 0 and nothing is concentrated.
"""

from __future__ import annotations

from collections import defaultdict

from pydantic import BaseModel, ConfigDict, Field

from engines.roadmap import RoadmapPlan
from engines.scoring import CONFIRMED_FEEDBACK_WEIGHT, confirmed_feedback_demand
from graph.portfolio import Customer, Portfolio, Segment

SIZE_BANDS: tuple[tuple[str, float], ...] = (
    ("under_25k", 0.0),
    ("25k_to_150k", 25_000.0),
    ("150k_to_1m", 150_000.0),
    ("1m_and_over", 1_000_000.0),
)
"""ARR bands by their lower bound (inclusive), smallest first."""

DEFAULT_TOP_N = 10
DEFAULT_SINGLE_CUSTOMER_SHARE = 0.5
DEFAULT_CONCENTRATION_THRESHOLD = 0.5


class CustomerWeight(BaseModel):
    model_config = ConfigDict(frozen=True)

    customer_id: str
    weight: float = Field(description="ARR-weighted demand this customer puts behind the planned features.")
    share: float = Field(description="Its share of the plan's total demand weight, 0 to 1.")


class GroupShare(BaseModel):
    model_config = ConfigDict(frozen=True)

    group: str = Field(description="A segment (`enterprise`, ...) or a size band (`150k_to_1m`, ...).")
    customers: int = Field(description="Customers of the group with demand behind the plan.")
    weight: float
    share: float


class SingleCustomerFeature(BaseModel):
    model_config = ConfigDict(frozen=True)

    feature_id: str
    customer_id: str = Field(description="The customer holding most of the feature's demand weight.")
    share: float = Field(description="That customer's share of the feature's demand weight.")
    quarter: int = Field(description="The plan's quarter index (0-based, as in the plan) of the feature.")


class PlanBias(BaseModel):
    """How concentrated the customer demand behind a roadmap plan is (see `engines.bias`)."""

    model_config = ConfigDict(frozen=True)

    total_weight: float = Field(description="ARR-weighted demand behind the planned features.")
    planned_features: int
    requested_features: int = Field(description="Planned features with any demand weight.")
    customers: int = Field(description="Customers with demand behind the plan.")
    top_n: int
    top_customers: list[CustomerWeight] = Field(
        description="The `top_n` largest contributors, largest first."
    )
    top_share: float = Field(description="The share of the demand weight from the `top_n` customers.")
    by_segment: list[GroupShare]
    by_size_band: list[GroupShare]
    single_customer_share: float = Field(description="The threshold for `single_customer_features`.")
    single_customer_features: list[SingleCustomerFeature]
    concentration_threshold: float
    concentrated: bool = Field(description="Whether `top_share` reaches `concentration_threshold`.")


def size_band(arr: float) -> str:
    band = SIZE_BANDS[0][0]
    for name, lower in SIZE_BANDS:
        if arr >= lower:
            band = name
    return band


def _share(part: float, whole: float) -> float:
    return part / whole if whole > 0 else 0.0


def plan_bias(
    portfolio: Portfolio,
    plan: RoadmapPlan,
    *,
    top_n: int = DEFAULT_TOP_N,
    single_customer_share: float = DEFAULT_SINGLE_CUSTOMER_SHARE,
    concentration_threshold: float = DEFAULT_CONCENTRATION_THRESHOLD,
) -> PlanBias:
    """The concentration of the demand behind `plan`'s placed features (see the module docstring)."""
    if top_n < 1 or not 0 < single_customer_share < 1 or not 0 < concentration_threshold <= 1:
        raise ValueError("top_n must be >= 1 and the shares within (0, 1)")
    quarter_of = plan.quarter_by_feature()
    customers: dict[str, Customer] = {c.id: c for c in portfolio.customers}
    by_feature: defaultdict[str, defaultdict[str, float]] = defaultdict(lambda: defaultdict(float))
    for request in portfolio.requests:
        customer = customers.get(request.customer_id)
        if request.feature_id in quarter_of and customer is not None:
            by_feature[request.feature_id][customer.id] += customer.arr * request.weight
    for customer_id, feature_id in confirmed_feedback_demand(portfolio):
        customer = customers.get(customer_id)
        if feature_id in quarter_of and customer is not None:
            by_feature[feature_id][customer_id] += customer.arr * CONFIRMED_FEEDBACK_WEIGHT

    per_customer: defaultdict[str, float] = defaultdict(float)
    for weights in by_feature.values():
        for customer_id, weight in weights.items():
            per_customer[customer_id] += weight
    total = sum(per_customer.values())
    ranked = sorted(per_customer.items(), key=lambda item: (-item[1], item[0]))
    top = [CustomerWeight(customer_id=c, weight=w, share=_share(w, total)) for c, w in ranked[:top_n]]
    top_share = _share(sum(item.weight for item in top), total)

    def groups(key_of: dict[str, str], order: list[str]) -> list[GroupShare]:
        weight: defaultdict[str, float] = defaultdict(float)
        count: defaultdict[str, int] = defaultdict(int)
        for customer_id, value in per_customer.items():
            weight[key_of[customer_id]] += value
            count[key_of[customer_id]] += 1
        return [
            GroupShare(
                group=name, customers=count[name], weight=weight[name], share=_share(weight[name], total)
            )
            for name in order
        ]

    segment_of = {c: customers[c].segment.value for c in per_customer}
    band_of = {c: size_band(customers[c].arr) for c in per_customer}
    single: list[SingleCustomerFeature] = []
    for feature_id, weights in sorted(by_feature.items()):
        feature_total = sum(weights.values())
        customer_id, weight = max(weights.items(), key=lambda item: (item[1], item[0]))
        share = _share(weight, feature_total)
        if share > single_customer_share:
            single.append(
                SingleCustomerFeature(
                    feature_id=feature_id,
                    customer_id=customer_id,
                    share=share,
                    quarter=quarter_of[feature_id],
                )
            )
    return PlanBias(
        total_weight=total,
        planned_features=len(quarter_of),
        requested_features=sum(1 for weights in by_feature.values() if sum(weights.values()) > 0),
        customers=len(per_customer),
        top_n=top_n,
        top_customers=top,
        top_share=top_share,
        by_segment=groups(segment_of, [s.value for s in Segment]),
        by_size_band=groups(band_of, [name for name, _ in SIZE_BANDS]),
        single_customer_share=single_customer_share,
        single_customer_features=single,
        concentration_threshold=concentration_threshold,
        concentrated=top_share >= concentration_threshold and total > 0,
    )
