"""Reads of portfolio entities by page, by id and by relationship, for the API; and the API's keys.

- Pages (`EntityReads.page`): keyset pagination ordered by `id`, forward (`id > $after`, ascending)
  or backward (`id < $before`, descending, reversed on return), one row more than asked for to
  tell whether another page follows. Filters are null-tolerant parameters, so each label has one
  statement per direction and the text never depends on user input.
- Batched lookups (`*_by_ids`, `*_by_feature_ids`, ...): ONE statement per call, `UNWIND $ids`, for
  the API's DataLoaders. Every result is keyed by the id asked for. Each pattern starts at the node
  looked up by id (`(f:Feature {id: id})<-[:REQUESTS]-(c)`): ArcadeDB plans a pattern from its first
  node, and starting from the unbound end scanned every customer (8 s for 100 features of the medium
  demo; 11 ms anchored).
- Result summaries: a result node without its report (`graph.result_statements`), and the report alone.
- API keys: `ApiKey` nodes holding a salted digest of the secret, never the secret itself
  (`api.auth` makes and checks them).

Every statement runs in its own managed read (or write) transaction through `graph.cypher.CypherRunner`;
`EntityReads.round_trips` counts the statements sent, so tests can bound the database work of a GraphQL
request. Each statement is an OpenTelemetry span (`graph.query <name>`, a no-op until a tracer provider
is installed).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any, Generic, TypeVar

from neo4j import AsyncDriver, Record
from pydantic import BaseModel, ConfigDict, Field

from graph import portfolio_statements
from graph.cypher import CypherClient, CypherRunner, Query, QueryObserver, Statements, native
from graph.portfolio import Customer, Feature, Feedback, Objective, Product, Release, Team
from graph.portfolio_statements import links
from graph.read_models import (
    customer_from_record,
    entity,
    feature_from_record,
    feedback_from_record,
    release_from_record,
)
from graph.result_statements import CURRENT_ROADMAP_SUMMARY, RESULT_REPORT, RESULT_SUMMARY
from graph.visibility import REVISION_SCOPE, visible_node, visible_relationship
from graph.vocabulary import PORTFOLIO_LABELS, NodeLabel

T = TypeVar("T")
EntityT = TypeVar("EntityT", bound=BaseModel)

API_KEY_LABEL = "ApiKey"
"""Not a portfolio label: API keys live beside the portfolio and are never imported or exported."""

STATEMENTS = Statements("api.")
_define = STATEMENTS.define


# -- pages ------------------------------------------------------------------------------------------


class PagedLabel(StrEnum):
    """The node types the API lists page by page."""

    PRODUCT = NodeLabel.PRODUCT.value
    FEATURE = NodeLabel.FEATURE.value
    CUSTOMER = NodeLabel.CUSTOMER.value
    TEAM = NodeLabel.TEAM.value
    OBJECTIVE = NodeLabel.OBJECTIVE.value


_CUSTOMER_LINKS = links("(n)-[l:USES]->(p:Product)", "p.id", "product_ids")
_RELEASE_LINKS = links("(n)-[l:OF]->(p:Product)", "p.id", "product_ids")
_FEEDBACK_LINKS = (
    f"{links('(n)-[l:FROM]->(c:Customer)', 'c.id', 'customer_ids')}, "
    f"{links('(n)-[l:ABOUT]->(f:Feature)', 'f.id', 'feature_ids')}"
)

_RETURN_COLUMNS: dict[PagedLabel, str] = {
    PagedLabel.PRODUCT: "properties(n) AS props",
    PagedLabel.FEATURE: f"properties(n) AS props, {portfolio_statements.FEATURE_LINKS}",
    PagedLabel.CUSTOMER: f"properties(n) AS props, {_CUSTOMER_LINKS}",
    PagedLabel.TEAM: "properties(n) AS props",
    PagedLabel.OBJECTIVE: "properties(n) AS props",
}

_FILTER_CONDITIONS: dict[PagedLabel, dict[str, str]] = {
    PagedLabel.PRODUCT: {},
    PagedLabel.FEATURE: {
        "status": "n.status = $status",
        "product": f"EXISTS {{ (n)-[a:PART_OF]->(:Product {{id: $product}}) WHERE {visible_relationship('a')} }}",
        "team": f"EXISTS {{ (:Team {{id: $team}})-[a:OWNS]->(n) WHERE {visible_relationship('a')} }}",
    },
    PagedLabel.CUSTOMER: {
        "segment": "n.segment = $segment",
        "product": f"EXISTS {{ (n)-[a:USES]->(:Product {{id: $product}}) WHERE {visible_relationship('a')} }}",
    },
    PagedLabel.TEAM: {
        "product": "EXISTS { (n)-[a:OWNS]->(:Feature)-[b:PART_OF]->(:Product {id: $product}) "
        f"WHERE {visible_relationship('a')} AND {visible_relationship('b')} }}",
    },
    PagedLabel.OBJECTIVE: {
        "product": "EXISTS { (:Product {id: $product})<-[a:PART_OF]-(:Feature)-[b:SUPPORTS]->(n) "
        f"WHERE {visible_relationship('a')} AND {visible_relationship('b')} }}",
    },
}
"""Per label, the filters it accepts: parameter name -> condition. A null parameter disables it. The
relationships a condition follows must be visible (`graph.visibility`)."""


def filter_names(label: PagedLabel) -> tuple[str, ...]:
    return tuple(_FILTER_CONDITIONS[label])


def _where(label: PagedLabel, cursor_condition: str | None) -> str:
    conditions = [visible_node("n"), *([cursor_condition] if cursor_condition else [])]
    conditions += [
        f"(${name} IS NULL OR {condition})" for name, condition in _FILTER_CONDITIONS[label].items()
    ]
    return f"WHERE {' AND '.join(conditions)}" if conditions else ""


def _page_query(label: PagedLabel, *, backward: bool) -> Query:
    cursor = "($before IS NULL OR n.id < $before)" if backward else "($after IS NULL OR n.id > $after)"
    order = "DESC" if backward else "ASC"
    return _define(
        f"page.{label.value}.{'backward' if backward else 'forward'}",
        f"{REVISION_SCOPE}MATCH (n:{label.value}) {_where(label, cursor)} "
        f"WITH n, current_revision ORDER BY n.id {order} LIMIT $limit "
        f"RETURN {_RETURN_COLUMNS[label]}",
    )


def _count_query(label: PagedLabel) -> Query:
    return _define(
        f"count.{label.value}",
        f"{REVISION_SCOPE}MATCH (n:{label.value}) {_where(label, None)} RETURN count(n) AS total",
    )


PAGE_FORWARD: dict[PagedLabel, Query] = {label: _page_query(label, backward=False) for label in PagedLabel}
PAGE_BACKWARD: dict[PagedLabel, Query] = {label: _page_query(label, backward=True) for label in PagedLabel}
COUNT: dict[PagedLabel, Query] = {label: _count_query(label) for label in PagedLabel}


@dataclass(frozen=True)
class PageRequest:
    """Keyset page bounds: `limit` items after `after` (forward) or before `before` (backward)."""

    limit: int
    after: str | None = None
    before: str | None = None
    backward: bool = False

    def __post_init__(self) -> None:
        if self.limit < 0:
            raise ValueError("limit must not be negative")


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page, in ascending id order."""

    items: list[T]
    has_next_page: bool
    has_previous_page: bool


