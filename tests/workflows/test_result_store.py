"""Result nodes in the real local graph: idempotent writes, citations, roadmap lifecycle, review chain."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest

from graph import insight_statements, result_statements
from graph import result_store as results_module
from graph.cypher import Query
from graph.entity_reads import EntityReads
from graph.insight_store import InsightStore
from graph.portfolio import Portfolio
from graph.result_store import (
    RESULT_KINDS,
    ResultConflictError,
    ResultStateError,
    ResultStore,
    ResultWrite,
    RoadmapStatus,
)
from graph.store import GraphStore
from graph.vocabulary import NodeLabel

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
# One id of every portfolio label in the tiny portfolio (tests/conftest.py), plus one the graph lacks.
CITED = ["p-1", "t-1", "f-2", "c-1", "o-1", "r-1", "fb-1", "not-in-graph"]


def _write(result_id: str, *, run_id: str = "run-1", at: datetime = T0, **figures: object) -> ResultWrite:
    return ResultWrite(
        id=result_id,
        run_id=run_id,
        workflow_type="TestWorkflow",
        snapshot_id="snap-test",
        as_of=date(2026, 11, 23),
        recorded_at=at,
        model_name="lodestar-offline",
        offline=True,
        headline=f"headline of {result_id}",
        figures=figures,  # pyright: ignore[reportArgumentType]
        cited_ids=CITED,
        report_json=json.dumps({"result": result_id, "padding": "x" * 5_000}),
    )


async def _imported(store: GraphStore, portfolio: Portfolio) -> ResultStore:
    await store.import_portfolio(portfolio)
    return ResultStore(store)


async def test_a_retried_write_never_duplicates_and_never_changes_the_result(
    graph_store: GraphStore, tiny_portfolio: Portfolio
) -> None:
    store = await _imported(graph_store, tiny_portfolio)
    first = await store.save_result(
        NodeLabel.RISK_ASSESSMENT, _write("wf-1", arr_at_risk=200_000.0, kinds=["a"])
    )
    again = await store.save_result(
        NodeLabel.RISK_ASSESSMENT, _write("wf-1", at=T0 + timedelta(hours=1), arr_at_risk=1.0)
    )

    assert await store.count_results(NodeLabel.RISK_ASSESSMENT, "wf-1") == 1
    assert again == first
    assert first.figures == {"arr_at_risk": 200_000.0, "kinds": ["a"]}
    assert first.recorded_at == T0
    assert first.cited_ids == sorted(CITED)
    # Seven CITES relationships: the dangling id is kept in cited_ids only.
    assert first.cited_in_graph == sorted(CITED[:-1])
    counts = await graph_store.counts()
    assert counts["CITES"] == 7
    assert counts["RiskAssessment"] == 1
    stored = await store.get_result(NodeLabel.RISK_ASSESSMENT, "wf-1", with_report=True)
    assert stored is not None and stored.report_json is not None
    assert json.loads(stored.report_json)["result"] == "wf-1"
    assert stored.report_stored and stored.report_chars == len(stored.report_json)


async def test_another_run_with_the_same_workflow_id_is_refused(graph_store: GraphStore) -> None:
    store = ResultStore(graph_store)
    await store.save_result(NodeLabel.SCENARIO_ANALYSIS, _write("wf-2", run_id="run-a"))
    with pytest.raises(ResultConflictError, match="run-a"):
        await store.save_result(NodeLabel.SCENARIO_ANALYSIS, _write("wf-2", run_id="run-b"))
    stored = await store.get_result(NodeLabel.SCENARIO_ANALYSIS, "wf-2")
    assert stored is not None and stored.run_id == "run-a"


async def test_an_oversized_report_is_flagged_not_stored(
    graph_store: GraphStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(results_module, "MAX_STORED_REPORT_CHARS", 10)
    store = ResultStore(graph_store)
    await store.save_result(NodeLabel.SCENARIO_ANALYSIS, _write("wf-big"))
    stored = await store.get_result(NodeLabel.SCENARIO_ANALYSIS, "wf-big", with_report=True)
    assert stored is not None
    assert not stored.report_stored and stored.report_json is None
    assert stored.report_chars > 5_000


async def test_roadmap_lifecycle_keeps_exactly_one_current_version(graph_store: GraphStore) -> None:
    store = ResultStore(graph_store)
    assert await store.current_roadmap() is None
    assert await store.current_roadmap_markers() == (0, 0)
    first = await store.save_roadmap_draft(_write("road-1"))
    second = await store.save_roadmap_draft(_write("road-2", at=T0 + timedelta(hours=1)))
    assert first.roadmap is not None and second.roadmap is not None
    assert (first.roadmap.version, second.roadmap.version) == (1, 2)
    assert first.roadmap.status is RoadmapStatus.DRAFT and not first.roadmap.current
    # A retried draft write keeps its version number.
    retried = await store.save_roadmap_draft(_write("road-1"))
    assert retried.roadmap is not None and retried.roadmap.version == 1

    published = await store.publish_roadmap("road-1", reviewer="ann", comment="ship it", at=T0)
    assert published.roadmap is not None
    assert published.roadmap.status is RoadmapStatus.PUBLISHED and published.roadmap.current
    assert published.roadmap.reviewer == "ann" and published.roadmap.review_comment == "ship it"
    assert await store.current_roadmap_markers() == (1, 1)

    await store.publish_roadmap("road-2", reviewer="bob", comment="", at=T0 + timedelta(hours=2))
    current = await store.current_roadmap()
    assert current is not None and current.id == "road-2"
    superseded = await store.get_result(NodeLabel.ROADMAP_VERSION, "road-1")
    assert superseded is not None and superseded.roadmap is not None
    assert not superseded.roadmap.current and superseded.roadmap.superseded_by == "road-2"
    assert await store.current_roadmap_markers() == (1, 1)

    # Publishing again is a no-op (a retried activity), even for a superseded version.
    await store.publish_roadmap("road-1", reviewer="ann", comment="again", at=T0 + timedelta(hours=3))
    current = await store.current_roadmap()
    assert current is not None and current.id == "road-2"
    assert await store.current_roadmap_markers() == (1, 1)

    third = await store.save_roadmap_draft(_write("road-3", at=T0 + timedelta(hours=4)))
    assert third.roadmap is not None and third.roadmap.version == 3
    rejected = await store.close_roadmap_draft(
        "road-3", RoadmapStatus.REJECTED, reviewer="cy", comment="no", at=T0 + timedelta(hours=5)
    )
    assert rejected.roadmap is not None and rejected.roadmap.status is RoadmapStatus.REJECTED
    again = await store.close_roadmap_draft(
        "road-3", RoadmapStatus.REJECTED, reviewer="cy", comment="no", at=T0 + timedelta(hours=6)
    )
    assert again == rejected
    with pytest.raises(ResultStateError, match="rejected, not a draft"):
        await store.publish_roadmap("road-3", reviewer="dee", comment="", at=T0)
    with pytest.raises(ResultStateError, match="published, not a draft"):
        await store.close_roadmap_draft("road-2", RoadmapStatus.EXPIRED, reviewer=None, comment=None, at=T0)
    with pytest.raises(ResultStateError, match="not in the graph"):
        await store.publish_roadmap("road-404", reviewer="ann", comment="", at=T0)
    assert await store.current_roadmap_markers() == (1, 1)


async def test_reviews_follow_each_other_and_include_their_risk_assessment(graph_store: GraphStore) -> None:
    store = ResultStore(graph_store)
    await store.save_result(NodeLabel.RISK_ASSESSMENT, _write("risk-1"))
    assert await store.previous_review("rev-1", T0) is None
    first = await store.save_review(
        _write("rev-1", arr_at_risk=10.0), previous_review_id=None, risk_assessment_id="risk-1"
    )
    assert first.previous_review_id is None and first.risk_assessment_id == "risk-1"
    later = T0 + timedelta(days=7)
    previous = await store.previous_review("rev-2", later)
    assert previous is not None and previous.id == "rev-1"
    second = await store.save_review(
        _write("rev-2", at=later, arr_at_risk=12.0), previous_review_id="rev-1", risk_assessment_id=None
    )
    assert second.previous_review_id == "rev-1"
    # Only reviews recorded at or before the given time count: rev-2 is not rev-1's predecessor.
    assert await store.previous_review("rev-1", T0) is None
    listed = await store.list_results(NodeLabel.PORTFOLIO_REVIEW)
    assert [r.id for r in listed] == ["rev-2", "rev-1"]
    assert all(r.report_json is None for r in listed)


async def test_every_result_query_runs_against_the_live_graph(
    graph_store: GraphStore, tiny_portfolio: Portfolio
) -> None:
    seen: set[str] = set()

    def observe(query: Query) -> None:
        seen.add(query.name)

    await graph_store.import_portfolio(tiny_portfolio)
    store = ResultStore(graph_store, query_observer=observe)
    for label in (NodeLabel.SCENARIO_ANALYSIS, NodeLabel.RISK_ASSESSMENT):
        await store.save_result(label, _write(f"{label.value}-1"))
    await store.save_roadmap_draft(_write("road-a"))
    await store.save_roadmap_draft(_write("road-b"))
    await store.publish_roadmap("road-a", reviewer="ann", comment="", at=T0)
    await store.close_roadmap_draft("road-b", RoadmapStatus.CANCELLED, reviewer=None, comment=None, at=T0)
    await store.current_roadmap()
    await store.current_roadmap_markers()
    await store.save_review(_write("rev-a"), previous_review_id=None, risk_assessment_id="RiskAssessment-1")
    await store.save_review(
        _write("rev-b", at=T0 + timedelta(days=1)), previous_review_id="rev-a", risk_assessment_id=None
    )
    await store.previous_review("rev-c", T0 + timedelta(days=2))
    await InsightStore(graph_store, query_observer=observe).save_digest(_write("digest-a"), [], [])
    for label in RESULT_KINDS:
        await store.list_results(label, limit=5)
        await store.page_results(label, limit=5, after="nope")
        assert await store.count_all_results(label) >= 0
        assert await store.count_results(label, "nope") == 0
        await store.get_result(label, "nope")
    summaries = EntityReads(graph_store.driver, graph_store.database, observer=observe)
    written = {
        NodeLabel.SCENARIO_ANALYSIS: "ScenarioAnalysis-1",
        NodeLabel.RISK_ASSESSMENT: "RiskAssessment-1",
        NodeLabel.ROADMAP_VERSION: "road-a",
        NodeLabel.PORTFOLIO_REVIEW: "rev-a",
        NodeLabel.INSIGHT_DIGEST: "digest-a",
    }
    for label, result_id in written.items():
        assert await summaries.result_properties(label, result_id) is not None
        assert await summaries.result_report(label, result_id) is not None
    assert await summaries.current_roadmap_properties("roadmap") is not None
    counts = await graph_store.counts()
    # Every result cites the same 7 graph nodes: 7 results x 7 = 49 CITES.
    assert counts["CITES"] == 49
    assert (counts["FOLLOWS"], counts["INCLUDES"], counts["CURRENT"]) == (1, 1, 1)
    assert await store.delete_all_results() == 2 + 2 + 2 + 1 + 1  # results + the roadmap head
    insight = {query.name for query in insight_statements.STATEMENTS}
    assert seen - insight == {query.name for query in result_statements.STATEMENTS}
    after = await graph_store.counts()
    assert all(after[label.value] == 0 for label in RESULT_KINDS)
    assert after["Feature"] == len(tiny_portfolio.features)
