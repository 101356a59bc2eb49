"""JSON and CSV loaders: fixtures, exact round trips, and every rejection with file, row and field."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graph.demo import generate_portfolio
from graph.portfolio import Customer, Feedback, Portfolio, Product, Segment, Team
from graph.portfolio_files import (
    dump_csv_dir,
    dump_json,
    load_csv_dir,
    load_json,
    load_portfolio,
    parse_json,
)
from graph.validation import PortfolioValidationError, validate_document
from tests.fixtures.small_portfolio import SMALL_CSV_DIR, SMALL_JSON, small_portfolio

PRODUCTS_CSV = "id,name,description\nprod-1,Atlas,\n"
FEATURES_HEADER = "id,name,product_id,effort_low,effort_likely,effort_high,depends_on\n"


def write_csv_dir(directory: Path, files: dict[str, str]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (directory / name).write_text(text, encoding="utf-8")
    return directory


def csv_issues(directory: Path) -> list[tuple[str, str]]:
    with pytest.raises(PortfolioValidationError) as caught:
        load_csv_dir(directory)
    return [(issue.location, issue.message) for issue in caught.value.issues]


def test_fixtures_hold_the_hand_written_portfolio() -> None:
    expected = small_portfolio()
    assert load_json(SMALL_JSON) == expected
    assert load_csv_dir(SMALL_CSV_DIR) == expected
    assert load_portfolio(SMALL_JSON) == expected
    assert load_portfolio(SMALL_CSV_DIR) == expected


def test_fixture_files_are_what_the_dump_functions_write(tmp_path: Path) -> None:
    dump_json(small_portfolio(), tmp_path / "portfolio_small.json")
    dump_csv_dir(small_portfolio(), tmp_path / "csv")
    assert (tmp_path / "portfolio_small.json").read_bytes() == SMALL_JSON.read_bytes()
    for written in sorted((tmp_path / "csv").iterdir()):
        assert written.read_bytes() == (SMALL_CSV_DIR / written.name).read_bytes(), written.name


def test_csv_cells_of_the_fixture() -> None:
    portfolio = load_csv_dir(SMALL_CSV_DIR)
    feat_1, feat_2, feat_3 = portfolio.features
    assert feat_1.depends_on == [] and feat_1.target_date == date(2025, 7, 31)
    assert feat_3.depends_on == ["feat-2", "feat-1"] and feat_3.team_id is None and feat_3.priority is None
    assert feat_2.name == "Usage-based pricing" and feat_3.name == "Invoice PDFs, with logos"
    assert portfolio.teams[0].throughput_history == [2.5, 3.0, 2.75, 3.1]
    assert portfolio.teams[1].throughput_history == []
    assert portfolio.customers[2].product_ids == [] and portfolio.customers[2].renewal_date is None
    assert portfolio.feedback[0].text.endswith("procurement block us.\nSecond line.")
    assert portfolio.feedback[1].text == "" and portfolio.feedback[1].feature_id is None


def test_demo_portfolio_round_trips_through_json_and_csv(tmp_path: Path) -> None:
    portfolio = generate_portfolio(seed=11, scale="small", anchor=date(2025, 6, 15))
    dump_json(portfolio, tmp_path / "demo.json")
    dump_csv_dir(portfolio, tmp_path / "demo_csv")
    assert load_json(tmp_path / "demo.json") == portfolio
    assert load_csv_dir(tmp_path / "demo_csv") == portfolio


text_values = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=40)
finite_non_negative = st.floats(min_value=0, max_value=1e12, allow_nan=False, allow_infinity=False)


@st.composite
def portfolios_with_awkward_values(draw: st.DrawFn) -> Portfolio:
    product_ids = draw(
        st.lists(
            st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.:\-]{0,12}", fullmatch=True),
            min_size=1,
            max_size=4,
            unique=True,
        )
    )
    products = [
        Product(id=product_id, name=draw(text_values.filter(bool)), description=draw(text_values))
        for product_id in product_ids
    ]
    teams = [
        Team(
            id=f"team-{index}",
            name=draw(text_values.filter(bool)),
            headcount=draw(st.integers(0, 10_000)),
            capacity=draw(finite_non_negative),
            throughput_history=draw(st.lists(finite_non_negative, max_size=5)),
        )
        for index in range(draw(st.integers(0, 3)))
    ]
    customer = Customer(
        id="cust-1",
        name=draw(text_values.filter(bool)),
        arr=draw(finite_non_negative),
        segment=draw(st.sampled_from(Segment)),
        renewal_date=draw(st.none() | st.dates()),
        health=draw(st.floats(0, 1)),
        product_ids=draw(st.lists(st.sampled_from(product_ids), unique=True)),
    )
    feedback = [
        Feedback(
            id=f"fb-{index}",
            customer_id="cust-1",
            text=draw(text_values),
            sentiment=draw(st.floats(-1, 1)),
            created_at=draw(st.none() | st.dates()),
        )
        for index in range(draw(st.integers(0, 3)))
    ]
    return Portfolio(products=products, teams=teams, customers=[customer], feedback=feedback)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(portfolio=portfolios_with_awkward_values())
def test_round_trip_keeps_awkward_text_and_floats_exactly(portfolio: Portfolio, tmp_path: Path) -> None:
    # Quotes, commas, semicolons, newlines, leading spaces, unicode and long floats must all survive.
    dump_csv_dir(portfolio, tmp_path / "csv")
    dump_json(portfolio, tmp_path / "portfolio.json")
    assert load_csv_dir(tmp_path / "csv") == portfolio
    assert load_json(tmp_path / "portfolio.json") == portfolio


def test_missing_files_are_empty_collections(tmp_path: Path) -> None:
    directory = write_csv_dir(
        tmp_path / "only_products", {"products.csv": PRODUCTS_CSV, "README.md": "notes"}
    )
    portfolio = load_csv_dir(directory)
    assert [product.id for product in portfolio.products] == ["prod-1"]
    assert portfolio.features == [] and portfolio.requests == []


def test_directory_without_portfolio_files(tmp_path: Path) -> None:
    directory = write_csv_dir(tmp_path / "empty", {"notes.txt": "hello"})
    [(location, message)] = csv_issues(directory)
    assert location == str(directory)
    assert message.startswith(
        "no portfolio CSV files found (expected at least one of: products.csv, teams.csv"
    )


def test_unknown_file_and_column_are_named(tmp_path: Path) -> None:
    directory = write_csv_dir(
        tmp_path / "bad",
        {
            "products.csv": "id,name,colour\nprod-1,Atlas,red\n",
            "widgets.csv": "id\nw-1\n",
        },
    )
    assert csv_issues(directory) == [
        (
            "widgets.csv",
            "unknown file 'widgets.csv' (expected some of: products.csv, teams.csv, features.csv, "
            "customers.csv, objectives.csv, releases.csv, requests.csv, feedback.csv)",
        ),
        ("products.csv, field colour", "unknown column 'colour' (expected columns: id, name, description)"),
    ]


def test_missing_required_column_is_reported_once(tmp_path: Path) -> None:
    directory = write_csv_dir(
        tmp_path / "missing",
        {
            "products.csv": PRODUCTS_CSV,
            "features.csv": "id,name,product_id,effort_likely,effort_high\n"
            "feat-1,A,prod-1,2,3\nfeat-2,B,prod-1,2,3\nfeat-3,C,prod-1,2,3\n",
        },
    )
    assert csv_issues(directory) == [
        ("features.csv, field effort_low", "missing required column 'effort_low'")
    ]


def test_all_csv_errors_at_once_with_file_row_and_field(tmp_path: Path) -> None:
    directory = write_csv_dir(
        tmp_path / "many",
        {
            "products.csv": PRODUCTS_CSV,
            "features.csv": FEATURES_HEADER
            + "feat-1,Add SSO,prod-1,-2,3,5,\n"  # row 1: negative effort
            + "feat-2,Export,prod-1,5,3,8,feat-1\n"  # row 2: effort out of order
            + "feat-3,Search,prod-1,1,2,3,feat-1;feat-999\n"  # row 3: unknown dependency
            + "\n"  # row 4: blank, skipped but counted
            + "feat-4,Alerts,prod-1,1,2,3,feat-5\n"  # row 5: cycle with row 6
            + "feat-5,Digest,prod-1,1,2,3,feat-4\n"
            + "feat-3,Again,prod-1,1,2,3,\n",  # row 7: duplicate id
            "customers.csv": "id,name,arr,segment\ncust-1,Globex,-100,enterprise\ncust-2,Initech,5000,smb,extra\n",
            "requests.csv": "customer_id,feature_id,weight\ncust-2,feat-3,2\ncust-2,feat-3,4\ncust-2,feat-3,0\n",
        },
    )
    assert csv_issues(directory) == [
        ("customers.csv, row 2", "row has 5 cells but the header has 4 columns"),
        ("features.csv, row 1, field effort_low", "effort_low must be >= 0, got -2"),
        (
            "features.csv, row 2, field effort_low/effort_likely/effort_high",
            "effort must satisfy low <= likely <= high, got 5.0 / 3.0 / 8.0",
        ),
        ("customers.csv, row 1, field arr", "arr must be >= 0, got -100"),
        ("requests.csv, row 3, field weight", "weight must be > 0, got 0"),
        (
            "features.csv, row 7, field id",
            "duplicate feature id 'feat-3' (first defined at features.csv row 3)",
        ),
        (
            "requests.csv, row 2, field feature_id",
            "duplicate request from customer 'cust-2' for feature 'feat-3' (first at requests.csv row 1)",
        ),
        ("features.csv, row 3, field depends_on", "depends_on references unknown feature 'feat-999'"),
        ("features.csv, row 5, field depends_on", "dependency cycle: feat-4 -> feat-5 -> feat-4"),
    ]


def test_list_cells_tolerate_spaces_and_a_trailing_separator(tmp_path: Path) -> None:
    directory = write_csv_dir(
        tmp_path / "lists",
        {
            "products.csv": PRODUCTS_CSV,
            "features.csv": FEATURES_HEADER
            + "feat-1,A,prod-1,1,2,3,\nfeat-2,B,prod-1,1,2,3,\nfeat-3,C,prod-1, 1 , 2 ,3, feat-1 ; feat-2; \n",
        },
    )
    feature = load_csv_dir(directory).features[2]
    assert feature.depends_on == ["feat-1", "feat-2"]
    assert (feature.effort_low, feature.effort_likely) == (1.0, 2.0)


def test_byte_order_mark_from_spreadsheets_is_accepted(tmp_path: Path) -> None:
    directory = tmp_path / "bom"
    directory.mkdir()
    (directory / "products.csv").write_bytes("\ufeffid,name\r\nprod-1,Atlas\r\n".encode())
    assert load_csv_dir(directory).products == [Product(id="prod-1", name="Atlas")]


def test_empty_and_undecodable_csv_files(tmp_path: Path) -> None:
    directory = tmp_path / "broken"
    directory.mkdir()
    (directory / "products.csv").write_text("", encoding="utf-8")
    (directory / "teams.csv").write_bytes(b"id,name\n\xff\xfe,x\n")
    assert csv_issues(directory) == [
        ("products.csv", "empty file: expected a header row with the columns id, name, description"),
        ("teams.csv", "not valid UTF-8 text: invalid start byte"),
    ]


def test_malformed_json_gives_line_and_column() -> None:
    text = '{\n  "products": [\n    {"id": "prod-1", "name": "Atlas"},\n  ]\n}\n'
    with pytest.raises(PortfolioValidationError) as caught:
        parse_json(text)
    # The trailing comma on line 3 makes the parser expect a value where "]" stands: line 4, column 3.
    [issue] = caught.value.issues
    assert (issue.location, issue.message) == (
        "document",
        "malformed JSON at line 4, column 3: Expecting value",
    )


def test_json_file_issues_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "portfolio.json"
    path.write_text('{"products": [{"id": "prod-1", "name": "Atlas", "colour": "red"}]}', encoding="utf-8")
    with pytest.raises(PortfolioValidationError) as caught:
        load_json(path)
    assert [str(issue) for issue in caught.value.issues] == [
        "portfolio.json, products[0].colour: unknown field 'colour'"
    ]
    path.write_bytes(b"{\xff}")
    with pytest.raises(PortfolioValidationError) as caught:
        load_json(path)
    assert caught.value.issues[0].message.startswith("not valid UTF-8 text")


def test_json_with_only_integrity_problems_reports_the_same_as_the_document_path() -> None:
    # Well-formed and field-valid, so parse_json takes its one-pass path; the issues must match the
    # fully diagnosing path's exactly.
    document = small_portfolio().model_dump(mode="json")
    document["features"][1]["depends_on"] = ["feat-3"]  # feat-2 -> feat-3 -> feat-2
    document["requests"][0]["feature_id"] = "feat-404"
    with pytest.raises(PortfolioValidationError) as fast:
        parse_json(json.dumps(document), source="p.json")
    with pytest.raises(PortfolioValidationError) as full:
        validate_document(document, source="p.json")
    assert fast.value.issues == full.value.issues
    assert [str(issue) for issue in fast.value.issues] == [
        "p.json, requests[0].feature_id: feature_id references unknown feature 'feat-404'",
        "p.json, features[1].depends_on[0]: dependency cycle: feat-2 -> feat-3 -> feat-2",
    ]


def test_load_portfolio_dispatch_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_portfolio(tmp_path / "nowhere.json")
    (tmp_path / "portfolio.yaml").write_text("products: []", encoding="utf-8")
    with pytest.raises(ValueError, match=r"expected a \.json file or a directory of CSV files"):
        load_portfolio(tmp_path / "portfolio.yaml")
    with pytest.raises(NotADirectoryError):
        load_csv_dir(tmp_path / "portfolio.yaml")


def test_a_snapshot_with_confirmed_feedback_links_dumps_to_documents_that_import_again(
    tmp_path: Path,
) -> None:
    portfolio = small_portfolio()
    confirmed = portfolio.model_copy(
        update={
            "feedback": [
                item.model_copy(update={"confirmed_feature_ids": [portfolio.features[0].id]})
                for item in portfolio.feedback
            ]
        }
    )
    dump_json(confirmed, tmp_path / "snapshot.json")
    dump_csv_dir(confirmed, tmp_path / "csv")
    assert "confirmed_feature_ids" not in (tmp_path / "snapshot.json").read_text()
    assert load_json(tmp_path / "snapshot.json") == portfolio
    assert load_csv_dir(tmp_path / "csv") == portfolio
