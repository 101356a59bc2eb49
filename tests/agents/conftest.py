from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest
from pydantic_ai import models

from agents import engine_runs
from agents.deps import AnalysisDeps
from agents.snapshots import snapshots
from graph.demo import generate_portfolio
from graph.portfolio import Portfolio

AS_OF = date(2026, 11, 23)


@pytest.fixture(autouse=True)
def _no_real_models(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No test may reach a real provider: requests are refused and the offline model is selected."""
    monkeypatch.setattr(models, "ALLOW_MODEL_REQUESTS", False)
    monkeypatch.delenv("LODESTAR_MODEL", raising=False)
    yield
    engine_runs.clear_cache()


@pytest.fixture(scope="module")
def demo_portfolio() -> Portfolio:
    return generate_portfolio(seed=7, scale="small", anchor=AS_OF)


@pytest.fixture
def demo_deps(demo_portfolio: Portfolio) -> AnalysisDeps:
    return AnalysisDeps(snapshot_id=snapshots.put(demo_portfolio), as_of=AS_OF, trials=1_000, seed=3)
