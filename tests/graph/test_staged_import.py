"""Staged imports on the real database: readers see the previous portfolio until the last transaction,
an interrupted import is rolled back (or finished) by the next one, and nothing is left behind."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any

import pytest

from graph import staging_statements as staging
from graph.cypher import Query
from graph.entity_reads import EntityReads, PagedLabel, PageRequest
from graph.erasure import CustomerEraser, ErasureRequest
from graph.import_recovery import RecoveryOutcome
from graph.insight_store import InsightStore, LinkStatus, SuggestionWrite, ThemeWrite
from graph.portfolio import Feedback, Portfolio, Request
from graph.result_store import ResultWrite
from graph.store import GraphStore, normalise_portfolio
from tests.conftest import build_tiny_portfolio
from tests.graph.test_queries_live import everything_changed

pytestmark = pytest.mark.integration


class FailAt:
    """A query observer that records every statement and, once armed, raises before the first one named `prefix*`."""

    def __init__(self) -> None:
        self.prefix: str | None = None
        self.executed: set[str] = set()

    def arm(self, prefix: str | None) -> None:
        self.prefix = prefix

    def __call__(self, query: Query) -> None:
        if self.prefix is not None and query.name.startswith(self.prefix):
            self.prefix = None
            raise RuntimeError(f"injected failure before {query.name}")
        self.executed.add(query.name)


def staged_store(store: GraphStore, observer: FailAt, batch_size: int = 3) -> GraphStore:
    """Every import staged, in batches of `batch_size` rows."""
    return GraphStore(
        store.driver,
        store.database,
        batch_size=batch_size,
        single_transaction_rows=0,
        query_observer=observer,
    )


async def what_readers_see(store: GraphStore) -> dict[str, Any]:
    """The snapshot, the counts and the API's reads of every kind, for comparison."""
    reads = EntityReads(store.driver, store.database)
    snapshot = await store.portfolio_snapshot()
    feature_ids = [*[feature.id for feature in snapshot.features][:300], "f-new"]
    customer_ids = [customer.id for customer in snapshot.customers][:300]
    team_ids = [team.id for team in snapshot.teams]
    product_ids = [product.id for product in snapshot.products]
    pages = {
        label.value: [item.id for item in (await reads.page(label, PageRequest(limit=100))).items]
        for label in PagedLabel
    }
    return {
        "snapshot": snapshot,
        "counts": await store.counts(),
        "pages": pages,
        "feature_count": await reads.count(
            PagedLabel.FEATURE, {"product": product_ids[0] if product_ids else None}
        ),
        "features": await reads.features_by_ids(feature_ids),
        "prerequisites": await reads.features_with_prerequisites(feature_ids),
        "labels": await reads.labels_by_ids([*feature_ids, *customer_ids]),
        "requests": await reads.requests_by_feature_ids(feature_ids),
        "requests_by_customer": await reads.requests_by_customer_ids(customer_ids),
        "owned": await reads.owned_feature_ids_by_team_ids(team_ids),
        "product_features": await reads.feature_ids_by_product_ids(product_ids),
        "dependents": await reads.dependent_ids_by_feature_ids(feature_ids),
        "demand": await store.feature_demand(),
        "affected": await store.customers_affected(feature_ids),
        "teams": [await store.team_capacity(team_id) for team_id in team_ids[:20]],
    }


async def clean_import_counts(store: GraphStore, *portfolios: Portfolio) -> dict[str, int]:
    """Counts after importing `portfolios` in order, uninterrupted, into an empty graph."""
    await store.clear()
    for portfolio in portfolios:
        await store.import_portfolio(portfolio)
    return await store.physical_counts()


def portfolio_part(counts: dict[str, int], like: dict[str, int]) -> dict[str, int]:
    return {name: count for name, count in counts.items() if name in like}


async def test_readers_see_the_previous_portfolio_until_a_staged_import_commits(
    graph_store: GraphStore,
) -> None:
    observer = FailAt()
    store = staged_store(graph_store, observer)
    tiny, changed = build_tiny_portfolio(), everything_changed()
    assert not (await store.import_portfolio(tiny)).single_transaction
    previous, previous_revision = await what_readers_see(store), await store.revision()
    stored_before = await store.physical_counts()

    observer.arm("staging.commit")
    with pytest.raises(RuntimeError, match=re.escape("injected failure before staging.commit")):
        await store.import_portfolio(changed)

    assert await store.physical_counts() != stored_before  # every batch went in, staged
    assert await what_readers_see(store) == previous
    assert await store.revision() == previous_revision
    pending = await store.interrupted_import()
    assert pending is not None

    completed = await store.import_portfolio(changed)
    assert completed.finished_interrupted_import == pending.import_id
    assert completed.interrupted_import_outcome == RecoveryOutcome.ROLLED_BACK
    assert completed.revision not in (None, previous_revision, pending.import_id)
    assert await store.portfolio_snapshot() == normalise_portfolio(changed)
    assert await store.interrupted_import() is None
    recovered = await store.last_recovery()
    assert recovered is not None and recovered.revision == pending.import_id
    assert recovered.outcome == RecoveryOutcome.ROLLED_BACK

    stored = await store.physical_counts()
    assert stored == portfolio_part(await store.counts(), stored)  # no residue
    assert stored == await clean_import_counts(store, tiny, changed)


