"""The portfolio's revision token: a fresh one for every import that changes the graph, in its last transaction."""

from __future__ import annotations

from graph.portfolio import Portfolio
from graph.store import GraphStore


async def test_an_import_that_changes_the_graph_sets_a_fresh_revision(
    graph_store: GraphStore, tiny_portfolio: Portfolio
) -> None:
    assert await graph_store.revision() is None
    first = await graph_store.import_portfolio(tiny_portfolio)
    assert first.revision is not None and await graph_store.revision() == first.revision

    unchanged = await graph_store.import_portfolio(tiny_portfolio)
    assert not unchanged.changed and unchanged.revision is None
    assert await graph_store.revision() == first.revision

    renamed = tiny_portfolio.model_copy(
        update={
            "features": [
                tiny_portfolio.features[0].model_copy(update={"name": "Renamed"}),
                *tiny_portfolio.features[1:],
            ]
        }
    )
    second = await graph_store.import_portfolio(renamed)
    assert second.revision not in (None, first.revision)
    assert await graph_store.revision() == second.revision


async def test_a_batched_import_marks_its_revision_in_a_last_transaction(
    graph_store: GraphStore, tiny_portfolio: Portfolio
) -> None:
    graph_store.single_transaction_rows = 1
    try:
        summary = await graph_store.import_portfolio(tiny_portfolio)
    finally:
        graph_store.single_transaction_rows = GraphStore(
            graph_store.driver, graph_store.database
        ).single_transaction_rows
    assert not summary.single_transaction and summary.revision is not None
    assert await graph_store.revision() == summary.revision
    await graph_store.clear()
    assert await graph_store.revision() is None


async def test_ensure_schema_gives_a_graph_without_a_revision_one(
    graph_store: GraphStore, tiny_portfolio: Portfolio
) -> None:
    assert await graph_store.revision() is None
    await graph_store.ensure_schema()
    token = await graph_store.revision()
    assert token is not None
    await graph_store.ensure_schema()
    assert await graph_store.revision() == token  # kept: ensure_schema never changes an existing token
