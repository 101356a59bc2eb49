"""Typed read models over the portfolio graph; `GraphStore` inherits them from `ReadModels`.

Every list of ids in a result is sorted; entity lists are sorted as each method says.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from neo4j import AsyncManagedTransaction, Record
from pydantic import BaseModel, ConfigDict

from graph import portfolio_statements as queries
from graph.cypher import CypherClient, Query, native
from graph.portfolio import (
    Customer,
    EntityId,
    Feature,
    FeatureStatus,
    Feedback,
    Objective,
    Portfolio,
    Product,
    Release,
    Request,
    Team,
)
from graph.vocabulary import CONSTRAINED_LABELS, RelType

ModelT = TypeVar("ModelT", bound=BaseModel)

_SNAPSHOT_ATTEMPTS = 5


class PortfolioChangedError(RuntimeError):
    """Imports kept committing while a snapshot was read, so no read saw one revision throughout."""


class FeatureDetail(Feature):
    """A feature with the name of its owning team."""

    team_name: str | None = None


class TeamCapacity(BaseModel):
    model_config = ConfigDict(frozen=True)

    team: Team
    owned_feature_ids: list[EntityId]
    open_feature_ids: list[EntityId]
    """Owned features not done yet."""
    remaining_effort_likely: float
    """Sum of effort_likely * (1 - progress) over the open features, in person-weeks."""
    mean_throughput: float | None
    """Mean of throughput_history (person-weeks per week); None without history."""
    weeks_of_work: float | None
    """remaining_effort_likely / capacity; None when capacity is 0."""


class FeatureDemand(BaseModel):
    model_config = ConfigDict(frozen=True)

    feature_id: EntityId
    name: str
    request_count: int
    arr_weighted_demand: float
    """Sum over the feature's requests of the requesting customer's ARR times the request weight."""


class AffectedCustomer(Customer):
    """A customer, with which of the asked-about features it requested."""

    requested_feature_ids: list[EntityId]


def _model_fields(model: type[BaseModel], properties: Mapping[str, Any]) -> dict[str, Any]:
    """The stored properties that are fields of `model` (other properties are ignored), as Python values."""
    fields = model.model_fields
    return {name: native(value) for name, value in properties.items() if name in fields and value is not None}


def _only(values: Sequence[str], what: str, owner: str) -> str | None:
    if len(values) > 1:
        raise ValueError(f"{owner} has {len(values)} {what} relationships in the graph; expected at most one")
    return values[0] if values else None


def _required(values: Sequence[str], what: str, owner: str) -> str:
    value = _only(values, what, owner)
    if value is None:
        raise ValueError(f"{owner} has no {what} relationship in the graph")
    return value


def entity(model: type[ModelT], properties: Mapping[str, Any], **links: Any) -> ModelT:
    """`model` from a node's stored properties (those that are not its fields are ignored) and its links."""
    return model(**_model_fields(model, properties), **links)


def _feature(record: Record, model: type[ModelT], **extra: Any) -> ModelT:
    props = record["props"]
    owner = f"feature {props.get('id')!r}"
    return entity(
        model,
        props,
        product_id=_required(record["product_ids"], "PART_OF", owner),
        team_id=_only(record["team_ids"], "OWNS", owner),
        depends_on=sorted(record["depends_on"]),
        objective_ids=sorted(record["objective_ids"]),
        release_id=_only(record["release_ids"], "PLANNED_FOR", owner),
        **extra,
    )


def feature_from_record(record: Record) -> Feature:
    """A feature from `props` and the link columns of `graph.portfolio_statements.FEATURE_LINKS`."""
    return _feature(record, Feature)


def customer_from_record(record: Record) -> Customer:
    """A customer from `props` and `product_ids`."""
    return entity(Customer, record["props"], product_ids=sorted(record["product_ids"]))


