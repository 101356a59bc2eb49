"""Import validation: field errors and cross-entity integrity rules, all reported at once.

Field-level rules live on the models in `graph.portfolio`; this module translates their errors into
`ValidationIssue`s that say where the problem is (file, row, field) and adds the rules that span
entities: duplicate ids, references to unknown ids, self-dependencies and dependency cycles.

Positions are reported in one of two layouts:
- JSON: `features[3].depends_on[0]` (0-based array index, field path inside the item);
- CSV: `features.csv, row 4, field depends_on` (1-based data row, the column name).

Bounds (`ImportBounds`): besides the models' own rules, every figure must be plausible before
anything is written: ARR at most `max_arr`, efforts at most `max_effort`, other numbers at most
`max_number`, integers at most `max_integer_digits` digits, strings at most `max_string_length`
characters; the loaders also bound the input's total size and its JSON nesting depth. The ceilings
are read from `LODESTAR_IMPORT_*` environment variables (see `ImportBounds.from_env`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from dataclasses import field as dataclass_field
from typing import Any, NamedTuple, Self, cast, get_args

import networkx as nx
from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic_core import ErrorDetails

from graph.portfolio import ENTITY_COLLECTIONS, Feature, Feedback, Portfolio

ENTITY_MODELS: dict[str, type[BaseModel]] = {
    name: get_args(Portfolio.model_fields[name].annotation)[0] for name in ENTITY_COLLECTIONS
}
"""Collection name -> the model of one item, e.g. "features" -> Feature."""

CSV_FILE_NAMES: dict[str, str] = {name: f"{name}.csv" for name in ENTITY_COLLECTIONS}

DOCUMENT_SOURCE = "document"

_ENTITY_NOUNS: dict[str, str] = {
    "products": "product",
    "teams": "team",
    "features": "feature",
    "customers": "customer",
    "objectives": "objective",
    "releases": "release",
    "requests": "request",
    "feedback": "feedback",
}

_REFERENCES: tuple[tuple[str, str, str], ...] = (
    # (collection, field, referenced collection)
    ("features", "product_id", "products"),
    ("features", "team_id", "teams"),
    ("features", "depends_on", "features"),
    ("features", "objective_ids", "objectives"),
    ("features", "release_id", "releases"),
    ("customers", "product_ids", "products"),
    ("releases", "product_id", "products"),
    ("requests", "customer_id", "customers"),
    ("requests", "feature_id", "features"),
    ("feedback", "customer_id", "customers"),
    ("feedback", "feature_id", "features"),
)

_MODEL_RULE_FIELDS: dict[type[BaseModel], str] = {
    # Fields checked together by a model's own cross-field validator (its errors carry no field).
    Feature: "effort_low/effort_likely/effort_high",
}


def _list_adapter(collection: str) -> TypeAdapter[list[Any]]:
    annotation = Portfolio.model_fields[collection].annotation  # e.g. list[Feature]
    assert annotation is not None
    return TypeAdapter(annotation)


_LIST_ADAPTERS: dict[str, TypeAdapter[list[Any]]] = {name: _list_adapter(name) for name in ENTITY_COLLECTIONS}

_CYCLE_MEMBERS_SHOWN = 10

BOUNDS_ENV_PREFIX = "LODESTAR_IMPORT_"


@dataclass(frozen=True)
class ImportBounds:
    """Ceilings on import input; each can be set by `LODESTAR_IMPORT_<FIELD NAME IN CAPITALS>`."""

    max_bytes: int = 1 << 30
    """Total size of one JSON document or of one folder of CSV files."""
    max_depth: int = 16
    """JSON nesting levels; a valid portfolio needs 4 (document, collection, item, list field)."""
    max_integer_digits: int = 15
    max_string_length: int = 100_000
    """Characters per field value (names, descriptions, feedback text)."""
    max_arr: float = 1e12
    """ARR of one customer, in the portfolio's currency per year."""
    max_effort: float = 10_000.0
    """Person-weeks of one feature's effort estimate (effort_low, effort_likely, effort_high)."""
    max_number: float = 1e15
    """Any other figure (capacity, throughput, reach, weights)."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Self:
        """The defaults, overridden by e.g. `LODESTAR_IMPORT_MAX_ARR=5e9`; a malformed value is an error."""
        env = os.environ if environ is None else environ
        overrides: dict[str, Any] = {}
        for bound in fields(cls):
            name = BOUNDS_ENV_PREFIX + bound.name.upper()
            text = env.get(name, "").strip()
            if not text:
                continue
            try:
                value = int(text) if bound.type == "int" else float(text)
            except ValueError:
                raise ValueError(f"{name}={text!r} is not a number") from None
            if not value > 0 or not math.isfinite(value):
                raise ValueError(f"{name}={text!r} must be a positive finite number")
            overrides[bound.name] = value
        return cls(**overrides)


_ARR_FIELDS = frozenset({("customers", "arr")})
_EFFORT_FIELDS = frozenset(
    {("features", "effort_low"), ("features", "effort_likely"), ("features", "effort_high")}
)


class ValidationIssue(BaseModel):
    """One problem found while importing a portfolio, with where it is."""

    source: str | None = None
    """File name ("features.csv", "portfolio.json") or "document" for an in-memory JSON document."""
    collection: str | None = None
    """Entity collection ("features"), when the problem belongs to one."""
    row: int | None = None
    """1-based data row in a CSV file, or the 0-based index in the JSON array."""
    field: str | None = None
    """CSV column, or the field path inside a JSON item (e.g. `depends_on[0]`)."""
    message: str

    @property
    def location(self) -> str:
        """`features.csv, row 12, field effort_low` for CSV; `features[3].depends_on[0]` for JSON."""
        if self.source is not None and self.source.endswith(".csv"):
            parts = [self.source]
            if self.row is not None:
                parts.append(f"row {self.row}")
            if self.field is not None:
                parts.append(f"field {self.field}")
            return ", ".join(parts)
        path = self.collection or ""
        if self.row is not None:
            path += f"[{self.row}]"
        if self.field is not None:
            path = f"{path}.{self.field}" if path else self.field
        if self.source is not None and self.source != DOCUMENT_SOURCE:
            return f"{self.source}, {path}" if path else self.source
        return path or DOCUMENT_SOURCE

    def __str__(self) -> str:
        return f"{self.location}: {self.message}"


class PortfolioValidationError(Exception):
    """The portfolio was rejected; `issues` lists every problem found, not just the first."""

    def __init__(self, issues: Sequence[ValidationIssue]) -> None:
        super().__init__(list(issues))
        self.issues: list[ValidationIssue] = list(issues)

    def __str__(self) -> str:
        count = len(self.issues)
        header = f"portfolio is invalid ({count} problem{'s' if count != 1 else ''}):"
        return "\n".join([header, *(f"  - {issue}" for issue in self.issues)])


@dataclass(frozen=True)
class IssueLayout:
    """How positions are reported: JSON paths inside one source, or one CSV file per collection."""

    source: str = DOCUMENT_SOURCE
    csv: bool = False

    @classmethod
    def json(cls, source: str = DOCUMENT_SOURCE) -> IssueLayout:
        return cls(source=source, csv=False)

    @classmethod
    def csv_files(cls) -> IssueLayout:
        return cls(source="", csv=True)

    def issue(
        self, collection: str | None, row: int | None, path: Sequence[str | int], message: str
    ) -> ValidationIssue:
        return ValidationIssue(
            source=CSV_FILE_NAMES.get(collection or "", self.source) if self.csv else self.source,
            collection=collection,
            row=row,
            field=self._field(path),
            message=message,
        )

    def describe(self, collection: str, row: int) -> str:
        """A position as it appears inside a message, e.g. "features[0]" or "features.csv row 1"."""
        return f"{CSV_FILE_NAMES[collection]} row {row}" if self.csv else f"{collection}[{row}]"

    def _field(self, path: Sequence[str | int]) -> str | None:
        if not path:
            return None
        if self.csv:
            return str(path[0])
        return _path_label(path)


class RawRecord(NamedTuple):
    """One unvalidated item and the row to report it at (JSON index or CSV 1-based data row)."""

    row: int
    data: object


@dataclass
class _Collected:
    """Validated items per collection, where they came from, and the ids of rejected items."""

    items: dict[str, list[Any]] = dataclass_field(default_factory=dict[str, list[Any]])
    rows: dict[str, list[int]] = dataclass_field(default_factory=dict[str, list[int]])
    rejected_ids: dict[str, list[tuple[int, str]]] = dataclass_field(
        default_factory=dict[str, list[tuple[int, str]]]
    )
    """(row, id) of items that failed field validation but whose id could be read."""


def validate_document(data: object, *, source: str = DOCUMENT_SOURCE) -> Portfolio:
    """Validate a JSON-like mapping into a Portfolio, raising one error that lists every problem."""
    layout = IssueLayout.json(source)
    if not isinstance(data, Mapping):
        raise PortfolioValidationError(
            [
                layout.issue(
                    None,
                    None,
                    (),
                    f"the portfolio must be an object with the collections {', '.join(ENTITY_COLLECTIONS)}; "
                    f"got {_type_name(data)}",
                )
            ]
        )
    document = cast(Mapping[object, object], data)
    structure_issues: list[ValidationIssue] = []
    records: dict[str, list[RawRecord]] = {}
    for key, value in document.items():
        if not isinstance(key, str) or key not in ENTITY_MODELS:
            structure_issues.append(
                layout.issue(
                    None,
                    None,
                    (str(key),),
                    f"unknown collection '{key}' (expected one of: {', '.join(ENTITY_COLLECTIONS)})",
                )
            )
        elif not isinstance(value, list):
            structure_issues.append(
                layout.issue(key, None, (), f"{key} must be a list, got {_type_name(value)}")
            )
        else:
            records[key] = [
                RawRecord(row=index, data=item) for index, item in enumerate(cast(list[object], value))
            ]
    return validate_records(records, layout=layout, prior_issues=structure_issues)


def validate_records(
    records: Mapping[str, Sequence[RawRecord]],
    *,
    layout: IssueLayout,
    prior_issues: Sequence[ValidationIssue] = (),
    reported_missing: Mapping[str, Iterable[str]] | None = None,
) -> Portfolio:
    """Validate raw items per collection, then the integrity rules; raise with every issue found.

    `prior_issues` (e.g. a bad CSV header) are reported first. `reported_missing` names fields per
    collection whose absence was already reported once (a missing CSV column), so their per-row
    "is required" errors are not repeated.
    """
    issues = list(prior_issues)
    collected = _Collected()
    for collection in ENTITY_COLLECTIONS:
        already_missing = frozenset((reported_missing or {}).get(collection, ()))
        issues.extend(
            _validate_collection(collection, records.get(collection, ()), layout, already_missing, collected)
        )
    issues.extend(_stated_confirmation_issues(collected, layout))
    portfolio = Portfolio(**collected.items)
    issues.extend(
        _integrity_issues(portfolio, layout, rows=collected.rows, rejected_ids=collected.rejected_ids)
    )
    if issues:
        raise PortfolioValidationError(issues)
    return portfolio


def _stated_confirmation_issues(collected: _Collected, layout: IssueLayout) -> list[ValidationIssue]:
    """A document that states confirmed feedback links: a person confirms them through the API only."""
    feedback: list[Feedback] = collected.items.get("feedback", [])
    return [
        layout.issue(
            "feedback",
            row,
            ["confirmed_feature_ids"],
            f"confirmed_feature_ids {item.confirmed_feature_ids} cannot be imported: a person confirms a "
            "feedback link through the API (confirmFeedbackLink), and an import keeps the confirmed ones; "
            "leave the field out or empty",
        )
        for item, row in zip(feedback, collected.rows.get("feedback", []), strict=True)
        if item.confirmed_feature_ids
    ]


def integrity_issues(portfolio: Portfolio, *, source: str = DOCUMENT_SOURCE) -> list[ValidationIssue]:
    """Cross-entity problems (duplicate ids, unknown references, self-dependencies, dependency cycles)
    and figures beyond `ImportBounds.from_env()`."""
    return _integrity_issues(portfolio, IssueLayout.json(source), rows=None, rejected_ids=None)


def bound_issues(
    portfolio: Portfolio,
    layout: IssueLayout,
    *,
    rows: Mapping[str, Sequence[int]] | None = None,
    bounds: ImportBounds | None = None,
) -> list[ValidationIssue]:
    """Every figure beyond its ceiling, every integer with too many digits, every string too long."""
    limits = bounds if bounds is not None else ImportBounds.from_env()
    integer_ceiling = 10**limits.max_integer_digits
    issues: list[ValidationIssue] = []
    for collection in ENTITY_COLLECTIONS:
        entities: list[BaseModel] = getattr(portfolio, collection)
        for name in ENTITY_MODELS[collection].model_fields:
            column = [entity.__dict__[name] for entity in entities]
            if not _may_break_bounds(column, limits):
                continue  # the common case, checked at C speed
            for index, value in enumerate(column):
                values = cast(list[object], value) if isinstance(value, list) else [value]
                for position, item in enumerate(values):
                    message = _bound_problem(collection, name, item, limits, integer_ceiling)
                    if message is None:
                        continue
                    path: tuple[str | int, ...] = (name, position) if isinstance(value, list) else (name,)
                    row = rows[collection][index] if rows is not None else index
                    issues.append(layout.issue(collection, row, path, message))
    return issues


def _may_break_bounds(column: list[Any], limits: ImportBounds) -> bool:
    """False when no value of one field's column can break a bound (the lowest ceiling bounds all numbers)."""
    values = (
        [item for value in column for item in value] if column and isinstance(column[0], list) else column
    )
    numbers = [value for value in values if isinstance(value, int | float) and not isinstance(value, bool)]
    texts = [value for value in values if isinstance(value, str)]
    lowest = min(limits.max_arr, limits.max_effort, limits.max_number, 10.0**limits.max_integer_digits - 1)
    if numbers and not all(-lowest <= number <= lowest for number in numbers):  # NaN fails too
        return True
    return bool(texts) and max(map(len, texts)) > limits.max_string_length