# -- batched lookups ---------------------------------------------------------------------------------


def _by_ids(label: NodeLabel, columns: str) -> Query:
    return _define(
        f"by_ids.{label.value}",
        f"{REVISION_SCOPE}UNWIND $ids AS id MATCH (n:{label.value} {{id: id}}) WHERE {visible_node('n')} "
        f"RETURN n.id AS key, {columns}",
    )


PRODUCTS_BY_IDS = _by_ids(NodeLabel.PRODUCT, "properties(n) AS props")
TEAMS_BY_IDS = _by_ids(NodeLabel.TEAM, "properties(n) AS props")
FEATURES_BY_IDS = _by_ids(NodeLabel.FEATURE, f"properties(n) AS props, {portfolio_statements.FEATURE_LINKS}")
FEATURES_WITH_PREREQUISITES = _define(
    "features_with_prerequisites",
    f"{REVISION_SCOPE}UNWIND $ids AS id MATCH (f:Feature {{id: id}}) WHERE {visible_node('f')} "
    f"OPTIONAL MATCH (f)-[a:DEPENDS_ON]->(d) WHERE {visible_relationship('a')} "
    "WITH current_revision, collect(DISTINCT f) + collect(DISTINCT d) AS found "
    "UNWIND found AS n WITH DISTINCT n, current_revision "
    f"RETURN n.id AS key, properties(n) AS props, {portfolio_statements.FEATURE_LINKS}",
)
"""The given features and the features they depend on, in one statement (the API's look-ahead for a
list that shows prerequisites: one round trip instead of two, for about the cost of the first)."""
CUSTOMERS_BY_IDS = _by_ids(NodeLabel.CUSTOMER, f"properties(n) AS props, {_CUSTOMER_LINKS}")
OBJECTIVES_BY_IDS = _by_ids(NodeLabel.OBJECTIVE, "properties(n) AS props")
RELEASES_BY_IDS = _by_ids(NodeLabel.RELEASE, f"properties(n) AS props, {_RELEASE_LINKS}")
FEEDBACK_BY_IDS = _by_ids(NodeLabel.FEEDBACK, f"properties(n) AS props, {_FEEDBACK_LINKS}")

