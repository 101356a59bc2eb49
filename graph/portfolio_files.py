"""Read and write portfolios as one JSON document or as a directory of CSV files (one per collection).

CSV layout: `<collection>.csv` (products.csv, teams.csv, features.csv, ...), a header row naming the
model's fields, one entity per row. List-valued columns (`depends_on`, `objective_ids`, `product_ids`,
`throughput_history`) hold `;`-separated items in one cell. An empty cell means an empty list, None,
or the field's default. Loaders validate everything and raise `PortfolioValidationError` listing
every problem with its file, row and field; the dump functions are their exact inverse.
"""

from __future__ import annotations

import csv
import json
import re
import types
from enum import StrEnum
from pathlib import Path
from typing import Any, Union, cast, get_args, get_origin

from pydantic import ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import from_json

from graph.portfolio import ENTITY_COLLECTIONS, Portfolio
from graph.validation import (
    CSV_FILE_NAMES,
    DOCUMENT_SOURCE,
    ENTITY_MODELS,
    ImportBounds,
    IssueLayout,
    PortfolioValidationError,
    RawRecord,
    ValidationIssue,
    integrity_issues,
    validate_document,
    validate_records,
)

LIST_SEPARATOR = ";"


class _CellKind(StrEnum):
    LIST = "list"  # `;`-separated items; empty cell = []
    OPTIONAL = "optional"  # empty cell = None
    TEXT = "text"  # kept verbatim; empty cell = ""
    SCALAR = "scalar"  # empty cell = the field's default (or "is required")


def _cell_kind(info: FieldInfo) -> _CellKind:
    annotation = info.annotation
    origin = get_origin(annotation)
    if origin is list:
        return _CellKind.LIST
    if origin in (Union, types.UnionType) and type(None) in get_args(annotation):
        return _CellKind.OPTIONAL
    if annotation is str:
        return _CellKind.TEXT
    return _CellKind.SCALAR


SNAPSHOT_ONLY_FIELDS: dict[str, frozenset[str]] = {"feedback": frozenset({"confirmed_feature_ids"})}
"""Fields the graph fills in (a person's confirmed feedback links) that import documents may not state, so
the dump functions leave them out and a dumped document imports again."""

CSV_COLUMNS: dict[str, dict[str, _CellKind]] = {
    collection: {
        name: _cell_kind(info)
        for name, info in ENTITY_MODELS[collection].model_fields.items()
        if name not in SNAPSHOT_ONLY_FIELDS.get(collection, frozenset())
    }
    for collection in ENTITY_COLLECTIONS
}
"""Collection -> its CSV columns in file order (the model's field order) and how each cell is read."""


def parse_json(text: str | bytes, *, source: str = DOCUMENT_SOURCE) -> Portfolio:
    """Parse and validate a JSON portfolio document; malformed JSON is one issue with line and column.

    Input beyond `ImportBounds.from_env()` (total size, nesting depth, integer digits, string length,
    implausible figures) is rejected with the place it was found.
    """
    bounds = ImportBounds.from_env()
    if len(text) > bounds.max_bytes:
        raise PortfolioValidationError([_too_large(source, len(text), bounds)])
    # Fast path: pydantic parses and validates in one pass. Any failure falls through to the path
    # below, which reports every problem with its location.
    try:
        portfolio = Portfolio.model_validate_json(text)
    except ValidationError:
        pass
    else:
        issues = integrity_issues(portfolio, source=source)
        if issues:
            raise PortfolioValidationError(issues)
        return portfolio
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise PortfolioValidationError(
            [
                ValidationIssue(
                    source=source,
                    message=f"malformed JSON at line {error.lineno}, column {error.colno}: {error.msg}",
                )
            ]
        ) from error
    except UnicodeDecodeError as error:
        raise PortfolioValidationError(
            [ValidationIssue(source=source, message=f"not valid UTF-8 text: {error.reason}")]
        ) from error
    except (RecursionError, ValueError) as error:
        # Nesting too deep for the parser, or an integer too long to convert: name the place.
        raise PortfolioValidationError([_unreadable_json(text, source, bounds)]) from error
    too_deep = _first_too_deep(data, bounds.max_depth)
    if too_deep is not None:
        message = f"nested more than {bounds.max_depth} levels deep (at most {bounds.max_depth} are accepted)"
        raise PortfolioValidationError([ValidationIssue(source=source, field=too_deep, message=message)])
    return validate_document(data, source=source)


_POSITION = re.compile(r"line (\d+) column (\d+)")