def _bound_problem(
    collection: str, name: str, value: object, limits: ImportBounds, integer_ceiling: int
) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        if len(value) > limits.max_string_length:
            return f"{name} is {len(value)} characters long; at most {limits.max_string_length} are accepted"
        return None
    if isinstance(value, int):
        if abs(value) >= integer_ceiling:
            return (
                f"{name} has {len(str(abs(value)))} digits; at most {limits.max_integer_digits} are accepted"
            )
        return None
    if isinstance(value, float):
        if (collection, name) in _ARR_FIELDS:
            bound, what = "max_arr", "ARR above the ceiling of {:g} per year"
        elif (collection, name) in _EFFORT_FIELDS:
            bound, what = "max_effort", "effort above the ceiling of {:g} person-weeks"
        else:
            bound, what = "max_number", "above the ceiling of {:g}"
        ceiling: float = getattr(limits, bound)
        if not math.isfinite(value) or abs(value) > ceiling:
            setting = BOUNDS_ENV_PREFIX + bound.upper()
            return f"{name} = {value:g} is implausible: {what.format(ceiling)} (set {setting} to change it)"
    return None


def ensure_valid(portfolio: Portfolio) -> Portfolio:
    """Return the portfolio unchanged, or raise PortfolioValidationError listing its integrity issues."""
    issues = integrity_issues(portfolio)
    if issues:
        raise PortfolioValidationError(issues)
    return portfolio


