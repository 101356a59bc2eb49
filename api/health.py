"""Whether the graph and Temporal answer: `/healthz` (liveness) and `/readyz` (readiness).

`/healthz` never waits on anything: it reports that the process serves requests, with the last known
status of each component (from the last readiness check or the last request that needed it).
`/readyz` asks each component now, with a short timeout: the graph with `RETURN 1`, Temporal with its
gRPC health check. The replica is ready when the graph answers; Temporal is reported beside it, since
reads work without it and every replica shares the same Temporal service.

A stalled graph server leaves a statement waiting with no end of its own, so at most one graph probe
is in flight: a readiness check while it is still waiting reports the graph unavailable at once
instead of stacking up another waiting statement per check.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Any

import neo4j
from temporalio.client import Client


class ComponentState(StrEnum):
    UNKNOWN = "unknown"
    """Not asked yet."""
    AVAILABLE = "available"
    UNAVAILABLE = "unavailable"
    NOT_CONFIGURED = "not configured"


@dataclass(frozen=True)
class ComponentStatus:
    state: ComponentState
    detail: str | None = None
    checked_at: float | None = None
    """`time.time()` of the observation."""

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"status": self.state.value}
        if self.detail is not None:
            body["detail"] = self.detail
        if self.checked_at is not None:
            body["checkedAt"] = round(self.checked_at, 3)
        return body


class ComponentHealth:
    """The last known status of one component, and a check that asks it again (one check in flight)."""

    def __init__(self, name: str, check: Callable[[], Awaitable[None]] | None) -> None:
        self.name = name
        self._check = check
        self._in_flight: asyncio.Task[None] | None = None
        self.status = ComponentStatus(
            ComponentState.UNKNOWN if check is not None else ComponentState.NOT_CONFIGURED
        )

    def observe(self, available: bool, detail: str | None = None) -> None:
        """Record what a request just saw of the component."""
        if self._check is None:
            return
        state = ComponentState.AVAILABLE if available else ComponentState.UNAVAILABLE
        self.status = ComponentStatus(state, detail, time.time())

    async def check(self, timeout_s: float) -> ComponentStatus:
        """Ask the component now; unavailable if it does not answer within `timeout_s`."""
        if self._check is None:
            return self.status
        if self._in_flight is None or self._in_flight.done():
            self._in_flight = asyncio.ensure_future(self._check())
            self._in_flight.add_done_callback(_retrieve_outcome)
        try:
            async with asyncio.timeout(timeout_s):
                await asyncio.shield(self._in_flight)
        except TimeoutError:
            self.observe(False, f"no answer within {timeout_s:g} s")
        except Exception as error:  # any failure of the check means "unavailable"
            self.observe(False, type(error).__name__)
        else:
            self.observe(True)
        return self.status


def _retrieve_outcome(task: asyncio.Task[None]) -> None:
    if not task.cancelled():
        task.exception()  # a check nobody waits for any more is not reported as "never retrieved"


def graph_check(driver: neo4j.AsyncDriver, database: str) -> Callable[[], Awaitable[None]]:
    async def check() -> None:
        # A plain auto-commit statement: a managed transaction would retry for its own 30 s.
        async with driver.session(database=database) as session:
            result = await session.run("RETURN 1 AS ready")
            await result.consume()

    return check


def temporal_check(client: Client, timeout_s: float) -> Callable[[], Awaitable[None]]:
    async def check() -> None:
        if not await client.service_client.check_health(timeout=timedelta(seconds=timeout_s)):
            raise RuntimeError("the workflow service is not serving")

    return check


class HealthMonitor:
    """The graph's and Temporal's status for `/healthz` and `/readyz`."""

    def __init__(
        self,
        driver: neo4j.AsyncDriver,
        database: str,
        temporal: Client | None,
        *,
        timeout_s: float,
    ) -> None:
        self.timeout_s = timeout_s
        self.graph = ComponentHealth("graph", graph_check(driver, database))
        self.temporal = ComponentHealth(
            "temporal", temporal_check(temporal, timeout_s) if temporal is not None else None
        )

    def liveness(self) -> dict[str, Any]:
        """The process is alive; the components as last seen (nothing is asked)."""
        return {
            "status": "ok",
            "graph": self.graph.status.as_json(),
            "temporal": self.temporal.status.as_json(),
        }

    async def readiness(self) -> tuple[bool, dict[str, Any]]:
        """Ask both components now (concurrently); ready when the graph answers."""
        graph, temporal = await asyncio.gather(
            self.graph.check(self.timeout_s), self.temporal.check(self.timeout_s)
        )
        ready = graph.state is ComponentState.AVAILABLE
        if not ready:
            status = "unavailable"
        elif temporal.state is ComponentState.UNAVAILABLE:
            status = "degraded"
        else:
            status = "ready"
        return ready, {"status": status, "graph": graph.as_json(), "temporal": temporal.as_json()}
