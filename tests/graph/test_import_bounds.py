"""Bounds on import input: nesting depth, integer size, string length, total size and implausible
figures each get one clear error naming the place, and nothing is written."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from graph.local_db import LocalGraphDatabase
from graph.portfolio import Customer, Portfolio, Segment
from graph.portfolio_files import load_csv_dir, parse_json
from graph.store import GraphStore
from graph.validation import ImportBounds, PortfolioValidationError
from tests.conftest import build_tiny_portfolio

REPO_ROOT = Path(__file__).resolve().parents[2]

DEEPLY_NESTED = '{"products": ' + "[" * 100_000 + "]" * 100_000 + "}"
HUGE_INTEGER = '{"teams": [{"id": "t-1", "name": "T", "headcount": ' + "9" * 5_000 + ', "capacity": 1}]}'
HUGE_ARR = '{"customers": [{"id": "c-1", "name": "C", "arr": 1e308, "segment": "smb"}]}'


def problems(text: str) -> list[str]:
    with pytest.raises(PortfolioValidationError) as caught:
        parse_json(text, source="portfolio.json")
    return [str(issue) for issue in caught.value.issues]


def document(**collections: list[dict[str, Any]]) -> str:
    return json.dumps(collections)


def test_deeply_nested_json_names_the_line_and_column() -> None:
    assert problems(DEEPLY_NESTED) == [
        "portfolio.json: JSON nested too deeply at line 1, column 214 (at most 16 levels are accepted)"
    ]


def test_json_nested_beyond_the_bound_but_within_the_parser_names_the_path() -> None:
    nested = '{"products": [{"id": "p", "name": "P", "description": ' + "[" * 20 + "]" * 20 + "}]}"
    [problem] = problems(nested)
    assert problem.startswith("portfolio.json, products[0].description[0][0]")
    assert problem.endswith("nested more than 16 levels deep (at most 16 are accepted)")


def test_an_integer_of_thousands_of_digits_names_the_place() -> None:
    assert problems(HUGE_INTEGER) == [
        f"portfolio.json: a number with too many digits at line 1, column {HUGE_INTEGER.index('9') + 1} "
        "(at most 15 are accepted)"
    ]


def test_an_integer_too_large_to_store_names_the_field() -> None:
    text = '{"teams": [{"id": "t-1", "name": "T", "headcount": ' + "9" * 30 + ', "capacity": 1}]}'
    assert problems(text) == [
        "portfolio.json, teams[0].headcount: headcount has 30 digits; at most 15 are accepted"
    ]


def test_arr_above_the_ceiling_is_rejected_with_the_bound() -> None:
    assert problems(HUGE_ARR) == [
        "portfolio.json, customers[0].arr: arr = 1e+308 is implausible: ARR above the ceiling of 1e+12 "
        "per year (set LODESTAR_IMPORT_MAX_ARR to change it)"
    ]


def test_effort_above_the_ceiling_is_rejected_with_the_bound() -> None:
    feature = {"id": "f-1", "name": "F", "product_id": "p-1", "effort_low": 1, "effort_likely": 2}
    text = document(products=[{"id": "p-1", "name": "P"}], features=[{**feature, "effort_high": 2e6}])
    assert problems(text) == [
        "portfolio.json, features[0].effort_high: effort_high = 2e+06 is implausible: effort above the "
        "ceiling of 10000 person-weeks (set LODESTAR_IMPORT_MAX_EFFORT to change it)"
    ]


def test_other_figures_have_a_ceiling_too() -> None:
    text = document(
        teams=[{"id": "t-1", "name": "T", "headcount": 1, "capacity": 1, "throughput_history": [1, 1e300]}]
    )
    [problem] = problems(text)
    assert problem.startswith("portfolio.json, teams[0].throughput_history[1]: throughput_history = 1e+300")
    assert "above the ceiling of 1e+15 (set LODESTAR_IMPORT_MAX_NUMBER" in problem


def test_a_string_too_long_names_the_field() -> None:
    text = document(products=[{"id": "p-1", "name": "P", "description": "x" * 100_001}])
    assert problems(text) == [
        "portfolio.json, products[0].description: description is 100001 characters long; "
        "at most 100000 are accepted"
    ]


def test_the_ceilings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LODESTAR_IMPORT_MAX_ARR", "1e309")  # inf: not a usable ceiling
    with pytest.raises(ValueError, match="LODESTAR_IMPORT_MAX_ARR='1e309' must be a positive finite number"):
        ImportBounds.from_env()
    monkeypatch.setenv("LODESTAR_IMPORT_MAX_ARR", "2e12")
    text = document(customers=[{"id": "c-1", "name": "C", "arr": 1.5e12, "segment": "smb"}])
    assert parse_json(text).customers[0].arr == 1.5e12
    monkeypatch.setenv("LODESTAR_IMPORT_MAX_BYTES", "50")
    assert problems(text) == [
        f"portfolio.json: the input is {len(text)} bytes; at most 50 are accepted "
        "(set LODESTAR_IMPORT_MAX_BYTES to change it)"
    ]


def test_csv_input_is_bounded_with_file_row_and_field(tmp_path: Path) -> None:
    (tmp_path / "teams.csv").write_text(f"id,name,headcount,capacity\nt-1,T,{'9' * 5_000},1\n")
    (tmp_path / "customers.csv").write_text("id,name,arr,segment\nc-1,C,1e308,smb\n")
    with pytest.raises(PortfolioValidationError) as caught:
        load_csv_dir(tmp_path)
    assert [str(issue) for issue in caught.value.issues] == [
        "teams.csv, row 1, field headcount: headcount: Unable to parse input string as an integer, "
        f"exceeded maximum size, got '{'9' * 59}... (5002 characters)",
        "customers.csv, row 1, field arr: arr = 1e+308 is implausible: ARR above the ceiling of 1e+12 "
        "per year (set LODESTAR_IMPORT_MAX_ARR to change it)",
    ]


@pytest.mark.integration
async def test_a_store_import_of_a_built_portfolio_beyond_a_bound_writes_nothing(
    graph_store: GraphStore,
) -> None:
    rich = Customer.model_construct(id="c-rich", name="Rich", arr=1e308, segment=Segment.SMB, product_ids=[])
    portfolio = Portfolio.model_construct(**{**build_tiny_portfolio().__dict__, "customers": [rich]})
    with pytest.raises(PortfolioValidationError, match=r"customers\[0\]\.arr: arr = 1e\+308 is implausible"):
        await graph_store.import_portfolio(portfolio)
    assert sum((await graph_store.counts()).values()) == 0


@pytest.mark.integration
async def test_lodestar_import_of_each_bad_document_exits_non_zero_with_one_clear_error_and_writes_nothing(
    graph_store: GraphStore, local_graph_database: LocalGraphDatabase, tmp_path: Path
) -> None:
    await graph_store.import_portfolio(build_tiny_portfolio())
    revision, counts = await graph_store.revision(), await graph_store.counts()
    user, password = local_graph_database.auth
    environment = {
        **{key: value for key, value in os.environ.items() if not key.startswith(("NEO4J_", "LODESTAR_"))},
        "NEO4J_URI": local_graph_database.uri,
        "NEO4J_USER": user,
        "NEO4J_PASSWORD": password,
        "LODESTAR_DATA_DIR": str(tmp_path / "data"),
        "COLUMNS": "200",
    }
    expected = {
        "nested.json": "JSON nested too deeply at line 1, column 214",
        "integer.json": f"a number with too many digits at line 1, column {HUGE_INTEGER.index('9') + 1}",
        "arr.json": "arr = 1e+308 is implausible: ARR above the ceiling of 1e+12 per year",
    }
    for name, text in zip(expected, (DEEPLY_NESTED, HUGE_INTEGER, HUGE_ARR), strict=True):
        (tmp_path / name).write_text(text)

    def run_import(name: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "lodestar.cli", "import", str(tmp_path / name)],
            cwd=REPO_ROOT,
            env=environment,
            capture_output=True,
            text=True,
            timeout=120,
        )

    finished = await asyncio.gather(*(asyncio.to_thread(run_import, name) for name in expected))
    for name, result in zip(expected, finished, strict=True):
        output = " ".join((result.stdout + result.stderr).split())
        assert result.returncode == 1, output
        assert "Traceback" not in output
        assert "Import rejected: 1 problem(s); nothing was written" in output
        assert expected[name] in output, output
    assert await graph_store.revision() == revision
    assert await graph_store.counts() == counts
