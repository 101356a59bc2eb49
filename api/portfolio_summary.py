"""`portfolioSummary`: the portfolio's headline figures for a dashboard, in one small query.

Total ARR and the features per status need sums over every customer and feature, which paging
`customers` or `features` would make a client do row by row. The last import's change counts are
recorded on the portfolio's revision node by the import itself (`GraphStore.last_change`), so "what
changed since the last import" survives API restarts and is the same whichever process imported.

The figures depend on the portfolio only, so they are kept per revision token (`GraphStore` gives
every import that changes the portfolio a fresh one, read in the same transaction as the sums): a
request pays for one small statement (the token) while the portfolio is unchanged.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

import strawberry

from api.mutations import ChangeCount
from api.permissions import Info
from graph.portfolio import FeatureStatus
from graph.store import EntityChanges, PortfolioChange, PortfolioTotals


def _change_counts(groups: dict[str, EntityChanges]) -> list[ChangeCount]:
    return [
        ChangeCount(
            type=name,
            created=changes.created,
            updated=changes.updated,
            deleted=changes.deleted,
            unchanged=changes.unchanged,
        )
        for name, changes in sorted(groups.items())
    ]


@strawberry.type(description="The last import that changed the portfolio: when, and what it changed.")
class PortfolioChangeRecord:
    changed_at: datetime = strawberry.field(description="When the import committed (UTC).")
    nodes: list[ChangeCount] = strawberry.field(description="Changes by node label.")
    relationships: list[ChangeCount] = strawberry.field(description="Changes by relationship type.")

    @classmethod
    def of(cls, change: PortfolioChange) -> PortfolioChangeRecord:
        return cls(
            changed_at=change.changed_at,
            nodes=_change_counts(change.nodes),
            relationships=_change_counts(change.relationships),
        )


@strawberry.type(description="How many features have one status.")
class FeatureStatusCount:
    status: FeatureStatus = strawberry.field(description="The status.")
    count: int = strawberry.field(description="How many features have it.")


@strawberry.type(description="Headline figures of the portfolio the graph holds now.")
class PortfolioSummary:
    customer_count: int = strawberry.field(description="How many customers the portfolio has.")
    total_arr: float = strawberry.field(description="The customers' annual recurring revenue, summed.")
    features_by_status: list[FeatureStatusCount] = strawberry.field(
        description="How many features have each status, every status listed (zeros included)."
    )
    open_feature_count: int = strawberry.field(
        description="Features not done: proposed, planned or in progress."
    )
    last_import: PortfolioChangeRecord | None = strawberry.field(
        description="The last import that changed the portfolio; null before any (or if not recorded)."
    )


_MAX_KEPT = 8
_kept: dict[str, PortfolioSummary] = {}
"""Summaries by revision token (tokens are random and never reused, so one map serves any graph)."""


def _summary(totals: PortfolioTotals, change: PortfolioChange | None) -> PortfolioSummary:
    counts = [
        FeatureStatusCount(status=status, count=totals.features_by_status.get(status.value, 0))
        for status in FeatureStatus
    ]
    return PortfolioSummary(
        customer_count=totals.customers,
        total_arr=totals.total_arr,
        features_by_status=counts,
        open_feature_count=sum(item.count for item in counts if item.status is not FeatureStatus.DONE),
        last_import=PortfolioChangeRecord.of(change) if change is not None else None,
    )


async def portfolio_summary(info: Info) -> PortfolioSummary:
    revision = await info.context.loaders.revision()
    if revision is not None and revision in _kept:
        return _kept[revision]
    store = info.context.services.store
    totals, change = await asyncio.gather(store.portfolio_totals(), store.last_change())
    summary = _summary(totals, change)
    if totals.revision is not None and totals.revision == revision:
        if len(_kept) >= _MAX_KEPT:
            _kept.clear()
        _kept[totals.revision] = summary
    return summary
