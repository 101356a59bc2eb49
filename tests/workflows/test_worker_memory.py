"""A worker freezes the snapshots it loads out of the garbage collector's full collections (a full
collection holds the GIL against Temporal's 2 s deadlock detection), and a frozen snapshot is still freed
once the registry lets it go."""

from __future__ import annotations

import gc

import pytest
from temporalio.testing import ActivityEnvironment

from agents.snapshots import SnapshotRegistry
from graph.portfolio import Portfolio
from graph.store import GraphStore
from workflows.activities import LodestarActivities
from workflows.payloads import SnapshotRequest

from .support import AS_OF

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


async def test_a_loaded_snapshot_is_frozen_and_freed_when_evicted(
    demo_store: GraphStore, demo_portfolio: Portfolio
) -> None:
    registry = SnapshotRegistry(keep=1)
    activities = LodestarActivities(demo_store, registry=registry)
    gc.collect()
    gc.freeze()  # what lives already, so that the counts below are the load's own objects
    before = gc.get_freeze_count()

    loaded = await ActivityEnvironment().run(activities.load_snapshot, SnapshotRequest(as_of=AS_OF))

    frozen = gc.get_freeze_count() - before
    entities = len(demo_portfolio.features) + len(demo_portfolio.customers) + len(demo_portfolio.feedback)
    assert frozen > entities, "the snapshot's objects are out of the collector's generations"
    assert registry.cached(loaded.snapshot_id) is not None

    registry.put(demo_portfolio.model_copy(update={"features": demo_portfolio.features[:1]}), "other")
    assert registry.cached(loaded.snapshot_id) is None
    assert gc.get_freeze_count() - before < frozen / 10, "the evicted snapshot was freed all the same"
