"""The GraphQL schema: queries over the portfolio graph, the stored results and the runs; the
mutations (`api.mutations`) and subscriptions (`api.subscriptions`). `build_schema(settings)`
assembles it with the limits of `settings`; `schema_sdl()` prints it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Annotated, TypeVar

import strawberry
from strawberry.schema.config import StrawberryConfig

from api.auth import Role
from api.errors import UserInputError
from api.extensions import schema_extensions, trace_root_fields
from api.mutations import Mutation
from api.pagination import Connection, connection, page_request
from api.permissions import IsViewer
from api.prefetch import prefetch_features, selected, subselection
from api.results import (
    PortfolioReview,
    RiskAssessment,
    RoadmapVersion,
    ScenarioAnalysis,
    portfolio_review_by_id,
    risk_assessment_by_id,
    roadmap_version_by_id,
    scenario_analysis_by_id,
)
from api.runs import MAX_RUNS_LISTED, Run, RunKind, list_runs, run_by_id, temporal
from api.schedules import ReviewSchedule
from api.schedules import describe as describe_schedule
from api.settings import ApiSettings
from api.subscriptions import Subscription
from api.types import (
    Customer,
    Entity,
    Feature,
    FeatureStatus,
    Info,
    Objective,
    Product,
    Segment,
    Team,
    entity_by_id,
)
from graph.api_queries import PagedLabel
from graph.results import RoadmapStatus
from graph.schema import NodeLabel

strawberry.enum(Role, description="viewer < planner < approver < admin.")


@strawberry.input(description="Narrow a feature list; every given condition must hold.")
class FeatureFilter:
    product: strawberry.ID | None = None
    team: strawberry.ID | None = strawberry.field(default=None, description="The owning team.")
    status: FeatureStatus | None = None


@strawberry.input(description="Narrow a customer list; every given condition must hold.")
class CustomerFilter:
    segment: Segment | None = None
    product: strawberry.ID | None = strawberry.field(default=None, description="A product the customer uses.")


@strawberry.input(description="Narrow a team list.")
class TeamFilter:
    product: strawberry.ID | None = strawberry.field(
        default=None, description="Teams owning at least one feature of this product."
    )


@strawberry.input(description="Narrow an objective list.")
class ObjectiveFilter:
    product: strawberry.ID | None = strawberry.field(
        default=None, description="Objectives supported by at least one feature of this product."
    )


@strawberry.type(description="The caller, as its API key says.")
class Viewer:
    key_id: str
    name: str
    role: Role


def _counter(
    info: Info, label: PagedLabel, filters: Mapping[str, str | None]
) -> Callable[[], Awaitable[int]]:
    async def count() -> int:
        return await info.context.queries.count(label, filters)

    return count


@strawberry.type
class Query:
    @strawberry.field(description="The caller; null without an API key.")
    def me(self, info: Info) -> Viewer | None:
        principal = info.context.principal
        if principal is None:
            return None
        return Viewer(key_id=principal.key_id, name=principal.name, role=principal.role)

    @strawberry.field(permission_classes=[IsViewer], description="Products, by id.")
    async def products(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[Product]:
        request = page_request(info.context.settings, first=first, after=after, last=last, before=before)
        page = await info.context.queries.page(PagedLabel.PRODUCT, request)
        return connection(
            page,
            node_id=lambda item: item.id,
            to_node=Product.of,
            count_all=_counter(info, PagedLabel.PRODUCT, {}),
        )

    @strawberry.field(permission_classes=[IsViewer], description="Features, by id.")
    async def features(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        where: Annotated[FeatureFilter | None, strawberry.argument(name="filter")] = None,
    ) -> Connection[Feature]:
        request = page_request(info.context.settings, first=first, after=after, last=last, before=before)
        filters: dict[str, str | None] = {}
        if where is not None:
            filters = {
                "product": where.product,
                "team": where.team,
                "status": where.status.value if where.status is not None else None,
            }
        page = await info.context.queries.page(PagedLabel.FEATURE, request, filters)
        loaders = info.context.loaders
        loaders.prime_features(page.items)
        selections = selected(info)
        nodes = [
            *(subselection(selections, "edges", "node") or []),
            *(subselection(selections, "nodes") or []),
        ]
        await prefetch_features(loaders, (feature.id for feature in page.items), nodes)
        return connection(
            page,
            node_id=lambda item: item.id,
            to_node=Feature.of,
            count_all=_counter(info, PagedLabel.FEATURE, filters),
        )

    @strawberry.field(permission_classes=[IsViewer], description="Customers, by id.")
    async def customers(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        where: Annotated[CustomerFilter | None, strawberry.argument(name="filter")] = None,
    ) -> Connection[Customer]:
        request = page_request(info.context.settings, first=first, after=after, last=last, before=before)
        filters: dict[str, str | None] = {}
        if where is not None:
            filters = {
                "segment": where.segment.value if where.segment is not None else None,
                "product": where.product,
            }
        page = await info.context.queries.page(PagedLabel.CUSTOMER, request, filters)
        return connection(
            page,
            node_id=lambda item: item.id,
            to_node=Customer.of,
            count_all=_counter(info, PagedLabel.CUSTOMER, filters),
        )

    @strawberry.field(permission_classes=[IsViewer], description="Teams, by id.")
    async def teams(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        where: Annotated[TeamFilter | None, strawberry.argument(name="filter")] = None,
    ) -> Connection[Team]:
        request = page_request(info.context.settings, first=first, after=after, last=last, before=before)
        filters = {"product": where.product} if where is not None else {}
        page = await info.context.queries.page(PagedLabel.TEAM, request, filters)
        return connection(
            page,
            node_id=lambda item: item.id,
            to_node=Team.of,
            count_all=_counter(info, PagedLabel.TEAM, filters),
        )

    @strawberry.field(permission_classes=[IsViewer], description="Objectives, by id.")
    async def objectives(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        where: Annotated[ObjectiveFilter | None, strawberry.argument(name="filter")] = None,
    ) -> Connection[Objective]:
        request = page_request(info.context.settings, first=first, after=after, last=last, before=before)
        filters = {"product": where.product} if where is not None else {}
        page = await info.context.queries.page(PagedLabel.OBJECTIVE, request, filters)
        return connection(
            page,
            node_id=lambda item: item.id,
            to_node=Objective.of,
            count_all=_counter(info, PagedLabel.OBJECTIVE, filters),
        )

    @strawberry.field(permission_classes=[IsViewer])
    async def product(self, info: Info, id: strawberry.ID) -> Product | None:
        found = await info.context.loaders.product.load(id)
        return Product.of(found) if found is not None else None

    @strawberry.field(permission_classes=[IsViewer])
    async def feature(self, info: Info, id: strawberry.ID) -> Feature | None:
        found = await info.context.loaders.feature.load(id)
        return Feature.of(found) if found is not None else None

    @strawberry.field(permission_classes=[IsViewer])
    async def customer(self, info: Info, id: strawberry.ID) -> Customer | None:
        found = await info.context.loaders.customer.load(id)
        return Customer.of(found) if found is not None else None

    @strawberry.field(permission_classes=[IsViewer])
    async def team(self, info: Info, id: strawberry.ID) -> Team | None:
        found = await info.context.loaders.team.load(id)
        return Team.of(found) if found is not None else None

    @strawberry.field(permission_classes=[IsViewer])
    async def objective(self, info: Info, id: strawberry.ID) -> Objective | None:
        found = await info.context.loaders.objective.load(id)
        return Objective.of(found) if found is not None else None

    @strawberry.field(permission_classes=[IsViewer], description="Any portfolio node by id.")
    async def node(self, info: Info, id: strawberry.ID) -> Entity | None:
        return await entity_by_id(info, id)

    @strawberry.field(
        permission_classes=[IsViewer],
        description="Portfolio nodes by id, in the order asked; null where no node has the id.",
    )
    async def nodes(self, info: Info, ids: list[strawberry.ID]) -> list[Entity | None]:
        if len(ids) > info.context.settings.max_ids:
            raise UserInputError(f"at most {info.context.settings.max_ids} ids per lookup")
        return list(await asyncio.gather(*(entity_by_id(info, node_id) for node_id in ids)))

    # -- results ---------------------------------------------------------------------------------

    @strawberry.field(
        permission_classes=[IsViewer], description="The published roadmap in force; null before any."
    )
    async def roadmap(self, info: Info) -> RoadmapVersion | None:
        found, _ = await asyncio.gather(
            info.context.services.results.current_roadmap(), info.context.loaders.revision()
        )
        return RoadmapVersion.of(*found) if found is not None else None

    @strawberry.field(permission_classes=[IsViewer], description="A roadmap version by its run id.")
    async def roadmap_version(self, info: Info, id: strawberry.ID) -> RoadmapVersion | None:
        return await roadmap_version_by_id(info, id)

    @strawberry.field(permission_classes=[IsViewer], description="Roadmap versions, newest first.")
    async def roadmap_versions(
        self, info: Info, status: RoadmapStatus | None = None, first: int = 20
    ) -> list[RoadmapVersion]:
        versions = await _latest(info, NodeLabel.ROADMAP_VERSION, first, roadmap_version_by_id)
        return [version for version in versions if status is None or version.status is status]

    @strawberry.field(permission_classes=[IsViewer], description="A scenario analysis by its run id.")
    async def scenario_analysis(self, info: Info, id: strawberry.ID) -> ScenarioAnalysis | None:
        return await scenario_analysis_by_id(info, id)

    @strawberry.field(permission_classes=[IsViewer], description="Scenario analyses, newest first.")
    async def scenario_analyses(self, info: Info, first: int = 20) -> list[ScenarioAnalysis]:
        return await _latest(info, NodeLabel.SCENARIO_ANALYSIS, first, scenario_analysis_by_id)

    @strawberry.field(permission_classes=[IsViewer], description="A risk assessment by its run id.")
    async def risk_assessment(self, info: Info, id: strawberry.ID) -> RiskAssessment | None:
        return await risk_assessment_by_id(info, id)

    @strawberry.field(permission_classes=[IsViewer], description="Risk assessments, newest first.")
    async def risk_assessments(self, info: Info, first: int = 20) -> list[RiskAssessment]:
        return await _latest(info, NodeLabel.RISK_ASSESSMENT, first, risk_assessment_by_id)

    @strawberry.field(permission_classes=[IsViewer], description="A portfolio review by its run id.")
    async def portfolio_review(self, info: Info, id: strawberry.ID) -> PortfolioReview | None:
        return await portfolio_review_by_id(info, id)

    @strawberry.field(permission_classes=[IsViewer], description="Portfolio reviews, newest first.")
    async def portfolio_reviews(self, info: Info, first: int = 20) -> list[PortfolioReview]:
        return await _latest(info, NodeLabel.PORTFOLIO_REVIEW, first, portfolio_review_by_id)

    # -- runs ------------------------------------------------------------------------------------

    @strawberry.field(
        permission_classes=[IsViewer], description="A review schedule by id; null if there is none."
    )
    async def review_schedule(self, info: Info, id: strawberry.ID) -> ReviewSchedule | None:
        return await describe_schedule(temporal(info), id)

    @strawberry.field(permission_classes=[IsViewer], description="A run by its id, read from Temporal.")
    async def run(self, info: Info, id: strawberry.ID) -> Run | None:
        return await run_by_id(temporal(info), id)

    @strawberry.field(permission_classes=[IsViewer], description="The most recent runs, newest first.")
    async def runs(self, info: Info, kind: RunKind | None = None, first: int = 20) -> list[Run]:
        if not 0 <= first <= MAX_RUNS_LISTED:
            raise UserInputError(f"`first` must be between 0 and {MAX_RUNS_LISTED}")
        return await list_runs(temporal(info), kind, first) if first else []


ResultT = TypeVar("ResultT")


async def _latest(
    info: Info, label: NodeLabel, first: int, by_id: Callable[[Info, str], Awaitable[ResultT | None]]
) -> list[ResultT]:
    cap = info.context.settings.max_page_size
    if not 0 <= first <= cap:
        raise UserInputError(f"`first` must be between 0 and {cap}")
    ids = await info.context.services.results.list_ids(label, first) if first else []
    found = await asyncio.gather(*(by_id(info, result_id) for result_id in ids))
    return [result for result in found if result is not None]


trace_root_fields(Query, Mutation)


def build_schema(settings: ApiSettings | None = None, *, tracing: bool = True) -> strawberry.Schema:
    settings = settings or ApiSettings()
    return strawberry.Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=[Product, Feature, Customer, Team, Objective],
        extensions=schema_extensions(settings, tracing=tracing),
        config=StrawberryConfig(batching_config={"max_operations": settings.max_batch}),
    )


def schema_sdl() -> str:
    """The schema's SDL, as committed in `api/schema.graphql` (the same in every mode)."""
    return build_schema(ApiSettings(), tracing=False).as_str() + "\n"
