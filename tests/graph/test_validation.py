"""Import validation: every rejection carries a clear message and its location, all reported at once."""

from __future__ import annotations

import copy
import itertools
import pickle
from pathlib import Path
from typing import Any

import networkx as nx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from graph.portfolio import Feature, Portfolio, Product
from graph.portfolio_files import dump_csv_dir, load_csv_dir
from graph.validation import (
    PortfolioValidationError,
    ValidationIssue,
    ensure_valid,
    integrity_issues,
    validate_document,
)
from tests.fixtures.small_portfolio import small_portfolio


def small_document() -> dict[str, Any]:
    """The fixture portfolio as a JSON-like document (3 features: feat-3 -> feat-2 -> feat-1)."""
    return small_portfolio().model_dump(mode="json")


def rejected(document: object) -> list[tuple[str, str]]:
    """(location, message) of every issue validate_document reports."""
    with pytest.raises(PortfolioValidationError) as caught:
        validate_document(document)
    return [(issue.location, issue.message) for issue in caught.value.issues]


def feature_dict(feature_id: str, *depends_on: str, **overrides: object) -> dict[str, object]:
    return {
        "id": feature_id,
        "name": f"Feature {feature_id}",
        "product_id": "prod-1",
        "effort_low": 1,
        "effort_likely": 2,
        "effort_high": 3,
        "depends_on": list(depends_on),
        **overrides,
    }


def test_valid_document_gives_the_portfolio() -> None:
    assert validate_document(small_document()) == small_portfolio()
    assert integrity_issues(small_portfolio()) == []


def test_dependency_on_unknown_feature() -> None:
    document = small_document()
    document["features"][1]["depends_on"] = ["feat-1", "feat-999"]
    assert rejected(document) == [
        ("features[1].depends_on[1]", "depends_on references unknown feature 'feat-999'"),
    ]


@pytest.mark.parametrize(
    ("collection", "index", "field", "position", "noun"),
    [
        ("features", 0, "product_id", None, "product"),
        ("features", 0, "team_id", None, "team"),
        ("features", 0, "objective_ids", 0, "objective"),
        ("features", 0, "release_id", None, "release"),
        ("customers", 0, "product_ids", 1, "product"),
        ("releases", 0, "product_id", None, "product"),
        ("requests", 2, "customer_id", None, "customer"),
        ("requests", 2, "feature_id", None, "feature"),
        ("feedback", 0, "customer_id", None, "customer"),
        ("feedback", 0, "feature_id", None, "feature"),
    ],
)
def test_every_reference_is_checked(
    collection: str, index: int, field: str, position: int | None, noun: str
) -> None:
    document = small_document()
    item = document[collection][index]
    if position is None:
        item[field] = "ghost"
        location = f"{collection}[{index}].{field}"
    else:
        item[field][position] = "ghost"
        location = f"{collection}[{index}].{field}[{position}]"
    assert rejected(document) == [(location, f"{field} references unknown {noun} 'ghost'")]


def test_two_feature_cycle_names_its_ids() -> None:
    document = {
        "products": [{"id": "prod-1", "name": "Atlas"}],
        "features": [feature_dict("feat-1", "feat-2"), feature_dict("feat-2", "feat-1")],
    }
    assert rejected(document) == [
        ("features[0].depends_on[0]", "dependency cycle: feat-1 -> feat-2 -> feat-1"),
    ]


def test_cycle_through_the_fixture_chain() -> None:
    # feat-2 -> feat-1 and feat-3 -> feat-2, feat-1 already; adding feat-1 -> feat-3 closes a loop.
    # The search starts at feat-1 (lowest index): feat-1 -> feat-3, then feat-3's first prerequisite
    # feat-2, whose prerequisite feat-1 closes the cycle. All three features are in it, so no extra note.
    document = small_document()
    document["features"][0]["depends_on"] = ["feat-3"]
    assert rejected(document) == [
        ("features[0].depends_on[0]", "dependency cycle: feat-1 -> feat-3 -> feat-2 -> feat-1"),
    ]


