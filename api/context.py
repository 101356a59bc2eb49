"""What every resolver sees: the services of the process and, per request, the caller and DataLoaders.

`ApiServices` is built once per process (`api.server`); `RequestContext` once per HTTP request (or
per WebSocket connection), with fresh DataLoaders, so one request never sees another's cache and
each nested field costs one batched statement per tick instead of one per parent (no N+1).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.dataloader import DataLoader
from temporalio.client import Client

from api.auth import ApiKeyAuthenticator, Principal
from api.result_reader import ResultReader
from api.settings import ApiSettings
from graph import models
from graph.api_queries import ApiQueries, FeatureDemandFigures, RequestLink
from graph.schema import NodeLabel
from graph.store import GraphStore

V = TypeVar("V")


@dataclass
class ApiServices:
    """The long-lived collaborators of the API process."""

    queries: ApiQueries
    store: GraphStore
    settings: ApiSettings
    authenticator: ApiKeyAuthenticator
    results: ResultReader
    temporal: Client | None = None
    """None: the run, result and schedule fields answer SERVICE_UNAVAILABLE."""
    task_queue: str = "lodestar"


def _keyed(
    fetch: Callable[[list[str]], Awaitable[Mapping[str, V]]],
) -> Callable[[list[str]], Awaitable[list[V | None]]]:
    async def load(keys: list[str]) -> list[V | None]:
        found = await fetch(keys)
        return [found.get(key) for key in keys]

    return load


def _listed(
    fetch: Callable[[list[str]], Awaitable[Mapping[str, list[V]]]],
) -> Callable[[list[str]], Awaitable[list[list[V]]]]:
    async def load(keys: list[str]) -> list[list[V]]:
        found = await fetch(keys)
        return [found.get(key, []) for key in keys]

    return load


class Loaders:
    """One DataLoader per lookup; each batch is one statement of `graph.api_queries`."""

    def __init__(self, queries: ApiQueries, *, max_batch_size: int = 1_000) -> None:
        self._queries = queries

        def loader(load_fn: Callable[[list[str]], Awaitable[list[Any]]]) -> DataLoader[str, Any]:
            return DataLoader(load_fn=load_fn, max_batch_size=max_batch_size)

        self.product: DataLoader[str, models.Product | None] = loader(_keyed(queries.products_by_ids))
        self.team: DataLoader[str, models.Team | None] = loader(_keyed(queries.teams_by_ids))
        self.feature: DataLoader[str, models.Feature | None] = loader(_keyed(queries.features_by_ids))
        self.customer: DataLoader[str, models.Customer | None] = loader(_keyed(queries.customers_by_ids))
        self.objective: DataLoader[str, models.Objective | None] = loader(_keyed(queries.objectives_by_ids))
        self.release: DataLoader[str, models.Release | None] = loader(_keyed(queries.releases_by_ids))
        self.feedback: DataLoader[str, models.Feedback | None] = loader(_keyed(queries.feedback_by_ids))
        self.label: DataLoader[str, NodeLabel | None] = loader(_keyed(queries.labels_by_ids))
        self.demand: DataLoader[str, FeatureDemandFigures | None] = loader(
            _keyed(queries.demand_by_feature_ids)
        )
        self.requests_of_feature: DataLoader[str, list[RequestLink]] = loader(
            _listed(queries.requests_by_feature_ids)
        )
        self.requests_of_customer: DataLoader[str, list[RequestLink]] = loader(
            _listed(queries.requests_by_customer_ids)
        )
        self.features_of_team: DataLoader[str, list[str]] = loader(
            _listed(queries.owned_feature_ids_by_team_ids)
        )
        self.features_of_product: DataLoader[str, list[str]] = loader(
            _listed(queries.feature_ids_by_product_ids)
        )
        self.features_of_objective: DataLoader[str, list[str]] = loader(
            _listed(queries.feature_ids_by_objective_ids)
        )
        self.dependents_of_feature: DataLoader[str, list[str]] = loader(
            _listed(queries.dependent_ids_by_feature_ids)
        )
        self.feedback_of_feature: DataLoader[str, list[str]] = loader(
            _listed(queries.feedback_ids_by_feature_ids)
        )

    def prime_features(self, features: Iterable[models.Feature]) -> None:
        """Features already fetched (a page) need no second lookup when something links to them."""
        self.feature.prime_many({feature.id: feature for feature in features})

    async def load_features_with_prerequisites(self, ids: Sequence[str]) -> None:
        """Load the features `ids` and the features they depend on into `feature`, in one statement."""
        found = await self._queries.features_with_prerequisites(ids)
        self.feature.prime_many({feature_id: found.get(feature_id) for feature_id in ids})
        self.feature.prime_many(found)


@dataclass
class RequestContext:
    services: ApiServices
    loaders: Loaders
    principal: Principal | None
    request: Request | WebSocket | None = None
    response: Response | WebSocket | None = None
    connection_params: dict[str, object] | None = field(default=None)
    """The graphql-transport-ws `connection_init` payload, set by strawberry on WebSockets."""

    @property
    def settings(self) -> ApiSettings:
        return self.services.settings

    @property
    def queries(self) -> ApiQueries:
        return self.services.queries