LABELS_BY_IDS = _define(
    "labels_by_ids",
    " UNION ALL ".join(
        f"{REVISION_SCOPE}UNWIND $ids AS id MATCH (n:{label.value} {{id: id}}) WHERE {visible_node('n')} "
        f"RETURN n.id AS key, '{label.value}' AS label"
        for label in PORTFOLIO_LABELS
    ),
)
"""Which portfolio label each id has, in one statement (one index lookup per label and id)."""

REQUESTS_BY_FEATURE_IDS = _define(
    "requests_by_feature_ids",
    f"{REVISION_SCOPE}UNWIND $ids AS id MATCH (f:Feature {{id: id}})<-[r:REQUESTS]-(c:Customer) "
    f"WHERE {visible_relationship('r')} RETURN f.id AS key, c.id AS customer_id, f.id AS feature_id, r.weight AS weight, "
    "r.requested_at AS requested_at",
)
REQUESTS_BY_CUSTOMER_IDS = _define(
    "requests_by_customer_ids",
    f"{REVISION_SCOPE}UNWIND $ids AS id MATCH (c:Customer {{id: id}})-[r:REQUESTS]->(f:Feature) "
    f"WHERE {visible_relationship('r')} RETURN c.id AS key, c.id AS customer_id, f.id AS feature_id, r.weight AS weight, "
    "r.requested_at AS requested_at",
)
OWNED_FEATURE_IDS_BY_TEAM_IDS = _define(
    "owned_feature_ids_by_team_ids",
    f"{REVISION_SCOPE}UNWIND $ids AS id MATCH (t:Team {{id: id}})-[a:OWNS]->(f:Feature) "
    f"WHERE {visible_relationship('a')} RETURN t.id AS key, f.id AS member",
)
FEATURE_IDS_BY_PRODUCT_IDS = _define(
    "feature_ids_by_product_ids",
    f"{REVISION_SCOPE}UNWIND $ids AS id MATCH (p:Product {{id: id}})<-[a:PART_OF]-(f:Feature) "
    f"WHERE {visible_relationship('a')} RETURN p.id AS key, f.id AS member",
)
DEPENDENT_IDS_BY_FEATURE_IDS = _define(
    "dependent_ids_by_feature_ids",
    f"{REVISION_SCOPE}UNWIND $ids AS id MATCH (f:Feature {{id: id}})<-[a:DEPENDS_ON]-(d:Feature) "
    f"WHERE {visible_relationship('a')} RETURN f.id AS key, d.id AS member",
)
FEATURE_IDS_BY_OBJECTIVE_IDS = _define(
    "feature_ids_by_objective_ids",
    f"{REVISION_SCOPE}UNWIND $ids AS id MATCH (o:Objective {{id: id}})<-[a:SUPPORTS]-(f:Feature) "
    f"WHERE {visible_relationship('a')} RETURN o.id AS key, f.id AS member",
)
FEEDBACK_IDS_BY_FEATURE_IDS = _define(
    "feedback_ids_by_feature_ids",
    f"{REVISION_SCOPE}UNWIND $ids AS id MATCH (f:Feature {{id: id}})<-[a:ABOUT]-(n:Feedback) "
    f"WHERE {visible_relationship('a')} RETURN f.id AS key, n.id AS member",
)


