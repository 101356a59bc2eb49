"""The GraphQL schema: queries over the portfolio graph, the stored results and the runs; the
mutations (`api.mutations`) and subscriptions (`api.subscriptions`). `build_schema(settings)`
assembles it with the limits of `settings`; `schema_sdl()` prints it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Annotated, TypeVar

import strawberry
from strawberry.schema.config import StrawberryConfig

from api.auth import Role
from api.erasure import ErasureEntry, erasure_entries
from api.errors import UserInputError
from api.extensions import schema_extensions, trace_root_fields
from api.insight_types import InsightMutation, InsightQuery, themes_by_ids
from api.loading import prefetch_features, selected, subselection
from api.mutations import Mutation as PortfolioMutation
from api.pagination import (
    AfterArgument,
    BeforeArgument,
    Connection,
    Edge,
    FirstArgument,
    LastArgument,
    PageInfo,
    connection,
    decode_cursor,
    decode_token_cursor,
    encode_token_cursor,
    forward_limit,
    page_request,
)
from api.permissions import IsAdmin, IsViewer
from api.portfolio_summary import PortfolioSummary, portfolio_summary
from api.result_types import (
    AnalysisResult,
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
    Feature,
    FeatureStatus,
    Info,
    Node,
    Objective,
    Product,
    Segment,
    Team,
    entity_by_id,
    graphql_enum,
)
from graph.entity_reads import Page, PagedLabel
from graph.result_store import RoadmapStatus
from graph.vocabulary import NodeLabel
from workflows import client as runs_client

graphql_enum(
    Role,
    "What an API key may do; each role includes the ones before it: viewer < planner < approver < admin.",
    {
        Role.VIEWER: "Read the portfolio, the results and the runs.",
        Role.PLANNER: "Also start and cancel runs.",
        Role.APPROVER: "Also approve or reject roadmap drafts.",
        Role.ADMIN: "Also import portfolios and manage the review schedule.",
    },
)


@strawberry.input(description="Narrow a feature list; every given condition must hold.")
class FeatureFilter:
    product: strawberry.ID | None = strawberry.field(default=None, description="Features of this product.")
    team: strawberry.ID | None = strawberry.field(default=None, description="The owning team.")
    status: FeatureStatus | None = strawberry.field(default=None, description="Features in this status.")


@strawberry.input(description="Narrow a customer list; every given condition must hold.")
class CustomerFilter:
    segment: Segment | None = strawberry.field(default=None, description="Customers in this segment.")
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


async def _nodes_by_ids(info: Info, ids: Sequence[str]) -> list[Node | None]:
    """Portfolio entities through their loaders; the other ids looked up as themes, in one statement."""
    labels = await info.context.loaders.label.load_many(list(ids))
    themes = await themes_by_ids(
        info, [node_id for node_id, label in zip(ids, labels, strict=True) if label is None]
    )

    async def one(node_id: str, label: NodeLabel | None) -> Node | None:
        return themes.get(node_id) if label is None else await entity_by_id(info, node_id)

    return list(
        await asyncio.gather(*(one(node_id, label) for node_id, label in zip(ids, labels, strict=True)))
    )


@strawberry.type(description="The caller, as its API key says.")
class Viewer:
    key_id: str = strawberry.field(description="The API key's id (not its secret).")
    name: str = strawberry.field(description="The name the key was created with.")
    role: Role = strawberry.field(description="What the key may do.")


IdArgument = Annotated[strawberry.ID, strawberry.argument(description="The id to look up.")]
IdsArgument = Annotated[
    list[strawberry.ID],
    strawberry.argument(description="The ids to look up, at most the API's id cap (100 by default)."),
]
StatusArgument = Annotated[
    RoadmapStatus | None, strawberry.argument(description="Only versions in this status.")
]
LatestArgument = Annotated[
    int, strawberry.argument(description="How many, newest first: 0 to the API's page cap (100 by default).")
]
KindArgument = Annotated[RunKind | None, strawberry.argument(description="Only runs of this kind.")]
RunsArgument = Annotated[int, strawberry.argument(description="How many, newest first: 0 to 100.")]


def _counter(
    info: Info, label: PagedLabel, filters: Mapping[str, str | None]
) -> Callable[[], Awaitable[int]]:
    async def count() -> int:
        return await info.context.queries.count(label, filters)

    return count


@strawberry.type(
    description="Reads: the portfolio graph, the results runs stored, and the runs themselves (viewer role)."
)
class Query(InsightQuery):
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
        first: FirstArgument = None,
        after: AfterArgument = None,
        last: LastArgument = None,
        before: BeforeArgument = None,
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
        first: FirstArgument = None,
        after: AfterArgument = None,
        last: LastArgument = None,
        before: BeforeArgument = None,
        where: Annotated[
            FeatureFilter | None,
            strawberry.argument(name="filter", description="Only the features that match."),
        ] = None,
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
        first: FirstArgument = None,
        after: AfterArgument = None,
        last: LastArgument = None,
        before: BeforeArgument = None,
        where: Annotated[
            CustomerFilter | None,
            strawberry.argument(name="filter", description="Only the customers that match."),
        ] = None,
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
        first: FirstArgument = None,
        after: AfterArgument = None,
        last: LastArgument = None,
        before: BeforeArgument = None,
        where: Annotated[
            TeamFilter | None, strawberry.argument(name="filter", description="Only the teams that match.")
        ] = None,
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
        first: FirstArgument = None,
        after: AfterArgument = None,
        last: LastArgument = None,
        before: BeforeArgument = None,
        where: Annotated[
            ObjectiveFilter | None,
            strawberry.argument(name="filter", description="Only the objectives that match."),
        ] = None,
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

    @strawberry.field(description="A product by id; null if there is none.", permission_classes=[IsViewer])
    async def product(self, info: Info, id: IdArgument) -> Product | None:
        found = await info.context.loaders.product.load(id)
        return Product.of(found) if found is not None else None

    @strawberry.field(description="A feature by id; null if there is none.", permission_classes=[IsViewer])
    async def feature(self, info: Info, id: IdArgument) -> Feature | None:
        found = await info.context.loaders.feature.load(id)
        return Feature.of(found) if found is not None else None

    @strawberry.field(description="A customer by id; null if there is none.", permission_classes=[IsViewer])
    async def customer(self, info: Info, id: IdArgument) -> Customer | None:
        found = await info.context.loaders.customer.load(id)
        return Customer.of(found) if found is not None else None

    @strawberry.field(description="A team by id; null if there is none.", permission_classes=[IsViewer])
    async def team(self, info: Info, id: IdArgument) -> Team | None:
        found = await info.context.loaders.team.load(id)
        return Team.of(found) if found is not None else None

    @strawberry.field(description="An objective by id; null if there is none.", permission_classes=[IsViewer])
    async def objective(self, info: Info, id: IdArgument) -> Objective | None:
        found = await info.context.loaders.objective.load(id)
        return Objective.of(found) if found is not None else None

    @strawberry.field(
        permission_classes=[IsViewer],
        description="Any Node by its global id (Relay): a product, feature, customer, team, objective, "
        "release, feedback item or theme; null when nothing has the id.",
    )
    async def node(self, info: Info, id: IdArgument) -> Node | None:
        return (await _nodes_by_ids(info, [id]))[0]

    @strawberry.field(
        permission_classes=[IsViewer],
        description="Nodes by id, in the order asked; null where no node has the id.",
    )
    async def nodes(self, info: Info, ids: IdsArgument) -> list[Node | None]:
        if len(ids) > info.context.settings.max_ids:
            raise UserInputError(f"at most {info.context.settings.max_ids} ids per lookup")
        return await _nodes_by_ids(info, ids)

    @strawberry.field(
        permission_classes=[IsViewer],
        description="Headline figures of the portfolio: customers, total ARR, and what the last import changed.",
    )
    async def portfolio_summary(self, info: Info) -> PortfolioSummary:
        return await portfolio_summary(info)

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
    async def roadmap_version(self, info: Info, id: IdArgument) -> RoadmapVersion | None:
        return await roadmap_version_by_id(info, id)

    @strawberry.field(
        permission_classes=[IsViewer],
        description="The latest roadmap versions, newest first (the status filter applies to those "
        "`first`); `roadmapVersionsConnection` pages through all of them.",
    )
    async def roadmap_versions(
        self, info: Info, status: StatusArgument = None, first: LatestArgument = 20
    ) -> list[RoadmapVersion]:
        versions = await _latest(info, NodeLabel.ROADMAP_VERSION, first, roadmap_version_by_id)
        return [version for version in versions if status is None or version.status is status]

    @strawberry.field(permission_classes=[IsViewer], description="A scenario analysis by its run id.")
    async def scenario_analysis(self, info: Info, id: IdArgument) -> ScenarioAnalysis | None:
        return await scenario_analysis_by_id(info, id)

    @strawberry.field(
        permission_classes=[IsViewer],
        description="The latest scenario analyses, newest first; `scenarioAnalysesConnection` pages "
        "through all of them.",
    )
    async def scenario_analyses(self, info: Info, first: LatestArgument = 20) -> list[ScenarioAnalysis]:
        return await _latest(info, NodeLabel.SCENARIO_ANALYSIS, first, scenario_analysis_by_id)

    @strawberry.field(permission_classes=[IsViewer], description="A risk assessment by its run id.")
    async def risk_assessment(self, info: Info, id: IdArgument) -> RiskAssessment | None:
        return await risk_assessment_by_id(info, id)

    @strawberry.field(
        permission_classes=[IsViewer],
        description="The latest risk assessments, newest first; `riskAssessmentsConnection` pages "
        "through all of them.",
    )
    async def risk_assessments(self, info: Info, first: LatestArgument = 20) -> list[RiskAssessment]:
        return await _latest(info, NodeLabel.RISK_ASSESSMENT, first, risk_assessment_by_id)

    @strawberry.field(permission_classes=[IsViewer], description="A portfolio review by its run id.")
    async def portfolio_review(self, info: Info, id: IdArgument) -> PortfolioReview | None:
        return await portfolio_review_by_id(info, id)

    @strawberry.field(
        permission_classes=[IsViewer],
        description="The latest portfolio reviews, newest first; `portfolioReviewsConnection` pages "
        "through all of them.",
    )
    async def portfolio_reviews(self, info: Info, first: LatestArgument = 20) -> list[PortfolioReview]:
        return await _latest(info, NodeLabel.PORTFOLIO_REVIEW, first, portfolio_review_by_id)

    @strawberry.field(
        permission_classes=[IsAdmin],
        description="Customer erasures, newest first: who asked, when, what kinds of data and how many; "
        "no personal data. Admin only.",
    )
    async def erasures(self, info: Info, first: LatestArgument = 20) -> list[ErasureEntry]:
        return await erasure_entries(info, first)

    @strawberry.field(
        permission_classes=[IsViewer], description="Roadmap versions, newest first, a page at a time."
    )
    async def roadmap_versions_connection(
        self,
        info: Info,
        first: FirstArgument = None,
        after: AfterArgument = None,
        status: StatusArgument = None,
    ) -> Connection[RoadmapVersion]:
        chosen = status.value if status is not None else None
        return await _result_connection(
            info, NodeLabel.ROADMAP_VERSION, roadmap_version_by_id, first=first, after=after, status=chosen
        )

    @strawberry.field(
        permission_classes=[IsViewer], description="Scenario analyses, newest first, a page at a time."
    )
    async def scenario_analyses_connection(
        self, info: Info, first: FirstArgument = None, after: AfterArgument = None
    ) -> Connection[ScenarioAnalysis]:
        return await _result_connection(
            info, NodeLabel.SCENARIO_ANALYSIS, scenario_analysis_by_id, first=first, after=after
        )

    @strawberry.field(
        permission_classes=[IsViewer], description="Risk assessments, newest first, a page at a time."
    )
    async def risk_assessments_connection(
        self, info: Info, first: FirstArgument = None, after: AfterArgument = None
    ) -> Connection[RiskAssessment]:
        return await _result_connection(
            info, NodeLabel.RISK_ASSESSMENT, risk_assessment_by_id, first=first, after=after
        )

    @strawberry.field(
        permission_classes=[IsViewer], description="Portfolio reviews, newest first, a page at a time."
    )
    async def portfolio_reviews_connection(
        self, info: Info, first: FirstArgument = None, after: AfterArgument = None
    ) -> Connection[PortfolioReview]:
        return await _result_connection(
            info, NodeLabel.PORTFOLIO_REVIEW, portfolio_review_by_id, first=first, after=after
        )

    # -- runs ------------------------------------------------------------------------------------

    @strawberry.field(
        permission_classes=[IsViewer], description="A review schedule by id; null if there is none."
    )
    async def review_schedule(self, info: Info, id: IdArgument) -> ReviewSchedule | None:
        return await describe_schedule(temporal(info), id)

    @strawberry.field(permission_classes=[IsViewer], description="A run by its id, read from Temporal.")
    async def run(self, info: Info, id: IdArgument) -> Run | None:
        return await run_by_id(temporal(info), id)

    @strawberry.field(
        permission_classes=[IsViewer],
        description="The most recent runs, newest first; `runsConnection` pages through all of them.",
    )
    async def runs(self, info: Info, kind: KindArgument = None, first: RunsArgument = 20) -> list[Run]:
        if not 0 <= first <= MAX_RUNS_LISTED:
            raise UserInputError(f"`first` must be between 0 and {MAX_RUNS_LISTED}")
        return await list_runs(temporal(info), kind, first) if first else []

    @strawberry.field(
        permission_classes=[IsViewer],
        description="Runs, newest first (running ones before closed ones), a page at a time, as Temporal "
        "lists them.",
    )
    async def runs_connection(
        self,
        info: Info,
        kind: KindArgument = None,
        first: FirstArgument = None,
        after: AfterArgument = None,
    ) -> Connection[Run]:
        limit = forward_limit(info.context.settings, first, MAX_RUNS_LISTED)
        token, skip = decode_token_cursor(after, "after") if after is not None else (None, 0)
        client = temporal(info)
        workflow_type = kind.value if kind is not None else None
        edges: list[Edge[Run]] = []
        # One page from the token, leaving out the `skip` runs before the cursor's own run (for
        # `first: 0`, one run, only to tell whether any follows).
        statuses, next_token = await runs_client.list_runs_page(
            client, workflow_type=workflow_type, limit=skip + max(limit, 1), page_token=token
        )
        has_next_page = next_token is not None if limit else len(statuses) > skip
        if limit and next_token is not None:
            # Temporal hands out a next token whenever a page is full, also when nothing follows.
            following, _ = await runs_client.list_runs_page(
                client, workflow_type=workflow_type, limit=1, page_token=next_token
            )
            has_next_page = bool(following)
        for position, status in enumerate(statuses[skip : skip + limit], start=skip + 1):
            run = Run.of(status)
            if run is not None:
                edges.append(Edge(cursor=encode_token_cursor(token, position), node=run))
        if edges and next_token is not None:
            # The last edge's cursor starts the next page itself, so paging on stays one read a page.
            edges[-1] = Edge(cursor=encode_token_cursor(next_token, 0), node=edges[-1].node)

        async def count_all() -> int:
            return await runs_client.count_runs(client, workflow_type=workflow_type)

        return Connection(
            edges=edges,
            page_info=PageInfo(
                has_next_page=has_next_page,
                has_previous_page=after is not None,
                start_cursor=edges[0].cursor if edges else None,
                end_cursor=edges[-1].cursor if edges else None,
            ),
            count_all=count_all,
        )


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


AnalysisT = TypeVar("AnalysisT", bound=AnalysisResult)


async def _result_connection(
    info: Info,
    label: NodeLabel,
    by_id: Callable[[Info, str], Awaitable[AnalysisT | None]],
    *,
    first: int | None,
    after: str | None,
    status: str | None = None,
) -> Connection[AnalysisT]:
    """A page of stored results, newest first; the cursor is a result id (keyset on recording time)."""
    limit = forward_limit(info.context.settings, first)
    after_id = decode_cursor(after, "after") if after is not None else None
    reader = info.context.services.results
    ids = await reader.page_ids(label, limit + 1, after=after_id, status=status)
    found = await asyncio.gather(*(by_id(info, result_id) for result_id in ids[:limit]))
    page = Page(
        items=[result for result in found if result is not None],
        has_next_page=len(ids) > limit,
        has_previous_page=after is not None,
    )

    async def count_all() -> int:
        return await reader.count_all(label, status=status)

    return connection(
        page, node_id=lambda result: result.id, to_node=lambda result: result, count_all=count_all
    )


@strawberry.type(name="Mutation", description=PortfolioMutation.__strawberry_definition__.description)  # pyright: ignore[reportAttributeAccessIssue]
class Mutation(PortfolioMutation, InsightMutation):
    """The portfolio's mutations (`api.mutations`) and customer insight's (`api.insight_types`)."""


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
