"""The roadmap agent cites the confirmed feedback (and its customers) behind a planned feature's demand."""

from __future__ import annotations

from agents.deps import AnalysisDeps
from agents.roadmap_agent import run_roadmap_drafting
from agents.snapshots import snapshots
from engines.scoring import CONFIRMED_FEEDBACK_WEIGHT
from tests.conftest import build_tiny_portfolio
from tests.engines.test_bias import AS_OF


async def test_the_roadmap_cites_confirmed_feedback_behind_a_features_demand() -> None:
    tiny = build_tiny_portfolio()
    confirmed = tiny.model_copy(
        update={
            "feedback": [
                # c-1 requests f-2 already, so fb-1 adds no demand and is not cited; c-3 (ARR 10k) does not
                item.model_copy(update={"confirmed_feature_ids": ["f-2"]})
                for item in tiny.feedback
            ]
        }
    )
    report = await run_roadmap_drafting(
        AnalysisDeps(snapshot_id=snapshots.put(confirmed), as_of=AS_OF, trials=200)
    )
    cited = [f for f in report.analysis.findings if f.statement.startswith("Confirmed customer feedback")]
    assert len(cited) == 1
    assert cited[0].evidence_ids == ["f-2", "fb-2", "c-3"]
    assert f"f-2 +{10_000 * CONFIRMED_FEEDBACK_WEIGHT:,.0f}" in cited[0].statement
    assert {"f-2", "fb-2", "c-3"} <= set(report.analysis.cited_ids())
    assert "fb-1" not in report.analysis.cited_ids()

    plain = await run_roadmap_drafting(AnalysisDeps(snapshot_id=snapshots.put(tiny), as_of=AS_OF, trials=200))
    assert not any(f.statement.startswith("Confirmed customer feedback") for f in plain.analysis.findings)
    assert "fb-2" not in plain.analysis.cited_ids()