def release_from_record(record: Record) -> Release:
    """A release from `props` and `product_ids` (at most one)."""
    props = record["props"]
    return entity(
        Release, props, product_id=_only(record["product_ids"], "OF", f"release {props.get('id')!r}")
    )


def feedback_from_record(record: Record) -> Feedback:
    """Feedback from `props`, `customer_ids` (exactly one), `feature_ids` (at most one) and, in the snapshot,
    `confirmed_feature_ids` (`graph.insight_store`'s confirmed links)."""
    props = record["props"]
    owner = f"feedback {props.get('id')!r}"
    return entity(
        Feedback,
        props,
        customer_id=_required(record["customer_ids"], "FROM", owner),
        feature_id=_only(record["feature_ids"], "ABOUT", owner),
        confirmed_feature_ids=sorted(record.get("confirmed_feature_ids") or []),
    )


class ReadModels(CypherClient):
    """The read side of `GraphStore`."""

    async def _fetch(self, query: Query, **params: Any) -> list[Record]:
        async def work(tx: AsyncManagedTransaction) -> list[Record]:
            return await self.cypher.records(tx, query, **params)

        return await self.cypher.read(work)

    async def product_features(self, product_id: str) -> list[FeatureDetail]:
        """The product's features, sorted by id, with dependencies, owner, objectives and release."""
        records = await self._fetch(queries.PRODUCT_FEATURES, product_id=product_id)
        details = [
            _feature(record, FeatureDetail, team_name=_only(record["team_names"], "OWNS", "feature"))
            for record in records
        ]
        return sorted(details, key=lambda detail: detail.id)

    async def team_capacity(self, team_id: str) -> TeamCapacity | None:
        """The team's capacity, throughput history and open work; None if there is no such team."""
        records = await self._fetch(queries.TEAM_CAPACITY, team_id=team_id)
        if not records:
            return None
        record = records[0]
        team = entity(Team, record["props"])
        owned = sorted(record["owned"], key=lambda item: item[0])
        open_work = [item for item in owned if item[1] != FeatureStatus.DONE.value]
        remaining = sum(float(effort) * (1.0 - float(progress)) for _, _, effort, progress in open_work)
        history = team.throughput_history
        return TeamCapacity(
            team=team,
            owned_feature_ids=[item[0] for item in owned],
            open_feature_ids=[item[0] for item in open_work],
            remaining_effort_likely=remaining,
            mean_throughput=sum(history) / len(history) if history else None,
            weeks_of_work=remaining / team.capacity if team.capacity > 0 else None,
        )

    async def feature_demand(self, feature_ids: Sequence[str] | None = None) -> list[FeatureDemand]:
        """Request count and ARR-weighted demand per feature (all features, or those given that exist),
        sorted by ARR-weighted demand, largest first, then by id."""
        if feature_ids is None:
            records = await self._fetch(queries.FEATURE_DEMAND_ALL)
        else:
            records = await self._fetch(queries.FEATURE_DEMAND_SELECTED, ids=sorted(set(feature_ids)))
        demand = [
            FeatureDemand(
                feature_id=record["id"],
                name=record["name"],
                request_count=record["request_count"],
                arr_weighted_demand=float(record["arr_weighted"] or 0.0),
            )
            for record in records
        ]
        return sorted(demand, key=lambda item: (-item.arr_weighted_demand, item.feature_id))

    async def customers_affected(self, feature_ids: Sequence[str]) -> list[AffectedCustomer]:
        """Customers who requested any of the features, sorted by ARR, largest first, then by id."""
        records = await self._fetch(queries.CUSTOMERS_AFFECTED, ids=sorted(set(feature_ids)))
        customers = [
            AffectedCustomer(
                **_model_fields(Customer, record["props"]),
                product_ids=sorted(record["product_ids"]),
                requested_feature_ids=sorted(record["requested"]),
            )
            for record in records
        ]
        return sorted(customers, key=lambda customer: (-customer.arr, customer.id))

    async def counts(self) -> dict[str, int]:
        """Nodes per label and relationships per type, keyed by label / type name (zeros included)."""

        async def work(tx: AsyncManagedTransaction) -> dict[str, int]:
            counts: dict[str, int] = {}
            for label in CONSTRAINED_LABELS:
                records = await self.cypher.records(tx, queries.COUNT_NODES[label])
                counts[label.value] = int(records[0]["count"])
            for rel_type in RelType:
                records = await self.cypher.records(tx, queries.COUNT_RELATIONSHIPS[rel_type])
                counts[rel_type.value] = int(records[0]["count"])
            return counts

        return await self.cypher.read(work)

    async def get_nodes(self, ids: Sequence[str]) -> dict[str, str]:
        """The label of each of `ids` present in the graph: {id: label}; absent ids are left out."""
        wanted = sorted(set(ids))

        async def work(tx: AsyncManagedTransaction) -> dict[str, str]:
            found: dict[str, str] = {}
            for label in CONSTRAINED_LABELS:
                for record in await self.cypher.records(tx, queries.FIND_IDS[label], ids=wanted):
                    found.setdefault(record["id"], label.value)
            return found

        return await self.cypher.read(work) if wanted else {}

    async def portfolio_snapshot(self) -> Portfolio:
        """The whole portfolio, one streaming query per entity type in one read transaction.

        Entities are sorted by id, requests by (customer_id, feature_id), id lists sorted: equal to
        `graph.store.normalise_portfolio` of what was imported. It is the portfolio of one revision: the
        token is read before and after, and the snapshot read again if an import committed meanwhile.
        """

        async def revision(tx: AsyncManagedTransaction) -> Any:
            records = await self.cypher.records(tx, queries.READ_REVISION)
            return records[0]["token"] if records else None

        async def work(tx: AsyncManagedTransaction) -> Portfolio | None:
            before = await revision(tx)

            async def each(query: Query, build: Callable[[Record], ModelT]) -> list[ModelT]:
                return [build(record) async for record in await self.cypher.run(tx, query)]

            products = await each(queries.SNAPSHOT_PRODUCTS, lambda record: entity(Product, record["props"]))
            teams = await each(queries.SNAPSHOT_TEAMS, lambda record: entity(Team, record["props"]))
            features = await each(queries.SNAPSHOT_FEATURES, feature_from_record)
            customers = await each(queries.SNAPSHOT_CUSTOMERS, customer_from_record)
            objectives = await each(
                queries.SNAPSHOT_OBJECTIVES, lambda record: entity(Objective, record["props"])
            )
            releases = await each(queries.SNAPSHOT_RELEASES, release_from_record)
            requests = [
                Request(
                    customer_id=customer_id,
                    feature_id=record["feature_id"],
                    weight=weight,
                    requested_at=native(at),
                )
                async for record in await self.cypher.run(tx, queries.SNAPSHOT_REQUESTS)
                for customer_id, weight, at in record["requests"]
            ]
            feedback = await each(queries.SNAPSHOT_FEEDBACK, feedback_from_record)
            if await revision(tx) != before:
                return None
            return Portfolio(
                products=sorted(products, key=lambda item: item.id),
                teams=sorted(teams, key=lambda item: item.id),
                features=sorted(features, key=lambda item: item.id),
                customers=sorted(customers, key=lambda item: item.id),
                objectives=sorted(objectives, key=lambda item: item.id),
                releases=sorted(releases, key=lambda item: item.id),
                requests=sorted(requests, key=lambda item: (item.customer_id, item.feature_id)),
                feedback=sorted(feedback, key=lambda item: item.id),
            )

        for _ in range(_SNAPSHOT_ATTEMPTS - 1):
            if (snapshot := await self.cypher.read(work)) is not None:
                return snapshot
        snapshot = await self.cypher.read(work)
        if snapshot is None:
            raise PortfolioChangedError(
                f"the portfolio changed during each of {_SNAPSHOT_ATTEMPTS} snapshot reads; try again"
            )
        return snapshot