def _unreadable_json(text: str | bytes, source: str, bounds: ImportBounds) -> ValidationIssue:
    """What the standard parser could not take, with the line and column the Rust parser reports."""
    try:
        from_json(text)
    except ValueError as error:
        reason = str(error)
    else:
        reason = "the standard JSON parser rejected it"
    found = _POSITION.search(reason)
    where = f" at line {found[1]}, column {found[2]}" if found else ""
    if "recursion" in reason:
        message = f"JSON nested too deeply{where} (at most {bounds.max_depth} levels are accepted)"
    elif "number" in reason:
        if found:  # the parser stops inside the number: report where it starts
            line, column = int(found[1]), int(found[2])
            where = f" at line {line}, column {_number_start(text, line, column)}"
        message = f"a number with too many digits{where} (at most {bounds.max_integer_digits} are accepted)"
    else:
        message = f"malformed JSON{where}: {reason}"
    return ValidationIssue(source=source, message=message)


def _number_start(text: str | bytes, line: int, column: int) -> int:
    """The 1-based column where the number around (`line`, `column`) begins."""
    lines = (text.decode(errors="replace") if isinstance(text, bytes) else text).splitlines()
    if not 0 < line <= len(lines):
        return column
    content = lines[line - 1]
    start = min(column, len(content)) - 1
    while start > 0 and content[start - 1] in "0123456789+-.eE":
        start -= 1
    return start + 1


def _first_too_deep(data: object, max_depth: int) -> str | None:
    """The JSON path of the first value nested deeper than `max_depth` containers, if any."""
    pending: list[tuple[object, int, str]] = [(data, 1, "")]
    while pending:
        value, depth, path = pending.pop()
        children: list[tuple[str, object]]
        if isinstance(value, dict):
            items = cast(dict[str, object], value).items()
            children = [(f"{path}.{key}" if path else key, item) for key, item in items]
        elif isinstance(value, list):
            children = [(f"{path}[{index}]", item) for index, item in enumerate(cast(list[object], value))]
        else:
            continue
        if depth > max_depth:
            return path or "(document)"
        pending.extend((item, depth + 1, child) for child, item in reversed(children))
    return None


def _too_large(source: str, size: int, bounds: ImportBounds) -> ValidationIssue:
    return ValidationIssue(
        source=source,
        message=f"the input is {size} bytes; at most {bounds.max_bytes} are accepted "
        "(set LODESTAR_IMPORT_MAX_BYTES to change it)",
    )


def load_json(path: Path) -> Portfolio:
    """Load a portfolio from a JSON file; issues name the file."""
    bounds = ImportBounds.from_env()
    size = path.stat().st_size
    if size > bounds.max_bytes:
        raise PortfolioValidationError([_too_large(path.name, size, bounds)])
    return parse_json(path.read_bytes(), source=path.name)


def load_csv_dir(directory: Path) -> Portfolio:
    """Load a portfolio from a directory of `<collection>.csv` files (missing files = empty collections)."""
    if not directory.is_dir():
        raise NotADirectoryError(f"not a directory of portfolio CSV files: {directory}")
    issues: list[ValidationIssue] = []
    records: dict[str, list[RawRecord]] = {}
    reported_missing: dict[str, set[str]] = {}
    expected_files = ", ".join(CSV_FILE_NAMES.values())
    csv_paths = sorted(path for path in directory.iterdir() if path.suffix.lower() == ".csv")
    known_files = {file_name: collection for collection, file_name in CSV_FILE_NAMES.items()}
    for path in csv_paths:
        if path.name not in known_files:
            issues.append(
                ValidationIssue(
                    source=path.name,
                    message=f"unknown file '{path.name}' (expected some of: {expected_files})",
                )
            )
    present = [known_files[path.name] for path in csv_paths if path.name in known_files]
    bounds = ImportBounds.from_env()
    total_size = sum(path.stat().st_size for path in csv_paths)
    if total_size > bounds.max_bytes:
        raise PortfolioValidationError([*issues, _too_large(str(directory), total_size, bounds)])
    if not present:
        issues.append(
            ValidationIssue(
                source=str(directory),
                message=f"no portfolio CSV files found (expected at least one of: {expected_files})",
            )
        )
        raise PortfolioValidationError(issues)
    for collection in present:
        file_records, file_issues, missing_columns = _read_csv_file(
            directory / CSV_FILE_NAMES[collection], collection
        )
        records[collection] = file_records
        issues.extend(file_issues)
        reported_missing[collection] = missing_columns
    return validate_records(
        records, layout=IssueLayout.csv_files(), prior_issues=issues, reported_missing=reported_missing
    )


def load_portfolio(path: Path) -> Portfolio:
    """Load a `.json` file or a directory of CSV files."""
    if path.is_dir():
        return load_csv_dir(path)
    if not path.exists():
        raise FileNotFoundError(f"no portfolio at {path}")
    if path.suffix.lower() == ".json":
        return load_json(path)
    raise ValueError(f"expected a .json file or a directory of CSV files, got {path}")


