"""A team's holidays (for the working-day calendar) survive JSON, CSV and the graph store."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from graph.portfolio import Portfolio, Team
from graph.portfolio_files import dump_csv_dir, dump_json, load_csv_dir, load_json
from graph.store import GraphStore, normalise_portfolio
from tests.conftest import build_tiny_portfolio

HOLIDAYS = [date(2025, 12, 26), date(2025, 12, 25), date(2026, 1, 1), date(2025, 12, 25)]


def with_holidays() -> Portfolio:
    tiny = build_tiny_portfolio()
    teams = [t.model_copy(update={"holidays": HOLIDAYS}) if t.id == "t-1" else t for t in tiny.teams]
    return tiny.model_copy(update={"teams": [Team.model_validate(t.model_dump()) for t in teams]})


def test_holidays_are_sorted_and_unique() -> None:
    team = Team(id="t", name="T", headcount=1, capacity=1, holidays=HOLIDAYS)
    assert team.holidays == [date(2025, 12, 25), date(2025, 12, 26), date(2026, 1, 1)]
    assert Team(id="t", name="T", headcount=1, capacity=1).holidays == []


def test_holidays_round_trip_through_json_and_csv(tmp_path: Path) -> None:
    portfolio = with_holidays()
    dump_json(portfolio, tmp_path / "portfolio.json")
    assert load_json(tmp_path / "portfolio.json") == portfolio
    dump_csv_dir(portfolio, tmp_path / "csv")
    assert "2025-12-25;2025-12-26;2026-01-01" in (tmp_path / "csv" / "teams.csv").read_text()
    assert load_csv_dir(tmp_path / "csv") == portfolio


@pytest.mark.integration
async def test_holidays_round_trip_through_the_graph(graph_store: GraphStore) -> None:
    portfolio = with_holidays()
    await graph_store.import_portfolio(portfolio)
    snapshot = await graph_store.portfolio_snapshot()
    assert snapshot == normalise_portfolio(portfolio)
    assert next(t for t in snapshot.teams if t.id == "t-1").holidays[0] == date(2025, 12, 25)
    assert not (await graph_store.import_portfolio(portfolio)).changed  # stored values compare equal

    fewer = portfolio.model_copy(
        update={
            "teams": [
                t.model_copy(update={"holidays": [date(2026, 1, 1)]}) if t.id == "t-1" else t
                for t in portfolio.teams
            ]
        }
    )
    assert (await graph_store.import_portfolio(fewer)).changed
    assert await graph_store.portfolio_snapshot() == normalise_portfolio(fewer)
