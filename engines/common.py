"""Small pieces more than one engine needs: the dependency graph, its cycles and ARR at risk."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import date
from typing import cast

import networkx as nx
from pydantic import BaseModel, ConfigDict

from graph.portfolio import Portfolio


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
