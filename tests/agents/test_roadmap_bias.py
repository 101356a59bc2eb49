"""The roadmap agent's report carries the bias report, and its narrative says when the plan is concentrated."""

from __future__ import annotations

from agents.deps import AnalysisDeps
from agents.roadmap_agent import run_roadmap_drafting
from agents.snapshots import snapshots
from graph.demo import generate_portfolio
from tests.conftest import build_tiny_portfolio
from tests.engines.test_bias import AS_OF


async def test_the_roadmap_narrative_says_when_the_plan_is_concentrated() -> None:
    concentrated = await run_roadmap_drafting(
        AnalysisDeps(snapshot_id=snapshots.put(build_tiny_portfolio()), as_of=AS_OF, trials=200)
    )
    assert concentrated.bias is not None and concentrated.bias.concentrated
    first = concentrated.analysis.findings[0]
    assert first.statement.startswith("Concentrated demand: the top 10 customers drive 100%")
    assert "2 planned features are driven by one customer alone" in first.statement
    assert first.evidence_ids == ["c-1", "c-2"]

    demo = generate_portfolio(seed=7, scale="small", anchor=AS_OF)
    spread = await run_roadmap_drafting(
        AnalysisDeps(snapshot_id=snapshots.put(demo), as_of=AS_OF, trials=200)
    )
    assert spread.bias is not None and not spread.bias.concentrated
    assert not any("Concentrated demand" in f.statement for f in spread.analysis.findings)
