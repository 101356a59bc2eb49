"""`load_snapshot` heartbeats while it reads the portfolio, so a worker killed during a large read is
noticed by the heartbeat timeout, not the start-to-close timeout."""

from __future__ import annotations

import pytest
from temporalio.testing import ActivityEnvironment

from agents.snapshots import SnapshotRegistry
from graph.portfolio import Portfolio
from graph.store import GraphStore
from workflows.activities import LodestarActivities
from workflows.payloads import SnapshotRequest

from .support import AS_OF

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


async def test_loading_a_snapshot_heartbeats_until_the_read_is_done(
    demo_store: GraphStore, demo_portfolio: Portfolio
) -> None:
    registry = SnapshotRegistry(keep=1)
    activities = LodestarActivities(demo_store, registry=registry, heartbeat_interval=0.005)
    environment = ActivityEnvironment()
    heartbeats: list[object] = []
    environment.on_heartbeat = lambda *details: heartbeats.append(details)

    loaded = await environment.run(activities.load_snapshot, SnapshotRequest(as_of=AS_OF))

    assert heartbeats, "the read of the demo portfolio outlasted several heartbeat intervals"
    assert loaded.counts["features"] == len(demo_portfolio.features)
    assert registry.cached(loaded.snapshot_id) is not None
