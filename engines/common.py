"""Small pieces more than one engine needs: the effort convention, the dependency graph, its cycles, ARR at risk."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import date
from typing import cast

import networkx as nx
from pydantic import BaseModel, ConfigDict

from graph.portfolio import Feature, Portfolio


def expected_remaining_effort(feature: Feature) -> float:
    """The one point estimate of the effort still to deliver, in person-weeks, every engine uses.

    The PERT mean (low + 4 likely + high) / 6 of the feature's effort, times (1 - progress): the mean of the
    PERT distribution the forecast samples, the cost the roadmap planner charges, and the work the risk
    engine schedules.
    """
    pert_mean = (feature.effort_low + 4 * feature.effort_likely + feature.effort_high) / 6
    return pert_mean * (1 - feature.progress)


def dependency_graph(portfolio: Portfolio) -> nx.DiGraph[str]:
    """Edges run prerequisite -> dependent, so a topological order is a valid delivery order."""
    graph: nx.DiGraph[str] = nx.DiGraph()
    for feature in portfolio.features:
        graph.add_node(feature.id)
    for feature in portfolio.features:
        for prerequisite in feature.depends_on:
            graph.add_edge(prerequisite, feature.id)
    return graph


def dependency_cycle(graph: nx.DiGraph[str]) -> list[tuple[str, str]]:
    """The edges (prerequisite, dependent) of one cycle in `graph`, as networkx's `find_cycle` finds it."""
    # networkx's stubs leave find_cycle's return type unannotated.
    return cast("list[tuple[str, str]]", nx.find_cycle(graph))  # pyright: ignore[reportUnknownMemberType]


class CustomerAtRisk(BaseModel):
    model_config = ConfigDict(frozen=True)

    customer_id: str
    arr: float
    renewal_date: date
    latest_p85: date
    late_feature_ids: list[str]


def customers_at_risk(portfolio: Portfolio, p85_by_feature: Mapping[str, date]) -> list[CustomerAtRisk]:
    """Customers with a requested feature whose P85 date falls after their renewal date.

    Features missing from `p85_by_feature` (done, or out of scope) are not late. Sorted by ARR, largest first.
    """
    requested: defaultdict[str, set[str]] = defaultdict(set)
    for request in portfolio.requests:
        requested[request.customer_id].add(request.feature_id)
    at_risk: list[CustomerAtRisk] = []
    for customer in portfolio.customers:
        if customer.renewal_date is None:
            continue
        late = sorted(
            feature_id
            for feature_id in requested.get(customer.id, ())
            if feature_id in p85_by_feature and p85_by_feature[feature_id] > customer.renewal_date
        )
        if late:
            at_risk.append(
                CustomerAtRisk(
                    customer_id=customer.id,
                    arr=customer.arr,
                    renewal_date=customer.renewal_date,
                    latest_p85=max(p85_by_feature[f] for f in late),
                    late_feature_ids=late,
                )
            )
    at_risk.sort(key=lambda c: (-c.arr, c.customer_id))
    return at_risk


class CustomerRenewalRisk(BaseModel):
    """A customer's expected loss at renewal: ARR x the forecast's probability of missing the renewal."""

    model_config = ConfigDict(frozen=True)

    customer_id: str
    arr: float
    renewal_date: date
    miss_probability: float
    """1 - P(every open requested feature is done on or before the renewal date), from the forecast."""
    expected_arr_at_risk: float
    """arr x miss_probability."""


def customers_expected_at_risk(
    portfolio: Portfolio, probability_before_renewal: Mapping[str, float | None]
) -> list[CustomerRenewalRisk]:
    """Customers with a renewal date and a positive probability of missing it, largest expected loss first.

    `probability_before_renewal` is the forecast's per-customer P(all open requests done by the renewal)
    (`engines.forecast.CustomerForecast.probability_before_renewal`); customers missing from it have no open
    requested feature and miss nothing.
    """
    at_risk: list[CustomerRenewalRisk] = []
    for customer in portfolio.customers:
        probability = probability_before_renewal.get(customer.id)
        if customer.renewal_date is None or probability is None or probability >= 1.0:
            continue
        miss = 1.0 - probability
        at_risk.append(
            CustomerRenewalRisk(
                customer_id=customer.id,
                arr=customer.arr,
                renewal_date=customer.renewal_date,
                miss_probability=miss,
                expected_arr_at_risk=customer.arr * miss,
            )
        )
    at_risk.sort(key=lambda c: (-c.expected_arr_at_risk, c.customer_id))
    return at_risk
