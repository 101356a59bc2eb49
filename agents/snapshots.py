"""Portfolio snapshots by id, so agent deps and workflow payloads carry an id instead of the graph.

A snapshot id is a content hash of the portfolio. Each process keeps the few most recent snapshots;
when a tool runs in a process that has not seen the snapshot (another Temporal worker, say), the
registry reloads the portfolio through its loader and checks that it still hashes to the same id.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from graph.portfolio import Portfolio

SnapshotLoader = Callable[[], Awaitable[Portfolio]]


class SnapshotUnavailableError(RuntimeError):
    """The snapshot is not cached here and the graph no longer holds the same portfolio."""


def snapshot_id_of(portfolio: Portfolio) -> str:
    return "snap-" + hashlib.sha256(portfolio.model_dump_json().encode()).hexdigest()[:20]


def portfolio_ids(portfolio: Portfolio) -> frozenset[str]:
    """Every node id in the portfolio: the ids an agent may cite."""
    ids: set[str] = set()
    for collection in (
        portfolio.products,
        portfolio.teams,
        portfolio.features,
        portfolio.customers,
        portfolio.objectives,
        portfolio.releases,
        portfolio.feedback,
    ):
        ids.update(entity.id for entity in collection)
    return frozenset(ids)


class SnapshotRegistry:
    def __init__(self, *, keep: int = 4) -> None:
        self._keep = keep
        self._portfolios: OrderedDict[str, Portfolio] = OrderedDict()
        self._ids: dict[str, frozenset[str]] = {}
        self._loader: SnapshotLoader | None = None
        self._lock = asyncio.Lock()

    def set_loader(self, loader: SnapshotLoader | None) -> None:
        self._loader = loader

    def put(self, portfolio: Portfolio, snapshot_id: str | None = None) -> str:
        snapshot_id = snapshot_id or snapshot_id_of(portfolio)
        self._portfolios[snapshot_id] = portfolio
        self._portfolios.move_to_end(snapshot_id)
        while len(self._portfolios) > self._keep:
            evicted, _ = self._portfolios.popitem(last=False)
            self._ids.pop(evicted, None)
        return snapshot_id

    def cached(self, snapshot_id: str) -> Portfolio | None:
        return self._portfolios.get(snapshot_id)

    def known_ids(self, snapshot_id: str) -> frozenset[str] | None:
        """The snapshot's node ids if this process holds it; never does I/O."""
        portfolio = self._portfolios.get(snapshot_id)
        if portfolio is None:
            return None
        if snapshot_id not in self._ids:
            self._ids[snapshot_id] = portfolio_ids(portfolio)
        return self._ids[snapshot_id]

    async def get(self, snapshot_id: str) -> Portfolio:
        portfolio = self._portfolios.get(snapshot_id)
        if portfolio is not None:
            return portfolio
        async with self._lock:
            if (portfolio := self._portfolios.get(snapshot_id)) is not None:
                return portfolio
            if self._loader is None:
                raise SnapshotUnavailableError(
                    f"snapshot {snapshot_id} is not loaded and no loader is configured"
                )
            portfolio = await self._loader()
            loaded_id = snapshot_id_of(portfolio)
            if loaded_id != snapshot_id:
                raise SnapshotUnavailableError(
                    f"snapshot {snapshot_id} is gone: the graph now holds {loaded_id}; start a new run"
                )
            self.put(portfolio, snapshot_id)
            return portfolio


snapshots = SnapshotRegistry()
"""This process's registry. The CLI and the worker give it a loader that reads the graph."""
