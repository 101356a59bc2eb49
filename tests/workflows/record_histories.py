"""Record one history of every workflow as a replay fixture: `python -m tests.workflows.record_histories`.

Starts a private local graph database and Temporal dev server in a temporary directory, imports the
demo portfolio, runs each workflow on the offline model (roadmap drafts: approved, expired, cancelled), and
writes `tests/workflows/histories/<WorkflowType>__<workflow id>.json` (Temporal's JSON history format).
Re-record only when a workflow change is deliberately incompatible (and then also add
`workflow.patched` for runs in flight); otherwise the old fixtures are exactly what must keep replaying.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from pathlib import Path

from temporalio.client import Client, WorkflowFailureError

from workflows import client as lodestar
from workflows.insight_payloads import InsightRunRequest
from workflows.payloads import Stage
from workflows.worker import build_worker

from .support import (
    AS_OF,
    demo_portfolio_for_tests,
    private_services,
    review_request,
    risk_request,
    roadmap_request,
    scenario_request,
    wait_for_stage,
)

HISTORIES = Path(__file__).parent / "histories"


def history_path(workflow_type: str, workflow_id: str) -> Path:
    return HISTORIES / f"{workflow_type}__{workflow_id}.json"


async def _save(client: Client, workflow_id: str) -> Path:
    handle = client.get_workflow_handle(workflow_id)
    workflow_type = (await handle.describe()).workflow_type
    history = await handle.fetch_history()
    path = history_path(workflow_type, workflow_id)
    path.write_text(history.to_json())
    return path


async def record(directory: Path) -> list[Path]:
    portfolio = demo_portfolio_for_tests()
    async with private_services(directory, portfolio) as (store, client):
        queue = "record-histories"
        async with build_worker(client, store, task_queue=queue, max_cached_workflows=0):
            ids = [
                await lodestar.start_scenario_simulation(
                    client, scenario_request(portfolio), task_queue=queue, workflow_id="scenario-fixture"
                ),
                await lodestar.start_risk_assessment(
                    client, risk_request(), task_queue=queue, workflow_id="risk-fixture"
                ),
                await lodestar.start_portfolio_review(
                    client, review_request(), task_queue=queue, workflow_id="review-fixture"
                ),
                await lodestar.start_insight_digest(
                    client, InsightRunRequest(as_of=AS_OF), task_queue=queue, workflow_id="insight-fixture"
                ),
            ]
            roadmap_id = await lodestar.start_roadmap_drafting(
                client, roadmap_request(), task_queue=queue, workflow_id="roadmap-fixture"
            )
            await wait_for_stage(client, roadmap_id, Stage.AWAITING_REVIEW)
            await lodestar.approve_roadmap(
                client, roadmap_id, reviewer="Fixture Reviewer", comment="recorded"
            )
            expiring_id = await lodestar.start_roadmap_drafting(
                client,
                roadmap_request(review_timeout_seconds=1.0),
                task_queue=queue,
                workflow_id="roadmap-expired-fixture",
            )
            cancelled_id = await lodestar.start_roadmap_drafting(
                client, roadmap_request(), task_queue=queue, workflow_id="roadmap-cancelled-fixture"
            )
            await wait_for_stage(client, cancelled_id, Stage.AWAITING_REVIEW)
            await lodestar.cancel_run(client, cancelled_id)
            ids += [roadmap_id, expiring_id]
            for workflow_id in ids:
                await lodestar.get_result(client, workflow_id)
            with contextlib.suppress(WorkflowFailureError):
                await lodestar.get_result(client, cancelled_id)
            ids.append(cancelled_id)
            HISTORIES.mkdir(exist_ok=True)
            for stale in HISTORIES.glob("*.json"):
                stale.unlink()
            return [await _save(client, workflow_id) for workflow_id in ids]


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="lodestar-histories-") as directory:
        for path in asyncio.run(record(Path(directory))):
            print(f"recorded {path} ({path.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()