def _validate_collection(
    collection: str,
    records: Sequence[RawRecord],
    layout: IssueLayout,
    already_missing: frozenset[str],
    collected: _Collected,
) -> list[ValidationIssue]:
    adapter = _LIST_ADAPTERS[collection]
    rows = [record.row for record in records]
    try:
        collected.items[collection] = adapter.validate_python([record.data for record in records])
        collected.rows[collection] = rows
        return []
    except ValidationError as error:
        errors = error.errors(include_url=False)
    model = ENTITY_MODELS[collection]
    issues: list[ValidationIssue] = []
    for details in errors:
        index, *path = details["loc"]
        assert isinstance(index, int)
        if details["type"] == "missing" and len(path) == 1 and path[0] in already_missing:
            continue
        field_path: list[str | int] = path
        if not field_path and model in _MODEL_RULE_FIELDS and details["type"] == "value_error":
            field_path = [_MODEL_RULE_FIELDS[model]]
        issues.append(layout.issue(collection, rows[index], field_path, _describe_error(details, path)))
    # Slow path, only for a collection with errors: keep the valid items so the integrity rules
    # still run on them, and remember the rejected ids so references to them are not reported.
    failed = {details["loc"][0] for details in errors}
    valid_items: list[Any] = []
    valid_rows: list[int] = []
    rejected: list[tuple[int, str]] = []
    for index, record in enumerate(records):
        if index in failed:
            item: object = record.data
            raw_id = cast(Mapping[str, object], item).get("id") if isinstance(item, Mapping) else None
            if isinstance(raw_id, str) and raw_id.strip():
                rejected.append((record.row, raw_id.strip()))
        else:
            valid_items.append(model.model_validate(record.data))
            valid_rows.append(record.row)
    collected.items[collection] = valid_items
    collected.rows[collection] = valid_rows
    collected.rejected_ids[collection] = rejected
    return issues