class FeatureDemandFigures(BaseModel):
    """Demand on one feature: how many customers asked, and their ARR times the request weight."""

    model_config = ConfigDict(frozen=True)

    feature_id: str
    request_count: int
    arr_weighted_demand: float
    confirmed_feedback_arr: float = Field(
        default=0.0,
        description="ARR of the customers with confirmed feedback about the feature and no request for it "
        "(each once); `engines.scoring` weighs it by CONFIRMED_FEEDBACK_WEIGHT.",
    )


class RequestLink(BaseModel):
    """One Customer-[:REQUESTS]->Feature edge seen from either end."""

    model_config = ConfigDict(frozen=True)

    customer_id: str
    feature_id: str
    weight: float
    requested_at: date | None = None


class StoredReport(BaseModel):
    """The parts of a result node that never change once written."""

    model_config = ConfigDict(frozen=True)

    compressed: str
    cited_ids: list[str]


# -- API keys ----------------------------------------------------------------------------------------

API_KEY_CONSTRAINT = _define(
    "api_key.constraint",
    f"CREATE CONSTRAINT apikey_id_unique IF NOT EXISTS FOR (n:{API_KEY_LABEL}) REQUIRE n.id IS UNIQUE",
)
CREATE_API_KEY = _define("api_key.create", f"CREATE (k:{API_KEY_LABEL}) SET k = $props")
API_KEY_BY_ID = _define(
    "api_key.by_id", f"MATCH (k:{API_KEY_LABEL} {{id: $id}}) RETURN properties(k) AS props"
)
LIST_API_KEYS = _define("api_key.list", f"MATCH (k:{API_KEY_LABEL}) RETURN properties(k) AS props")
REVOKE_API_KEY = _define(
    "api_key.revoke",
    f"MATCH (k:{API_KEY_LABEL} {{id: $id}}) WHERE k.revoked_at IS NULL SET k.revoked_at = $at RETURN k.id AS id",
)


class StoredApiKey(BaseModel):
    """An API key as stored: the salted digest of its secret and the role it grants; never the secret."""

    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    role: str
    salt: str
    digest: str
    created_at: str
    """ISO 8601 timestamp (UTC)."""
    revoked_at: str | None = None


# -- running statements ------------------------------------------------------------------------------


_PAGE_ENTITY: dict[PagedLabel, Callable[[Record], Any]] = {
    PagedLabel.PRODUCT: lambda record: entity(Product, record["props"]),
    PagedLabel.FEATURE: feature_from_record,
    PagedLabel.CUSTOMER: customer_from_record,
    PagedLabel.TEAM: lambda record: entity(Team, record["props"]),
    PagedLabel.OBJECTIVE: lambda record: entity(Objective, record["props"]),
}


