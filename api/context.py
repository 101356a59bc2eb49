"""What every resolver sees: the services of the process and, per request, the caller and DataLoaders.

`ApiServices` is built once per process (`api.server`); `RequestContext` once per HTTP request (or
per WebSocket connection), with fresh DataLoaders, so one request never sees another's cache and
each nested field costs one batched statement per tick instead of one per parent (no N+1).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.dataloader import DataLoader
from temporalio.client import Client

from api.auth import ApiKeyAuthenticator, Principal
from api.errors import ClientError
from api.health import HealthMonitor
from api.portfolio_cache import PortfolioCache
from api.result_reader import ResultReader
from api.settings import ApiSettings
from graph import portfolio
from graph.entity_reads import EntityReads, FeatureDemandFigures, Lookup, RequestLink
from graph.store import GraphStore
from graph.vocabulary import NodeLabel

if TYPE_CHECKING:
    from api.run_watches import RunWatches  # it imports the Temporal client's module, which loads pydantic-ai

V = TypeVar("V")


@dataclass
class ApiServices:
    """The long-lived collaborators of the API process."""

    queries: EntityReads
    store: GraphStore
    settings: ApiSettings
    authenticator: ApiKeyAuthenticator
    results: ResultReader
    temporal: Client | None = None
    """None: the run, result and schedule fields answer SERVICE_UNAVAILABLE."""
    task_queue: str = "lodestar"
    portfolio_cache: PortfolioCache = field(default_factory=PortfolioCache)
    health: HealthMonitor = field(init=False)
    """The graph's and Temporal's status, for `/healthz` and `/readyz`."""
    run_watches: RunWatches | None = field(default=None, init=False)
    """The pollers `runProgress` subscribers share, one per followed run (made by the first one)."""

    def __post_init__(self) -> None:
        self.health = HealthMonitor(
            self.queries.driver,
            self.queries.database,
            self.temporal,
            timeout_s=self.settings.readiness_timeout_s,
        )

    def loaders(self) -> Loaders:
        """Fresh DataLoaders for one request, over this process's cache of portfolio reads."""
        return Loaders(self.queries, cache=self.portfolio_cache)


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
    """One DataLoader per lookup; each batch is one statement of `graph.entity_reads`.

    With a `cache` (`api.portfolio_cache`), features, teams and demand come from it when the request's
    revision token (read once, when first needed) matches, and what is read goes into it.
    """

    def __init__(
        self, queries: EntityReads, *, cache: PortfolioCache | None = None, max_batch_size: int = 1_000
    ) -> None:
        self._queries = queries
        self._cache = cache
        self._revision: asyncio.Future[str | None] | None = None

        def loader(load_fn: Callable[[list[str]], Awaitable[list[Any]]]) -> DataLoader[str, Any]:
            return DataLoader(load_fn=load_fn, max_batch_size=max_batch_size)

        self.product: DataLoader[str, portfolio.Product | None] = loader(_keyed(queries.products_by_ids))
        self.team: DataLoader[str, portfolio.Team | None] = loader(
            _keyed(self._reader(Lookup.TEAM, queries.teams_by_ids))
        )
        self.feature: DataLoader[str, portfolio.Feature | None] = loader(
            _keyed(self._reader(Lookup.FEATURE, queries.features_by_ids))
        )
        self.customer: DataLoader[str, portfolio.Customer | None] = loader(_keyed(queries.customers_by_ids))
        self.objective: DataLoader[str, portfolio.Objective | None] = loader(
            _keyed(queries.objectives_by_ids)
        )
        self.release: DataLoader[str, portfolio.Release | None] = loader(_keyed(queries.releases_by_ids))
        self.feedback: DataLoader[str, portfolio.Feedback | None] = loader(_keyed(queries.feedback_by_ids))
        self.label: DataLoader[str, NodeLabel | None] = loader(_keyed(queries.labels_by_ids))
        self.demand: DataLoader[str, FeatureDemandFigures | None] = loader(
            _keyed(self._reader(Lookup.DEMAND, queries.demand_by_feature_ids))
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

    def prime_features(self, features: Iterable[portfolio.Feature]) -> None:
        """Features already fetched (a page) need no second lookup when something links to them."""
        self.feature.prime_many({feature.id: feature for feature in features})

    async def load_features_with_prerequisites(self, ids: Sequence[str]) -> None:
        """Load the features `ids` and the features they depend on into `feature`, in one statement."""
        read = self._reader(Lookup.FEATURE_WITH_PREREQUISITES, self._queries.features_with_prerequisites)
        found = await read(list(ids))
        self.feature.prime_many({feature_id: None for feature_id in ids} | dict(found))

    def _reader(
        self, lookup: Lookup, uncached: Callable[[list[str]], Awaitable[Mapping[str, V]]]
    ) -> Callable[[list[str]], Awaitable[Mapping[str, V | None]]]:
        """A batched read through the cache, or straight to the graph without one."""
        cache = self._cache
        if cache is None:
            return uncached

        async def read(ids: list[str]) -> Mapping[str, V | None]:
            revision = await self.revision()
            found: dict[str, V | None] = cache.get(revision, lookup, ids)
            missing = [node_id for node_id in ids if node_id not in found]
            if missing:
                read_at, read = await self._queries.lookup_at_revision(lookup, missing)
                cache.put(read_at, lookup, missing, read)
                found |= {node_id: None for node_id in missing} | read
            return found

        return read

    def revision(self) -> asyncio.Future[str | None]:
        """The portfolio's revision token as this request sees it, read once (None without a cache).

        A resolver that will look portfolio nodes up may start it alongside its own first statement."""
        if self._revision is None:
            if self._cache is None:
                self._revision = asyncio.get_running_loop().create_future()
                self._revision.set_result(None)
            else:
                self._revision = asyncio.ensure_future(self._queries.revision())
        return self._revision


@dataclass
class RequestContext:
    services: ApiServices
    loaders: Loaders
    principal: Principal | None
    request: Request | WebSocket | None = None
    response: Response | WebSocket | None = None
    connection_params: dict[str, object] | None = field(default=None)
    """The graphql-transport-ws `connection_init` payload, set by strawberry on WebSockets."""
    deadline: float | None = None
    """The event loop's `time()` by which the request must be answered (None: no deadline)."""
    refusal: ClientError | None = None
    """Why the request cannot run at all (its key could not be checked); answered instead of executing."""

    @property
    def settings(self) -> ApiSettings:
        return self.services.settings

    @property
    def queries(self) -> EntityReads:
        return self.services.queries