def _describe_error(details: ErrorDetails, path: Sequence[str | int]) -> str:
    """A pydantic error as a sentence that names the field, e.g. "effort_low must be >= 0, got -3"."""
    label = _path_label(path) or "item"
    kind = details["type"]
    ctx = details.get("ctx", {})
    value = details["input"]
    comparisons = {
        "greater_than_equal": (">=", "ge"),
        "greater_than": (">", "gt"),
        "less_than_equal": ("<=", "le"),
        "less_than": ("<", "lt"),
    }
    if kind in comparisons:
        operator, key = comparisons[kind]
        return f"{label} must be {operator} {_number(ctx[key])}, got {value}"
    if kind == "missing":
        return f"{label} is required"
    if kind == "extra_forbidden":
        return f"unknown field '{label}'"
    if kind == "string_pattern_mismatch":
        return (
            f"{label} {value!r} is not a valid id (1-128 letters, digits, '_', '.', ':' or '-', "
            "starting with a letter or digit)"
        )
    if kind == "string_too_short" and ctx.get("min_length") == 1:
        return f"{label} must not be empty"
    if kind == "value_error":
        return str(details["msg"]).removeprefix("Value error, ")
    if value is None or (isinstance(value, str | int | float) and not isinstance(value, bool)):
        return f"{label}: {details['msg']}, got {_shown(value)}"
    return f"{label}: {details['msg']}"


