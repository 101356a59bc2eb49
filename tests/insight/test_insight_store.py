"""The insight store on the real graph database, over the hand-built tiny portfolio: a digest with its themes and
suggestions, link decisions feeding the snapshot and the demand, theme changes, appended feedback, and feedback's
`source` and `external_id` through the CSV and JSON import. Every insight statement runs here."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from engines.scoring import CONFIRMED_FEEDBACK_WEIGHT, confirmed_feedback_demand, score_features
from graph import insight_statements
from graph.cypher import Query
from graph.insight_store import (
    AppendFeedbackError,
    InsightNotFoundError,
    InsightStateError,
    InsightStore,
    LinkStatus,
    SuggestionWrite,
    ThemeWrite,
    feedback_id_for,
)
from graph.portfolio import Feedback, Portfolio
from graph.portfolio_files import dump_csv_dir, dump_json, load_csv_dir, load_json
from graph.result_store import ResultConflictError, ResultStore, ResultWrite
from graph.store import GraphStore, normalise_portfolio
from graph.vocabulary import NodeLabel

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

AT = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def digest_write(digest_id: str, run_id: str = "run-1") -> ResultWrite:
    return ResultWrite(
        id=digest_id,
        run_id=run_id,
        workflow_type="CustomerInsightWorkflow",
        snapshot_id="snap-test",
        as_of=date(2026, 11, 23),
        recorded_at=AT,
        model_name="lodestar-offline",
        offline=True,
        headline="2 themes",
        figures={"theme_count": 2},
        cited_ids=["fb-1", "c-3"],
        report_json="{}",
    )


def themes(digest_id: str) -> list[ThemeWrite]:
    common = {"top_terms": ["sso"], "trend_direction": "steady", "recent_count": 1, "previous_count": 0}
    return [
        ThemeWrite(
            id=f"{digest_id}.theme-a",
            rank=1,
            label="sso / login",
            item_count=1,
            customer_count=1,
            arr=100_000.0,
            sentiment=-0.5,
            member_sentiments={"fb-1": -0.5},
            **common,
        ),
        ThemeWrite(
            id=f"{digest_id}.theme-b",
            rank=2,
            label="love",
            item_count=1,
            customer_count=1,
            arr=10_000.0,
            sentiment=0.9,
            member_sentiments={"fb-2": 0.9},
            **{**common, "top_terms": ["love", "sso"]},
        ),
    ]


async def test_every_insight_statement_runs_and_the_store_keeps_themes_links_and_decisions(
    graph_store: GraphStore, tiny_portfolio: Portfolio
) -> None:
    await graph_store.import_portfolio(tiny_portfolio)
    seen: list[Query] = []
    store = InsightStore(graph_store, query_observer=seen.append)
    suggestions = [SuggestionWrite(feedback_id="fb-2", feature_id="f-3", score=0.61)]
    await store.save_digest(digest_write("insight-1"), themes("insight-1"), suggestions)
    await store.save_digest(digest_write("insight-1"), themes("insight-1"), suggestions)  # a retried write
    with pytest.raises(ResultConflictError):
        await store.save_digest(digest_write("insight-1", run_id="run-2"), [], [])
    assert await ResultStore(graph_store).count_results(NodeLabel.INSIGHT_DIGEST, "insight-1") == 1
    stored = await ResultStore(graph_store).get_result(NodeLabel.INSIGHT_DIGEST, "insight-1")
    assert stored is not None and stored.cited_in_graph == ["c-3", "fb-1"]

    assert await store.latest_digest_id() == "insight-1"
    assert await store.count_themes("insight-1") == 2
    page = await store.page_themes("insight-1", limit=1)
    assert [t.id for t in page] == ["insight-1.theme-a"]
    assert [t.id for t in await store.page_themes("insight-1", limit=5, after=page[0].id)] == [
        "insight-1.theme-b"
    ]
    members = await store.theme_members("insight-1.theme-a")
    assert [(m.feedback_id, m.customer_id, m.sentiment, m.imported_sentiment) for m in members] == [
        ("fb-1", "c-1", -0.5, -0.5)
    ]

    suggested = await store.page_links(LinkStatus.SUGGESTED, skip=0, limit=10)
    assert [(link.feedback_id, link.feature_id, link.score) for link in suggested] == [("fb-2", "f-3", 0.61)]
    assert await store.count_links(LinkStatus.SUGGESTED, feature_id="f-3") == 1

    before = await graph_store.portfolio_snapshot()
    revision = await graph_store.revision()
    confirmed = await store.decide_link("fb-2", "f-3", LinkStatus.CONFIRMED, by="pm", at=AT)
    assert (confirmed.status, confirmed.score, confirmed.decided_by) == (LinkStatus.CONFIRMED, 0.61, "pm")
    assert await store.count_links(LinkStatus.SUGGESTED) == 0
    assert [link.feedback_id for link in await store.page_links(LinkStatus.CONFIRMED, skip=0, limit=5)] == [
        "fb-2"
    ]
    assert await graph_store.revision() != revision

    after = await graph_store.portfolio_snapshot()
    assert {f.id: f.confirmed_feature_ids for f in after.feedback} == {"fb-1": [], "fb-2": ["f-3"]}
    assert confirmed_feedback_demand(after) == [("c-3", "f-3")]
    demand = {
        s.feature_id: s.demand.inputs["arr_weighted_demand"] for s in score_features(after, as_of=AT.date())
    }
    was = {
        s.feature_id: s.demand.inputs["arr_weighted_demand"] for s in score_features(before, as_of=AT.date())
    }
    assert demand["f-3"] == pytest.approx((was["f-3"] or 0.0) + 10_000.0 * CONFIRMED_FEEDBACK_WEIGHT)
    assert {k: v for k, v in demand.items() if k != "f-3"} == {k: v for k, v in was.items() if k != "f-3"}

    # fb-1 is from c-1, who requests f-2: confirming that link adds no demand; rejecting overwrites a decision.
    await store.decide_link("fb-1", "f-2", LinkStatus.CONFIRMED, by="pm", at=AT)
    assert confirmed_feedback_demand(await graph_store.portfolio_snapshot()) == [("c-3", "f-3")]
    await store.decide_link("fb-1", "f-2", LinkStatus.REJECTED, by="pm", at=AT)
    assert await store.rejected_links() == [("fb-1", "f-2")]
    assert await store.count_links(LinkStatus.REJECTED, feedback_id="fb-1") == 1
    await store.save_digest(
        digest_write("insight-2", run_id="run-3"),
        [],
        [SuggestionWrite(feedback_id="fb-1", feature_id="f-2", score=0.9)],
    )
    assert await store.count_links(LinkStatus.SUGGESTED) == 0  # a decided pair is never suggested again
    with pytest.raises(InsightNotFoundError):
        await store.decide_link("fb-9", "f-1", LinkStatus.CONFIRMED, by="pm", at=AT)
    with pytest.raises(InsightNotFoundError):
        await store.decide_link("fb-1", "f-9", LinkStatus.REJECTED, by="pm", at=AT)

    renamed = await store.rename_theme("insight-1.theme-b", "Praise", by="pm", at=AT)
    assert (renamed.label, renamed.generated_label, renamed.renamed_by) == ("Praise", "love", "pm")
    with pytest.raises(InsightNotFoundError):
        await store.rename_theme("theme-none", "x", by="pm", at=AT)
    merged = await store.merge_themes("insight-1.theme-a", "insight-1.theme-b", by="pm", at=AT)
    arr = {c.id: c.arr for c in tiny_portfolio.customers}
    assert (merged.item_count, merged.customer_count, merged.arr) == (2, 2, arr["c-1"] + arr["c-3"])
    assert merged.sentiment == pytest.approx(0.2)
    assert (merged.recent_count, merged.top_terms) == (2, ["sso", "love"])
    assert await store.count_themes("insight-1") == 1
    assert {m.feedback_id for m in await store.theme_members("insight-1.theme-a")} == {"fb-1", "fb-2"}
    with pytest.raises(InsightStateError):
        await store.merge_themes("insight-1.theme-a", "insight-1.theme-b", by="pm", at=AT)
    with pytest.raises(InsightStateError):
        await store.merge_themes("insight-1.theme-a", "insight-1.theme-a", by="pm", at=AT)

    item = Feedback(
        id=feedback_id_for("zendesk", "T-1"),
        customer_id="c-2",
        feature_id="f-4",
        text="Alerts are slow",
        source="zendesk",
        external_id="T-1",
    )
    assert (await store.append_feedback([item])).created_ids == [item.id]
    again = await store.append_feedback([item])
    assert (again.created_ids, again.unchanged_ids) == ([], [item.id])
    with pytest.raises(AppendFeedbackError) as refused:
        await store.append_feedback([item.model_copy(update={"id": "fb-new", "customer_id": "c-9"})])
    assert refused.value.problems == [(0, "customerId", "no customer with id 'c-9'")]
    appended = {f.id: f for f in (await graph_store.portfolio_snapshot()).feedback}[item.id]
    assert appended == item

    # Re-importing the portfolio leaves decisions, themes and appended feedback as they are.
    summary = await graph_store.import_portfolio(tiny_portfolio)
    assert not summary.changed
    assert confirmed_feedback_demand(await graph_store.portfolio_snapshot()) == [("c-3", "f-3")]
    assert await store.count_themes("insight-1") == 1

    assert {q.name for q in insight_statements.STATEMENTS} <= {q.name for q in seen}
    assert await ResultStore(graph_store).delete_all_results() > 0
    assert await store.latest_digest_id() is None


async def test_feedback_source_and_external_id_survive_json_and_csv(
    tmp_path: Path, tiny_portfolio: Portfolio
) -> None:
    feedback = [
        tiny_portfolio.feedback[0].model_copy(update={"source": "zendesk", "external_id": "T-42"}),
        *tiny_portfolio.feedback[1:],
    ]
    portfolio = tiny_portfolio.model_copy(update={"feedback": feedback})
    dump_json(portfolio, tmp_path / "portfolio.json")
    dump_csv_dir(portfolio, tmp_path / "csv")
    for loaded in (load_json(tmp_path / "portfolio.json"), load_csv_dir(tmp_path / "csv")):
        by_id = {f.id: f for f in loaded.feedback}
        assert (by_id["fb-1"].source, by_id["fb-1"].external_id) == ("zendesk", "T-42")
        assert (by_id["fb-2"].source, by_id["fb-2"].external_id) == (None, None)


async def test_feedback_source_and_external_id_round_trip_through_the_graph(
    graph_store: GraphStore, tiny_portfolio: Portfolio
) -> None:
    feedback = [
        f.model_copy(update={"source": "survey", "external_id": f"S-{f.id}"}) for f in tiny_portfolio.feedback
    ]
    portfolio = tiny_portfolio.model_copy(update={"feedback": feedback})
    await graph_store.import_portfolio(portfolio)
    assert await graph_store.portfolio_snapshot() == normalise_portfolio(portfolio)
    assert not (await graph_store.import_portfolio(portfolio)).changed