def dump_json(portfolio: Portfolio, path: Path) -> None:
    """Write the portfolio as one JSON document that `load_json` reads back unchanged."""
    excluded = {collection: {"__all__": set(fields)} for collection, fields in SNAPSHOT_ONLY_FIELDS.items()}
    path.write_text(portfolio.model_dump_json(indent=2, exclude=excluded) + "\n", encoding="utf-8")


def dump_csv_dir(portfolio: Portfolio, directory: Path) -> None:
    """Write one CSV file per collection (all eight, header-only when empty) that `load_csv_dir` reads back.

    Other files already in the directory are left alone; an unrelated `.csv` among them would make
    `load_csv_dir` report it.
    """
    directory.mkdir(parents=True, exist_ok=True)
    for collection in ENTITY_COLLECTIONS:
        columns = CSV_COLUMNS[collection]
        entities: list[Any] = getattr(portfolio, collection)
        with (directory / CSV_FILE_NAMES[collection]).open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(columns)
            for entity in entities:
                dumped = entity.model_dump(mode="json")
                writer.writerow([_format_cell(dumped[column]) for column in columns])


def _format_cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return LIST_SEPARATOR.join(str(item) for item in cast(list[object], value))
    return str(value)


def _read_csv_file(path: Path, collection: str) -> tuple[list[RawRecord], list[ValidationIssue], set[str]]:
    """The file's rows as raw records, its header/shape issues, and required columns it lacks."""
    file_name = path.name
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle)
            try:
                rows = list(reader)
            except csv.Error as error:
                return (
                    [],
                    [
                        ValidationIssue(
                            source=file_name, message=f"malformed CSV near line {reader.line_num}: {error}"
                        )
                    ],
                    set(),
                )
    except UnicodeDecodeError as error:
        return [], [ValidationIssue(source=file_name, message=f"not valid UTF-8 text: {error.reason}")], set()

    expected = CSV_COLUMNS[collection]
    expected_list = ", ".join(expected)
    if not rows:
        message = f"empty file: expected a header row with the columns {expected_list}"
        return [], [ValidationIssue(source=file_name, message=message)], set()

    issues: list[ValidationIssue] = []
    header = [name.strip() for name in rows[0]]
    column_positions: dict[str, int] = {}
    for position, name in enumerate(header):
        if name not in expected:
            issues.append(
                ValidationIssue(
                    source=file_name,
                    collection=collection,
                    field=name,
                    message=(
                        f"column '{name}' cannot be imported: the graph fills it in (a person confirms a "
                        "feedback link through the API, confirmFeedbackLink, and an import keeps the "
                        "confirmed ones); leave the column out"
                        if name in SNAPSHOT_ONLY_FIELDS.get(collection, frozenset())
                        else f"unknown column '{name}' (expected columns: {expected_list})"
                    ),
                )
            )
        elif name in column_positions:
            issues.append(
                ValidationIssue(
                    source=file_name, collection=collection, field=name, message=f"duplicate column '{name}'"
                )
            )
        else:
            column_positions[name] = position
    model_fields = ENTITY_MODELS[collection].model_fields
    missing = {
        name for name, info in model_fields.items() if info.is_required() and name not in column_positions
    }
    for name in sorted(missing, key=list(expected).index):
        issues.append(
            ValidationIssue(
                source=file_name,
                collection=collection,
                field=name,
                message=f"missing required column '{name}'",
            )
        )

    columns = [(name, position, expected[name]) for name, position in column_positions.items()]
    records: list[RawRecord] = []
    for row_number, cells in enumerate(rows[1:], start=1):
        if not "".join(cells).strip():
            continue
        if len(cells) != len(header):
            issues.append(
                ValidationIssue(
                    source=file_name,
                    collection=collection,
                    row=row_number,
                    message=f"row has {len(cells)} cells but the header has {len(header)} columns",
                )
            )
        item: dict[str, object] = {}
        for name, position, kind in columns:
            if position < len(cells):
                _put_cell(item, name, kind, cells[position])
        records.append(RawRecord(row_number, item))
    return records, issues, missing


def _put_cell(item: dict[str, object], name: str, kind: _CellKind, cell: str) -> None:
    if kind is _CellKind.TEXT:
        item[name] = cell
        return
    value = cell.strip()
    if kind is _CellKind.LIST:
        item[name] = [part.strip() for part in value.split(LIST_SEPARATOR) if part.strip()]
    elif value:
        item[name] = value
    elif kind is _CellKind.OPTIONAL:
        item[name] = None