def test_each_cycle_group_is_reported_once_with_its_members() -> None:
    # Group 1: a <-> b and b <-> c (one strongly connected group of 3, the cycle found is a -> b -> a).
    # Group 2: d -> e -> d. Feature f depends on a but is in no cycle.
    document = {
        "products": [{"id": "prod-1", "name": "Atlas"}],
        "features": [
            feature_dict("a", "b"),
            feature_dict("b", "a", "c"),
            feature_dict("c", "b"),
            feature_dict("d", "e"),
            feature_dict("e", "d"),
            feature_dict("f", "a"),
        ],
    }
    assert rejected(document) == [
        (
            "features[0].depends_on[0]",
            "dependency cycle: a -> b -> a (3 features depend on each other in cycles: a, b, c)",
        ),
        ("features[3].depends_on[0]", "dependency cycle: d -> e -> d"),
    ]


def test_self_dependency() -> None:
    document = small_document()
    document["features"][2]["depends_on"] = ["feat-2", "feat-3"]
    assert rejected(document) == [("features[2].depends_on[1]", "feature 'feat-3' depends on itself")]


def test_negative_effort_and_arr_have_clear_messages() -> None:
    document = small_document()
    document["features"][0]["effort_low"] = -1.5
    document["customers"][1]["arr"] = -42
    assert rejected(document) == [
        ("features[0].effort_low", "effort_low must be >= 0, got -1.5"),
        ("customers[1].arr", "arr must be >= 0, got -42"),
    ]


def test_effort_ordering() -> None:
    document = small_document()
    document["features"][1].update(effort_low=5, effort_likely=3, effort_high=8)
    assert rejected(document) == [
        (
            "features[1].effort_low/effort_likely/effort_high",
            "effort must satisfy low <= likely <= high, got 5.0 / 3.0 / 8.0",
        )
    ]


def test_duplicate_ids_and_requests() -> None:
    document = small_document()
    document["products"].append({"id": "prod-atlas", "name": "Atlas again"})
    document["requests"].append({"customer_id": "cust-2", "feature_id": "feat-2", "weight": 1})
    assert rejected(document) == [
        ("products[2].id", "duplicate product id 'prod-atlas' (first defined at products[0])"),
        (
            "requests[4].feature_id",
            "duplicate request from customer 'cust-2' for feature 'feat-2' (first at requests[2])",
        ),
    ]


def test_duplicate_id_is_reported_even_when_the_duplicate_has_other_errors() -> None:
    document = small_document()
    document["features"].append(feature_dict("feat-1", effort_low=-1, product_id="prod-atlas"))
    assert rejected(document) == [
        ("features[3].effort_low", "effort_low must be >= 0, got -1"),
        ("features[3].id", "duplicate feature id 'feat-1' (first defined at features[0])"),
    ]


def test_reference_to_an_item_rejected_for_its_fields_is_not_called_unknown() -> None:
    document = small_document()
    document["features"][0]["effort_high"] = -6  # feat-1 is rejected; feat-2 and feat-3 depend on it
    assert rejected(document) == [("features[0].effort_high", "effort_high must be >= 0, got -6")]


def test_repeated_reference_in_a_list() -> None:
    document = small_document()
    document["customers"][0]["product_ids"] = ["prod-atlas", "prod-atlas"]
    assert rejected(document) == [
        ("customers[0].product_ids[1]", "product_ids lists product 'prod-atlas' more than once")
    ]