def _integrity_issues(
    portfolio: Portfolio,
    layout: IssueLayout,
    *,
    rows: Mapping[str, Sequence[int]] | None,
    rejected_ids: Mapping[str, Sequence[tuple[int, str]]] | None,
) -> list[ValidationIssue]:
    def row_of(collection: str, index: int) -> int:
        return rows[collection][index] if rows is not None else index

    issues: list[ValidationIssue] = []
    known_ids: dict[str, dict[str, int]] = {}
    # Ids are global: the API's `node(id:)` finds any node by its id alone.
    owner_of_id: dict[str, tuple[str, int]] = {}
    for collection in ENTITY_COLLECTIONS:
        if collection == "requests":
            continue
        for index, entity in enumerate(getattr(portfolio, collection)):
            owner = owner_of_id.setdefault(entity.id, (collection, index))
            if owner[0] != collection:
                issues.append(
                    layout.issue(
                        collection,
                        row_of(collection, index),
                        ("id",),
                        f"{_ENTITY_NOUNS[collection]} id '{entity.id}' is already the id of a "
                        f"{_ENTITY_NOUNS[owner[0]]} (at {layout.describe(owner[0], row_of(*owner))}); "
                        "ids must be unique across all kinds",
                    )
                )
    for collection in ENTITY_COLLECTIONS:
        if collection == "requests":
            continue
        first_index: dict[str, int] = {}
        for index, entity in enumerate(getattr(portfolio, collection)):
            first_index.setdefault(entity.id, index)
        known_ids[collection] = first_index
        # Rejected items take part too: their ids are known even though their fields are not.
        ids_by_row = [
            (row_of(collection, index), entity.id)
            for index, entity in enumerate(getattr(portfolio, collection))
        ]
        if rejected_ids is not None:
            ids_by_row.extend(rejected_ids.get(collection, ()))
            ids_by_row.sort()
        first_row: dict[str, int] = {}
        for row, entity_id in ids_by_row:
            if entity_id in first_row:
                issues.append(
                    layout.issue(
                        collection,
                        row,
                        ("id",),
                        f"duplicate {_ENTITY_NOUNS[collection]} id '{entity_id}' "
                        f"(first defined at {layout.describe(collection, first_row[entity_id])})",
                    )
                )
            else:
                first_row[entity_id] = row

    first_request: dict[tuple[str, str], int] = {}
    for index, request in enumerate(portfolio.requests):
        key = (request.customer_id, request.feature_id)
        if key in first_request:
            earlier = layout.describe("requests", row_of("requests", first_request[key]))
            issues.append(
                layout.issue(
                    "requests",
                    row_of("requests", index),
                    ("feature_id",),
                    f"duplicate request from customer '{key[0]}' for feature '{key[1]}' (first at {earlier})",
                )
            )
        else:
            first_request[key] = index

    for collection, field_name, target in _REFERENCES:
        known = known_ids[target]
        rejected: set[str] = (
            {entity_id for _, entity_id in rejected_ids.get(target, ())}
            if rejected_ids is not None
            else set()
        )
        noun = _ENTITY_NOUNS[target]
        for index, entity in enumerate(getattr(portfolio, collection)):
            value: str | list[str] | None = getattr(entity, field_name)
            if value is None:
                continue
            references = enumerate(value) if isinstance(value, list) else [(None, value)]
            seen: set[str] = set()
            for position, referenced_id in references:
                path: tuple[str | int, ...] = (field_name,) if position is None else (field_name, position)
                if referenced_id in seen:
                    issues.append(
                        layout.issue(
                            collection,
                            row_of(collection, index),
                            path,
                            f"{field_name} lists {noun} '{referenced_id}' more than once",
                        )
                    )
                seen.add(referenced_id)
                if referenced_id not in known and referenced_id not in rejected:
                    issues.append(
                        layout.issue(
                            collection,
                            row_of(collection, index),
                            path,
                            f"{field_name} references unknown {noun} '{referenced_id}'",
                        )
                    )

    issues.extend(_dependency_issues(portfolio, layout, known_ids["features"], row_of))
    issues.extend(bound_issues(portfolio, layout, rows=rows))
    return issues


