"""Portfolio reads cached across requests at one revision: reused while the portfolio is unchanged,
never served after an import changed it."""

from __future__ import annotations

from tests.api.conftest import ApiGraph, GraphQLClient

FEATURE = """
query($id: ID!) {
  feature(id: $id) { id name owner { id name } dependencies { id name } demand { requestCount } }
}
"""


async def test_reads_are_reused_until_an_import_changes_the_portfolio(
    gql: GraphQLClient, api_graph: ApiGraph
) -> None:
    portfolio = api_graph.portfolio
    feature = next(f for f in portfolio.features if f.depends_on and f.team_id is not None)
    await gql.data("{ me { role } }")  # the key is now verified and remembered

    before = api_graph.queries.round_trips
    first = (await gql.data(FEATURE, {"id": feature.id}))["feature"]
    cold = api_graph.queries.round_trips - before
    assert first["name"] == feature.name and [d["id"] for d in first["dependencies"]] == sorted(
        feature.depends_on
    )

    before = api_graph.queries.round_trips
    assert (await gql.data(FEATURE, {"id": feature.id}))["feature"] == first
    warm = api_graph.queries.round_trips - before
    assert warm == 1 < cold  # only the revision token: the feature, its links and demand are cached

    renamed = portfolio.model_copy(
        update={
            "features": [
                f.model_copy(update={"name": "Renamed by an import"}) if f.id == feature.id else f
                for f in portfolio.features
            ],
            "requests": [r for r in portfolio.requests if r.feature_id != feature.id],
        }
    )
    try:
        summary = await api_graph.store.import_portfolio(renamed)
        assert summary.revision is not None
        after = (await gql.data(FEATURE, {"id": feature.id}))["feature"]
        assert after["name"] == "Renamed by an import" and after["demand"]["requestCount"] == 0
        assert after["owner"] == first["owner"]
    finally:
        await api_graph.store.import_portfolio(portfolio)
    assert (await gql.data(FEATURE, {"id": feature.id}))["feature"] == first