async def test_a_staged_import_interrupted_after_its_commit_is_seen_whole_and_finished_next(
    graph_store: GraphStore,
) -> None:
    observer = FailAt()
    store = staged_store(graph_store, observer)
    tiny, changed = build_tiny_portfolio(), everything_changed()
    await store.import_portfolio(tiny)

    observer.arm("staging.purge_retired")
    with pytest.raises(RuntimeError, match=re.escape("injected failure before staging.purge_retired")):
        await store.import_portfolio(changed)

    state = await store.revision_state()
    assert state.pending is None and state.settling is not None and state.token == state.settling.revision
    assert await store.portfolio_snapshot() == normalise_portfolio(changed)
    committed = await what_readers_see(store)
    assert await store.physical_counts() != portfolio_part(committed["counts"], await store.physical_counts())

    again = await store.import_portfolio(changed)
    assert again.interrupted_import_outcome == RecoveryOutcome.FINISHED
    assert again.finished_interrupted_import == state.settling.revision
    assert not again.changed and await store.revision() == state.token
    assert await what_readers_see(store) == committed
    stored = await store.physical_counts()
    assert stored == portfolio_part(await store.counts(), stored)
    assert stored == await clean_import_counts(store, tiny, changed)


async def test_every_staging_statement_runs_against_the_live_database(graph_store: GraphStore) -> None:
    tiny, changed = build_tiny_portfolio(), everything_changed()
    executed: set[str] = set()
    for failure in ("staging.commit", "staging.purge_retired", None):
        observer = FailAt()
        store = staged_store(graph_store, observer, batch_size=100)
        await store.clear()
        await store.import_portfolio(tiny)
        observer.arm(failure)
        if failure is None:
            await store.import_portfolio(changed)
        else:
            with pytest.raises(RuntimeError, match="injected failure"):
                await store.import_portfolio(changed)
            await store.import_portfolio(changed)  # rolls back, or finishes, the interrupted one
        executed |= observer.executed
    defined = {query.name for query in staging.STATEMENTS}
    assert defined - executed == set(), "staging statements never run against the live database"


async def test_the_thresholds_come_from_the_environment(
    graph_store: GraphStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LODESTAR_IMPORT_SINGLE_TRANSACTION_ROWS", "10")
    monkeypatch.setenv("LODESTAR_IMPORT_BATCH_SIZE", "3")
    store = GraphStore(graph_store.driver, graph_store.database)
    assert (store.single_transaction_rows, store.batch_size) == (10, 3)
    summary = await store.import_portfolio(build_tiny_portfolio())
    assert not summary.single_transaction and summary.transactions > 10
    monkeypatch.setenv("LODESTAR_IMPORT_BATCH_SIZE", "many")
    with pytest.raises(ValueError, match="LODESTAR_IMPORT_BATCH_SIZE='many' is not a whole number"):
        GraphStore(graph_store.driver, graph_store.database)


async def test_insight_and_erasure_reads_ignore_a_pending_staged_import(graph_store: GraphStore) -> None:
    """A pending import moves fb-1 to c-2, adds a request and a feedback item of c-2: the insight reads and
    the erasure's figures stay those of the committed portfolio, and erasing c-2 leaves c-1's fb-1 alone."""
    at = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    observer = FailAt()
    store = staged_store(graph_store, observer)
    tiny = build_tiny_portfolio()
    await store.import_portfolio(tiny)
    insight = InsightStore(store)
    digest = ResultWrite(
        id="insight-staged",
        run_id="run-staged",
        workflow_type="CustomerInsightWorkflow",
        snapshot_id="snap-test",
        as_of=date(2026, 11, 23),
        recorded_at=at,
        model_name="lodestar-offline",
        offline=True,
        headline="1 theme",
        figures={"theme_count": 1},
        cited_ids=["fb-1"],
        report_json="{}",
    )
    theme = ThemeWrite(
        id="insight-staged.theme-a",
        rank=1,
        label="sso",
        top_terms=["sso"],
        item_count=2,
        customer_count=2,
        arr=210_000.0,
        sentiment=0.2,
        trend_direction="steady",
        recent_count=1,
        previous_count=1,
        member_sentiments={"fb-1": -0.5, "fb-2": 0.9},
    )
    await insight.save_digest(
        digest, [theme], [SuggestionWrite(feedback_id="fb-2", feature_id="f-1", score=0.7)]
    )
    await insight.decide_link("fb-1", "f-2", LinkStatus.CONFIRMED, by="pm", at=at)

    async def insight_reads() -> dict[str, Any]:
        return {
            "members": await insight.theme_members(theme.id),
            "suggested": await insight.page_links(LinkStatus.SUGGESTED, skip=0, limit=10),
            "confirmed": await insight.page_links(LinkStatus.CONFIRMED, skip=0, limit=10),
            "counts": [await insight.count_links(status) for status in LinkStatus],
            "rejected": await insight.rejected_links(),
        }

    before = await insight_reads()
    assert {member.customer_id for member in before["members"]} == {"c-1", "c-3"}
    pending = tiny.model_copy(
        update={
            "feedback": [
                *(
                    f.model_copy(update={"customer_id": "c-2"}) if f.id == "fb-1" else f
                    for f in tiny.feedback
                ),
                Feedback(id="fb-staged", customer_id="c-2", text="Staged, unseen"),
            ],
            "requests": [*tiny.requests, Request(customer_id="c-2", feature_id="f-1", weight=1.0)],
        }
    )
    observer.arm("staging.commit")
    with pytest.raises(RuntimeError, match=re.escape("injected failure before staging.commit")):
        await store.import_portfolio(pending)
    assert await store.interrupted_import() is not None

    assert await insight_reads() == before
    report = await CustomerEraser(store).erase(ErasureRequest(customer_id="c-2", requested_by="test"))
    assert (report.customers, report.requests, report.product_usages, report.feedback) == (1, 2, 1, 0)
    snapshot = await store.portfolio_snapshot()
    assert {f.id: f.customer_id for f in snapshot.feedback} == {"fb-1": "c-1", "fb-2": "c-3"}
    assert (await store.physical_counts())["Feedback"] == 2  # the staged fb-staged went with c-2