def _dependency_issues(
    portfolio: Portfolio,
    layout: IssueLayout,
    feature_index: Mapping[str, int],
    row_of: Callable[[str, int], int],
) -> list[ValidationIssue]:
    """Self-dependencies, then one issue per strongly connected group of mutually dependent features."""
    issues: list[ValidationIssue] = []
    # Edges run dependent -> prerequisite, so a cycle reads "a depends on b depends on ... a".
    graph: nx.DiGraph[str] = nx.DiGraph()
    graph.add_nodes_from(feature_index)
    for index, feature in enumerate(portfolio.features):
        if feature_index.get(feature.id) != index:
            continue  # a duplicate id, already reported
        for position, prerequisite in enumerate(feature.depends_on):
            if prerequisite == feature.id:
                issues.append(
                    layout.issue(
                        "features",
                        row_of("features", index),
                        ("depends_on", position),
                        f"feature '{feature.id}' depends on itself",
                    )
                )
            elif prerequisite in feature_index:
                graph.add_edge(feature.id, prerequisite)

    groups = [group for group in nx.strongly_connected_components(graph) if len(group) > 1]
    groups.sort(key=lambda group: min(feature_index[member] for member in group))
    for group in groups:
        start = min(group, key=feature_index.__getitem__)
        cycle_edges = cast(list[tuple[str, str]], nx.find_cycle(graph.subgraph(group), source=start))  # pyright: ignore[reportUnknownMemberType] - networkx leaves its return type open
        cycle = [str(edge[0]) for edge in cycle_edges]
        first = min(range(len(cycle)), key=lambda position: feature_index[cycle[position]])
        cycle = cycle[first:] + cycle[:first]
        message = "dependency cycle: " + " -> ".join([*cycle, cycle[0]])
        if len(group) > len(cycle):
            members = sorted(group, key=feature_index.__getitem__)
            shown = ", ".join(members[:_CYCLE_MEMBERS_SHOWN])
            more = (
                f" and {len(members) - _CYCLE_MEMBERS_SHOWN} more"
                if len(members) > _CYCLE_MEMBERS_SHOWN
                else ""
            )
            message += f" ({len(members)} features depend on each other in cycles: {shown}{more})"
        owner = feature_index[cycle[0]]
        position = portfolio.features[owner].depends_on.index(cycle[1])
        issues.append(layout.issue("features", row_of("features", owner), ("depends_on", position), message))
    return issues


def _path_label(path: Sequence[str | int]) -> str:
    label = ""
    for part in path:
        if isinstance(part, int):
            label += f"[{part}]"
        else:
            label = f"{label}.{part}" if label else part
    return label


_SHOWN_CHARACTERS = 60


def _shown(value: object) -> str:
    """`repr(value)`, cut short for a huge input (a message must not repeat 5,000 digits)."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**_SHOWN_CHARACTERS:
        return f"an integer of more than {_SHOWN_CHARACTERS} digits"  # its repr may even raise
    text = repr(value)
    if len(text) <= _SHOWN_CHARACTERS:
        return text
    return f"{text[:_SHOWN_CHARACTERS]}... ({len(text)} characters)"


def _number(value: object) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _type_name(value: object) -> str:
    names: dict[type, str] = {dict: "an object", list: "a list", str: "a string", type(None): "null"}
    return names.get(type(value), type(value).__name__)