def _present(properties: Mapping[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in properties.items() if value is not None}


def _demand(record: Record) -> tuple[str, FeatureDemandFigures]:
    figures = FeatureDemandFigures(
        feature_id=record["id"],
        request_count=int(record["request_count"]),
        arr_weighted_demand=float(record["arr_weighted"] or 0.0),
        confirmed_feedback_arr=_confirmed_feedback_arr(record),
    )
    return figures.feature_id, figures


def _confirmed_feedback_arr(record: Record) -> float:
    requesters = set(record["requester_ids"])
    arr_by_customer = {str(customer_id): float(arr) for customer_id, arr in record["confirmers"]}
    return sum(arr for customer_id, arr in arr_by_customer.items() if customer_id not in requesters)


class Lookup(StrEnum):
    """The batched lookups a cache of portfolio reads may keep (`EntityReads.lookup_at_revision`)."""

    FEATURE = "feature"
    FEATURE_WITH_PREREQUISITES = "feature_with_prerequisites"
    """Features by id and the features they depend on, all under FEATURE's keys."""
    TEAM = "team"
    DEMAND = "demand"


_LOOKUPS: dict[Lookup, tuple[Query, Callable[[Record], tuple[str, Any]]]] = {
    Lookup.FEATURE: (FEATURES_BY_IDS, lambda record: (record["key"], feature_from_record(record))),
    Lookup.FEATURE_WITH_PREREQUISITES: (
        FEATURES_WITH_PREREQUISITES,
        lambda record: (record["key"], feature_from_record(record)),
    ),
    Lookup.TEAM: (TEAMS_BY_IDS, lambda record: (record["key"], entity(Team, record["props"]))),
    Lookup.DEMAND: (portfolio_statements.FEATURE_DEMAND_SELECTED, _demand),
}


class EntityReads(CypherClient):
    """The API's statements on one database of an async driver; `round_trips` counts statements sent."""

    def __init__(
        self, driver: AsyncDriver, database: str = "neo4j", *, observer: QueryObserver | None = None
    ) -> None:
        super().__init__(CypherRunner(driver, database, observer=observer))

    @property
    def round_trips(self) -> int:
        return self.cypher.round_trips

    async def _fetch(self, query: Query, **params: Any) -> list[Record]:
        return await self.cypher.fetch(query, **params)

    async def _write(self, query: Query, **params: Any) -> list[Record]:
        return await self.cypher.send(query, **params)

    async def ensure_schema(self) -> None:
        """The uniqueness constraint on API key ids (idempotent)."""
        await self._write(API_KEY_CONSTRAINT)

    # -- pages --------------------------------------------------------------------------------------

    async def page(
        self, label: PagedLabel, request: PageRequest, filters: Mapping[str, str | None] | None = None
    ) -> Page[Any]:
        """A page of `label` nodes (graph.portfolio entities, ascending by id) under `filters`."""
        params = self._filter_params(label, filters)
        if request.backward:
            records = await self._fetch(
                PAGE_BACKWARD[label], before=request.before, limit=request.limit + 1, **params
            )
        else:
            records = await self._fetch(
                PAGE_FORWARD[label], after=request.after, limit=request.limit + 1, **params
            )
        build = _PAGE_ENTITY[label]
        items = sorted((build(record) for record in records), key=lambda item: item.id)
        more = len(items) > request.limit
        if request.backward:
            # The statement took the `limit + 1` ids just before `before`: the extra one is the lowest.
            kept = items[1:] if more else items
            has_next, has_previous = request.before is not None, more
        else:
            kept = items[: request.limit]
            has_next, has_previous = more, request.after is not None
        return Page(items=kept, has_next_page=has_next, has_previous_page=has_previous)

    async def count(self, label: PagedLabel, filters: Mapping[str, str | None] | None = None) -> int:
        records = await self._fetch(COUNT[label], **self._filter_params(label, filters))
        return int(records[0]["total"]) if records else 0

    @staticmethod
    def _filter_params(label: PagedLabel, filters: Mapping[str, str | None] | None) -> dict[str, str | None]:
        given = dict(filters or {})
        unknown = set(given) - set(_FILTER_CONDITIONS[label])
        if unknown:
            raise ValueError(f"{label.value} pages cannot be filtered by {', '.join(sorted(unknown))}")
        return {name: given.get(name) for name in _FILTER_CONDITIONS[label]}

    # -- entities by id -----------------------------------------------------------------------------

    async def _entities(
        self, query: Query, ids: Iterable[str], build: Callable[[Record], EntityT]
    ) -> dict[str, EntityT]:
        wanted = sorted(set(ids))
        if not wanted:
            return {}
        return {record["key"]: build(record) for record in await self._fetch(query, ids=wanted)}

    async def products_by_ids(self, ids: Iterable[str]) -> dict[str, Product]:
        return await self._entities(PRODUCTS_BY_IDS, ids, lambda record: entity(Product, record["props"]))

    async def teams_by_ids(self, ids: Iterable[str]) -> dict[str, Team]:
        return await self._lookup(Lookup.TEAM, ids)

    async def features_by_ids(self, ids: Iterable[str]) -> dict[str, Feature]:
        return await self._lookup(Lookup.FEATURE, ids)

    async def features_with_prerequisites(self, ids: Iterable[str]) -> dict[str, Feature]:
        """The features `ids` that exist and every feature one of them depends on, by id."""
        return await self._lookup(Lookup.FEATURE_WITH_PREREQUISITES, ids)

    async def _lookup(self, lookup: Lookup, ids: Iterable[str]) -> dict[str, Any]:
        wanted = sorted(set(ids))
        if not wanted:
            return {}
        query, build = _LOOKUPS[lookup]
        return dict(build(record) for record in await self._fetch(query, ids=wanted))

    async def revision(self) -> str | None:
        """The portfolio's revision token (`graph.store.GraphStore.revision`); None before any import."""
        records = await self._fetch(portfolio_statements.READ_REVISION)
        return records[0]["token"] if records else None

    async def lookup_at_revision(
        self, lookup: Lookup, ids: Iterable[str]
    ) -> tuple[str | None, dict[str, Any]]:
        """A batched lookup and the portfolio's revision token, read in the same transaction: the records
        are the state of that revision (on a cluster too, whichever member answers)."""
        wanted = sorted(set(ids))
        if not wanted:
            return None, {}
        query, build = _LOOKUPS[lookup]
        revision, records = await self.cypher.fetch_after(
            portfolio_statements.READ_REVISION, query, ids=wanted
        )
        token = revision[0]["token"] if revision else None
        return token, dict(build(record) for record in records)

    async def customers_by_ids(self, ids: Iterable[str]) -> dict[str, Customer]:
        return await self._entities(CUSTOMERS_BY_IDS, ids, customer_from_record)

    async def objectives_by_ids(self, ids: Iterable[str]) -> dict[str, Objective]:
        return await self._entities(OBJECTIVES_BY_IDS, ids, lambda record: entity(Objective, record["props"]))

    async def releases_by_ids(self, ids: Iterable[str]) -> dict[str, Release]:
        return await self._entities(RELEASES_BY_IDS, ids, release_from_record)

    async def feedback_by_ids(self, ids: Iterable[str]) -> dict[str, Feedback]:
        return await self._entities(FEEDBACK_BY_IDS, ids, feedback_from_record)

    async def labels_by_ids(self, ids: Iterable[str]) -> dict[str, NodeLabel]:
        """The portfolio label of each id present in the graph; absent ids are left out."""
        wanted = sorted(set(ids))
        if not wanted:
            return {}
        records = await self._fetch(LABELS_BY_IDS, ids=wanted)
        return {record["key"]: NodeLabel(record["label"]) for record in records}

    # -- relationships by id ------------------------------------------------------------------------

    async def _members(self, query: Query, ids: Iterable[str]) -> dict[str, list[str]]:
        wanted = sorted(set(ids))
        grouped: dict[str, list[str]] = {key: [] for key in wanted}
        if wanted:
            for record in await self._fetch(query, ids=wanted):
                grouped[record["key"]].append(record["member"])
        return {key: sorted(members) for key, members in grouped.items()}

    async def owned_feature_ids_by_team_ids(self, ids: Iterable[str]) -> dict[str, list[str]]:
        return await self._members(OWNED_FEATURE_IDS_BY_TEAM_IDS, ids)

    async def feature_ids_by_product_ids(self, ids: Iterable[str]) -> dict[str, list[str]]:
        return await self._members(FEATURE_IDS_BY_PRODUCT_IDS, ids)

    async def dependent_ids_by_feature_ids(self, ids: Iterable[str]) -> dict[str, list[str]]:
        """Features that depend on each given feature (the reverse of Feature.depends_on)."""
        return await self._members(DEPENDENT_IDS_BY_FEATURE_IDS, ids)

    async def feature_ids_by_objective_ids(self, ids: Iterable[str]) -> dict[str, list[str]]:
        return await self._members(FEATURE_IDS_BY_OBJECTIVE_IDS, ids)

    async def feedback_ids_by_feature_ids(self, ids: Iterable[str]) -> dict[str, list[str]]:
        return await self._members(FEEDBACK_IDS_BY_FEATURE_IDS, ids)

    async def demand_by_feature_ids(self, ids: Iterable[str]) -> dict[str, FeatureDemandFigures]:
        """Request count and ARR-weighted demand of each given feature that exists."""
        return await self._lookup(Lookup.DEMAND, ids)

    async def _requests(
        self, query: Query, ids: Iterable[str], order: Callable[[RequestLink], str]
    ) -> dict[str, list[RequestLink]]:
        wanted = sorted(set(ids))
        grouped: dict[str, list[RequestLink]] = {key: [] for key in wanted}
        if wanted:
            for record in await self._fetch(query, ids=wanted):
                grouped[record["key"]].append(
                    RequestLink(
                        customer_id=record["customer_id"],
                        feature_id=record["feature_id"],
                        weight=float(record["weight"]),
                        requested_at=native(record["requested_at"]),
                    )
                )
        return {key: sorted(links, key=order) for key, links in grouped.items()}

    async def requests_by_feature_ids(self, ids: Iterable[str]) -> dict[str, list[RequestLink]]:
        """Each feature's requests, sorted by customer id."""
        return await self._requests(REQUESTS_BY_FEATURE_IDS, ids, lambda link: link.customer_id)

    async def requests_by_customer_ids(self, ids: Iterable[str]) -> dict[str, list[RequestLink]]:
        """Each customer's requests, sorted by feature id."""
        return await self._requests(REQUESTS_BY_CUSTOMER_IDS, ids, lambda link: link.feature_id)

    # -- result nodes -------------------------------------------------------------------------------

    async def result_properties(self, label: NodeLabel, result_id: str) -> dict[str, Any] | None:
        """A result node's properties without its report and cited ids; None if there is no such node."""
        records = await self._fetch(RESULT_SUMMARY[label], id=result_id)
        return _present(records[0]["props"]) if records else None

    async def current_roadmap_properties(self, head_id: str) -> dict[str, Any] | None:
        """The current roadmap version's properties as `result_properties` has them; None before one is published."""
        records = await self._fetch(CURRENT_ROADMAP_SUMMARY, head=head_id)
        return _present(records[0]["props"]) if records else None

    async def result_report(self, label: NodeLabel, result_id: str) -> StoredReport | None:
        """The stored (compressed) report of a result node and the ids it cites; None if there is no such
        node or its report was not stored."""
        records = await self._fetch(RESULT_REPORT[label], id=result_id)
        if not records or records[0]["report_z"] is None:
            return None
        return StoredReport(compressed=records[0]["report_z"], cited_ids=list(records[0]["cited_ids"] or []))

    # -- API keys -----------------------------------------------------------------------------------

    async def create_api_key(self, key: StoredApiKey) -> None:
        await self._write(CREATE_API_KEY, props=key.model_dump(exclude_none=True))

    async def api_key(self, key_id: str) -> StoredApiKey | None:
        records = await self._fetch(API_KEY_BY_ID, id=key_id)
        return StoredApiKey.model_validate(dict(records[0]["props"])) if records else None

    async def api_keys(self) -> list[StoredApiKey]:
        records = await self._fetch(LIST_API_KEYS)
        return sorted((StoredApiKey.model_validate(dict(r["props"])) for r in records), key=lambda k: k.id)

    async def revoke_api_key(self, key_id: str, at: str) -> bool:
        """Mark the key revoked; False if there is no such live key."""
        return bool(await self._write(REVOKE_API_KEY, id=key_id, at=at))
