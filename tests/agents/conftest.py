from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest

from agents import engine_runs
from agents.deps import AnalysisDeps
from agents.snapshots import snapshots
from graph.demo import generate_portfolio
from graph.portfolio import Portfolio

AS_OF = date(2026, 11, 23)


@pytest.fixture(autouse=True)
def _fresh_engine_cache() -> Iterator[None]:
    """Each test computes its engines anew (the guard against real models is in tests/conftest.py)."""
    yield
    engine_runs.clear_cache()


@pytest.fixture(scope="module")
def demo_portfolio() -> Portfolio:
    return generate_portfolio(seed=7, scale="small", anchor=AS_OF)


@pytest.fixture
def demo_deps(demo_portfolio: Portfolio) -> AnalysisDeps:
    return AnalysisDeps(snapshot_id=snapshots.put(demo_portfolio), as_of=AS_OF, trials=1_000, seed=3)