def test_all_errors_are_reported_at_once_with_locations() -> None:
    document = small_document()
    document["widgets"] = []
    document["teams"][0]["headcount"] = "four"
    document["features"][0]["effort_low"] = -1  # rejected, yet still a known id for feat-2 and feat-3
    document["features"][1]["depends_on"] = ["feat-1", "feat-404"]
    document["features"][2]["status"] = "someday"
    document["customers"][2]["arr"] = -10
    document["customers"][2]["segment"] = "galactic"
    document["requests"][0]["customer_id"] = "cust-9"
    document["feedback"][1]["extra"] = True
    assert rejected(document) == [
        (
            "widgets",
            "unknown collection 'widgets' (expected one of: products, teams, features, customers, "
            "objectives, releases, requests, feedback)",
        ),
        (
            "teams[0].headcount",
            "headcount: Input should be a valid integer, unable to parse string as an integer, got 'four'",
        ),
        ("features[0].effort_low", "effort_low must be >= 0, got -1"),
        (
            "features[2].status",
            "status: Input should be 'proposed', 'planned', 'in_progress' or 'done', got 'someday'",
        ),
        ("customers[2].arr", "arr must be >= 0, got -10"),
        (
            "customers[2].segment",
            "segment: Input should be 'enterprise', 'mid_market' or 'smb', got 'galactic'",
        ),
        ("feedback[1].extra", "unknown field 'extra'"),
        ("features[1].depends_on[1]", "depends_on references unknown feature 'feat-404'"),
        ("requests[0].customer_id", "customer_id references unknown customer 'cust-9'"),
    ]


def test_field_syntax_errors() -> None:
    document = small_document()
    document["products"][0]["id"] = "has space"
    document["products"][1]["name"] = ""
    del document["features"][0]["product_id"]
    assert rejected(document) == [
        (
            "products[0].id",
            "id 'has space' is not a valid id (1-128 letters, digits, '_', '.', ':' or '-', "
            "starting with a letter or digit)",
        ),
        ("products[1].name", "name must not be empty"),
        ("features[0].product_id", "product_id is required"),
        # The product's id changed, so the other references to prod-atlas really are unknown now.
        ("customers[0].product_ids[0]", "product_ids references unknown product 'prod-atlas'"),
        ("releases[0].product_id", "product_id references unknown product 'prod-atlas'"),
    ]


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        (
            [1, 2],
            "the portfolio must be an object with the collections products, teams, features, customers, "
            "objectives, releases, requests, feedback; got a list",
        ),
        ({"features": {"id": "x"}}, "features must be a list, got an object"),
    ],
)
def test_document_structure(document: object, expected: str) -> None:
    assert [message for _, message in rejected(document)] == [expected]


def test_ensure_valid_checks_integrity_of_a_built_portfolio() -> None:
    portfolio = small_portfolio()
    assert ensure_valid(portfolio) is portfolio
    broken = Portfolio(
        products=[Product(id="prod-1", name="Atlas")],
        features=[
            Feature(id="f-1", name="A", product_id="prod-1", effort_low=1, effort_likely=1, effort_high=1),
            Feature(id="f-1", name="B", product_id="prod-2", effort_low=1, effort_likely=1, effort_high=1),
        ],
    )
    with pytest.raises(PortfolioValidationError) as caught:
        ensure_valid(broken)
    assert [str(issue) for issue in caught.value.issues] == [
        "features[1].id: duplicate feature id 'f-1' (first defined at features[0])",
        "features[1].product_id: product_id references unknown product 'prod-2'",
    ]
    assert str(caught.value) == (
        "portfolio is invalid (2 problems):\n"
        "  - features[1].id: duplicate feature id 'f-1' (first defined at features[0])\n"
        "  - features[1].product_id: product_id references unknown product 'prod-2'"
    )


def test_issue_locations() -> None:
    csv_issue = ValidationIssue(
        source="features.csv", collection="features", row=12, field="effort_low", message="m"
    )
    assert csv_issue.location == "features.csv, row 12, field effort_low"
    assert (
        ValidationIssue(source="features.csv", field="bogus", message="m").location
        == "features.csv, field bogus"
    )
    json_issue = ValidationIssue(
        source="document", collection="features", row=3, field="depends_on[0]", message="m"
    )
    assert json_issue.location == "features[3].depends_on[0]"
    named = ValidationIssue(source="portfolio.json", collection="features", row=3, field="name", message="m")
    assert named.location == "portfolio.json, features[3].name"
    assert ValidationIssue(source="portfolio.json", message="m").location == "portfolio.json"
    assert ValidationIssue(message="m").location == "document"


