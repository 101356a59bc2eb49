"""`lodestar erase-customer ID` on the real graph: erases, reports counts, refuses bad and unknown ids."""

from __future__ import annotations

from pathlib import Path

import pytest

from graph.erasure import CustomerEraser
from graph.local_db import LocalGraphDatabase
from graph.store import GraphStore
from tests.conftest import build_tiny_portfolio

from .support import cli_environment, run_cli

pytestmark = pytest.mark.integration


async def test_erase_customer_from_the_command_line(
    graph_store: GraphStore, local_graph_database: LocalGraphDatabase, tmp_path: Path
) -> None:
    await graph_store.import_portfolio(build_tiny_portfolio())
    environment = cli_environment("127.0.0.1:1", local_graph_database, tmp_path / "data")

    code, output = await run_cli(environment, "erase-customer", "c-1", timeout_s=120)
    assert code == 0, output[-2000:]
    assert "Erased c-1: 2 requests, 2 product usages, 1 feedback, 0 stored results rewritten" in output
    assert [c.id for c in (await graph_store.portfolio_snapshot()).customers] == ["c-2", "c-3"]
    (entry,) = await CustomerEraser(graph_store).entries()
    assert entry.erased_by.startswith("cli:") and entry.kinds == [
        "customer",
        "requests",
        "product_usage",
        "feedback",
    ]

    code, output = await run_cli(environment, "erase-customer", "c-1", timeout_s=120)
    assert code == 1 and "nothing to erase" in output
    code, output = await run_cli(environment, "erase-customer", "c 1!", timeout_s=120)
    assert code == 1 and "is not a valid id" in output
