"""The roadmap's bias report in the API (`engines.bias`): whom a plan serves."""

from __future__ import annotations

import strawberry

from api.types import Info
from engines.bias import PlanBias


@strawberry.type(description="One customer's demand behind a roadmap plan.")
class CustomerDemandWeight:
    customer_id: strawberry.ID = strawberry.field(description="The customer's id.")
    weight: float = strawberry.field(
        description="ARR-weighted demand it puts behind the plan's features (ARR x request weight, summed)."
    )
    share: float = strawberry.field(description="Its share of the plan's demand weight, 0 to 1.")


@strawberry.type(description="The share of a plan's demand weight from one group of customers.")
class DemandGroupShare:
    group: str = strawberry.field(
        description="A segment (`enterprise`, `mid_market`, `smb`) or an ARR size band (`under_25k`, "
        "`25k_to_150k`, `150k_to_1m`, `1m_and_over`)."
    )
    customers: int = strawberry.field(description="Customers of the group with demand behind the plan.")
    weight: float = strawberry.field(description="Their ARR-weighted demand behind the plan.")
    share: float = strawberry.field(description="Their share of the plan's demand weight, 0 to 1.")


@strawberry.type(description="A planned feature whose demand comes mostly from one customer.")
class SingleCustomerFeature:
    feature_id: strawberry.ID = strawberry.field(description="The feature's id.")
    customer_id: strawberry.ID = strawberry.field(description="The customer behind most of its demand.")
    share: float = strawberry.field(description="That customer's share of the feature's demand weight.")
    quarter: int = strawberry.field(
        description="The roadmap quarter of the feature, 1-based (as `RoadmapItem.quarter`)."
    )


@strawberry.type(
    description="Whom a roadmap serves: how concentrated the customer demand behind its planned features is, "
    "so a product manager sees when a plan serves a few large accounts only."
)
class RoadmapBias:
    total_weight: float = strawberry.field(
        description="ARR-weighted customer demand behind the planned features."
    )
    planned_features: int = strawberry.field(description="Features the plan places.")
    requested_features: int = strawberry.field(description="Planned features with any customer demand.")
    customers: int = strawberry.field(description="Customers with demand behind the plan.")
    top_n: int = strawberry.field(description="How many top customers `topShare` counts (10).")
    top_share: float = strawberry.field(description="Share of the demand weight from the top customers.")
    top_customers: list[CustomerDemandWeight] = strawberry.field(
        description="The top customers by demand weight, largest first."
    )
    by_segment: list[DemandGroupShare] = strawberry.field(description="The demand weight by segment.")
    by_size_band: list[DemandGroupShare] = strawberry.field(description="The demand weight by ARR band.")
    single_customer_share: float = strawberry.field(
        description="Above this share of a feature's demand, one customer alone drives the feature."
    )
    single_customer_features: list[SingleCustomerFeature] = strawberry.field(
        description="Planned features driven by one customer alone."
    )
    concentrated: bool = strawberry.field(
        description="True when the top customers' share reaches `concentrationThreshold`; the narrative says so."
    )
    concentration_threshold: float = strawberry.field(description="The share that counts as concentrated.")

    @classmethod
    def of(cls, bias: PlanBias) -> RoadmapBias:
        return cls(
            total_weight=bias.total_weight,
            planned_features=bias.planned_features,
            requested_features=bias.requested_features,
            customers=bias.customers,
            top_n=bias.top_n,
            top_share=bias.top_share,
            top_customers=[
                CustomerDemandWeight(customer_id=strawberry.ID(c.customer_id), weight=c.weight, share=c.share)
                for c in bias.top_customers
            ],
            by_segment=[_group(g.group, g.customers, g.weight, g.share) for g in bias.by_segment],
            by_size_band=[_group(g.group, g.customers, g.weight, g.share) for g in bias.by_size_band],
            single_customer_share=bias.single_customer_share,
            single_customer_features=[
                SingleCustomerFeature(
                    feature_id=strawberry.ID(f.feature_id),
                    customer_id=strawberry.ID(f.customer_id),
                    share=f.share,
                    quarter=f.quarter + 1,
                )
                for f in bias.single_customer_features
            ],
            concentrated=bias.concentrated,
            concentration_threshold=bias.concentration_threshold,
        )


def _group(group: str, customers: int, weight: float, share: float) -> DemandGroupShare:
    return DemandGroupShare(group=group, customers=customers, weight=weight, share=share)


__all__ = ["Info", "RoadmapBias"]