def test_issues_survive_pickling_in_the_error() -> None:
    error = PortfolioValidationError([ValidationIssue(source="a.csv", row=1, field="x", message="bad")])
    restored = pickle.loads(pickle.dumps(error))
    assert restored.issues == error.issues
    assert str(restored) == "portfolio is invalid (1 problem):\n  - a.csv, row 1, field x: bad"


@settings(max_examples=60, deadline=None)
@given(
    edges=st.lists(
        st.tuples(st.integers(0, 7), st.integers(0, 7)).filter(lambda edge: edge[0] != edge[1]),
        max_size=14,
        unique=True,
    )
)
def test_cycles_are_reported_exactly_when_the_graph_has_one(edges: list[tuple[int, int]]) -> None:
    # Oracle: networkx says whether the dependency graph is acyclic; every reported cycle must be
    # a real closed walk along depends_on edges.
    depends_on: dict[str, list[str]] = {f"f{node}": [] for node in range(8)}
    for dependent, prerequisite in edges:
        depends_on[f"f{dependent}"].append(f"f{prerequisite}")
    portfolio = Portfolio(
        products=[Product(id="prod-1", name="Atlas")],
        features=[
            Feature(
                id=feature_id,
                name=feature_id,
                product_id="prod-1",
                effort_low=1,
                effort_likely=1,
                effort_high=1,
                depends_on=prerequisites,
            )
            for feature_id, prerequisites in depends_on.items()
        ],
    )
    graph: nx.DiGraph[str] = nx.DiGraph(
        [
            (dependent, prerequisite)
            for dependent, prerequisites in depends_on.items()
            for prerequisite in prerequisites
        ]
    )
    cycle_messages = [issue.message for issue in integrity_issues(portfolio)]
    assert all(message.startswith("dependency cycle: ") for message in cycle_messages)
    assert bool(cycle_messages) == (not nx.is_directed_acyclic_graph(graph))
    groups = [group for group in nx.strongly_connected_components(graph) if len(group) > 1]
    assert len(cycle_messages) == len(groups)
    for message in cycle_messages:
        walk = message.removeprefix("dependency cycle: ").split(" (")[0].split(" -> ")
        assert walk[0] == walk[-1]
        assert all(graph.has_edge(a, b) for a, b in itertools.pairwise(walk))


def test_input_document_is_not_mutated() -> None:
    document = small_document()
    snapshot = copy.deepcopy(document)
    validate_document(document)
    assert document == snapshot


def test_a_document_stating_confirmed_feedback_links_is_refused_at_the_place() -> None:
    document = small_document()
    assert document["feedback"][1]["confirmed_feature_ids"] == []  # stated empty: accepted
    document["feedback"][1]["confirmed_feature_ids"] = ["feat-1"]
    [(location, message)] = rejected(document)
    assert location == "feedback[1].confirmed_feature_ids"
    assert "cannot be imported" in message and "confirmFeedbackLink" in message and "feat-1" in message


def test_a_csv_folder_stating_confirmed_feedback_links_is_refused_at_the_column(tmp_path: Path) -> None:
    csv_dir = tmp_path / "csv"
    dump_csv_dir(small_portfolio(), csv_dir)
    lines = (csv_dir / "feedback.csv").read_text(encoding="utf-8").splitlines()
    assert "confirmed_feature_ids" not in lines[0], "the dump leaves the snapshot-only column out"
    lines[0] += ",confirmed_feature_ids"
    lines[1:] = [line + "," for line in lines[1:]]
    lines[-1] += "feat-1"
    (csv_dir / "feedback.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(PortfolioValidationError) as caught:
        load_csv_dir(csv_dir)
    [issue] = caught.value.issues
    assert issue.location == "feedback.csv, field confirmed_feature_ids"
    assert "confirmFeedbackLink" in issue.message
