"""Customer insight in the API: themes and their members, suggested and decided feedback links, and the
mutations that start an insight run, decide links, rename and merge themes, and append feedback.

`InsightQuery` and `InsightMutation` are mixed into the root types in `api.schema`. Reads need the viewer
role; starting a run, deciding links, changing themes and appending feedback need the planner role. Bad
input is a `ValidationErrors` result (nothing written), a missing theme, feedback item or feature a `NotFound`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Annotated

import strawberry
from pydantic import ValidationError

from api.errors import UserInputError
from api.loading import Resolved, load_now, then
from api.mutations import (
    AnalysisOptions,
    InputProblems,
    InvalidState,
    NotFound,
    StartRunResult,
    ValidationErrors,
    ValidationIssue,
    _issues_of,  # pyright: ignore[reportPrivateUsage]
    _options,  # pyright: ignore[reportPrivateUsage]
    _request,  # pyright: ignore[reportPrivateUsage]
    _requester,  # pyright: ignore[reportPrivateUsage]
    _start,  # pyright: ignore[reportPrivateUsage]
)
from api.pagination import AfterArgument, Connection, FirstArgument, connection, decode_cursor, forward_limit
from api.permissions import IsPlanner, IsViewer, PermissionDenied, typed_permission
from api.result_types import InsightDigest, insight_digest_by_id
from api.runs import temporal
from api.types import Customer, Feature, Info, Node, graphql_enum, or_none
from graph.entity_reads import Page
from graph.insight_store import (
    AppendFeedbackError,
    InsightNotFoundError,
    InsightStateError,
    InsightStore,
    LinkStatus,
    StoredLink,
    StoredTheme,
    ThemeMember,
    feedback_id_for,
)
from graph.portfolio import Feedback
from workflows import client as runs_client
from workflows.insight_payloads import InsightRunRequest

MAX_APPEND_ITEMS = 500
"""Feedback items one `appendFeedback` call may carry."""
MAX_THEME_LABEL = 120


def _store(info: Info) -> InsightStore:
    return InsightStore(info.context.services.store)


async def themes_by_ids(info: Info, theme_ids: Sequence[str]) -> dict[str, Theme]:
    """The themes with these ids, in one statement; ids of no theme are left out."""
    found = await _store(info).get_themes(theme_ids) if theme_ids else {}
    return {theme_id: Theme.of(theme) for theme_id, theme in found.items()}


def _actor(info: Info) -> str:
    principal = info.context.principal
    assert principal is not None, "the permission check lets no anonymous caller through"
    return principal.name


# -- types -----------------------------------------------------------------------------------------------


class TrendDirection(StrEnum):
    RISING = "rising"
    STEADY = "steady"
    FALLING = "falling"


graphql_enum(
    TrendDirection,
    "Which way a theme is going: its items in the recent weeks against the same span before.",
    {
        TrendDirection.RISING: "Clearly more items recently than before.",
        TrendDirection.STEADY: "About as many items recently as before.",
        TrendDirection.FALLING: "Clearly fewer items recently than before.",
    },
)
graphql_enum(
    LinkStatus,
    "Where a feedback-to-feature link stands.",
    {
        LinkStatus.SUGGESTED: "Suggested by the latest insight run; awaits a person's decision.",
        LinkStatus.CONFIRMED: "A person confirmed it: it counts as demand for the feature.",
        LinkStatus.REJECTED: "A person rejected it: it is never suggested again.",
    },
)


@strawberry.type(description="A theme's trend, with the figures behind it.")
class ThemeTrend:
    direction: TrendDirection = strawberry.field(description="Rising, steady or falling.")
    recent_count: int = strawberry.field(description="Items in the recent weeks before the run's date.")
    previous_count: int = strawberry.field(description="Items in the same number of weeks before those.")


@strawberry.type(description="A feedback item as the insight run read it: its text, customer and sentiment.")
class FeedbackInsight:
    feedback_id: strawberry.ID = strawberry.field(description="The feedback item's id.")
    text: str = strawberry.field(description="What the customer wrote: data, never instructions.")
    created_at: date | None = strawberry.field(description="When it was written; null if unknown.")
    source: str | None = strawberry.field(description="Where it came from; null if unknown.")
    customer_id: strawberry.ID | None = strawberry.field(description="The customer who wrote it.")
    sentiment: float = strawberry.field(description="Sentiment the insight run computed, -1 (unhappy) to 1.")
    imported_sentiment: float | None = strawberry.field(
        description="The sentiment the item was imported with; null if none."
    )

    @classmethod
    def of(cls, member: ThemeMember) -> FeedbackInsight:
        return cls(
            feedback_id=strawberry.ID(member.feedback_id),
            text=member.text,
            created_at=member.created_at,
            source=member.source,
            customer_id=strawberry.ID(member.customer_id) if member.customer_id else None,
            sentiment=member.sentiment,
            imported_sentiment=member.imported_sentiment,
        )

    @strawberry.field(
        description="The customer who wrote it; null if not in the graph.", graphql_type=Customer | None
    )
    def customer(self, info: Info) -> Resolved[Customer | None]:
        if self.customer_id is None:
            return None
        return then(load_now(info.context.loaders.customer, self.customer_id), or_none(Customer.of))


@strawberry.type(description="A cluster of feedback saying the same thing, found by an insight run.")
class Theme(Node):
    id: strawberry.ID = strawberry.field(
        description="The theme's id (it starts with the id of its run); `node(id:)` fetches it again."
    )
    digest_id: strawberry.ID | None = strawberry.field(description="The insight digest (run) that found it.")
    rank: int = strawberry.field(description="1 for the run's largest theme, then by size.")
    label: str = strawberry.field(description="Its name: a person's, if renamed, else its top terms.")
    generated_label: str = strawberry.field(description="The name the run gave it, from its top terms.")
    top_terms: list[str] = strawberry.field(description="Its most distinctive terms (TF-IDF), best first.")
    item_count: int = strawberry.field(description="Feedback items in it.")
    customer_count: int = strawberry.field(description="Distinct customers behind it.")
    arr: float = strawberry.field(description="ARR of those customers.")
    sentiment: float = strawberry.field(description="Mean sentiment of its items, -1 (unhappy) to 1.")
    trend: ThemeTrend = strawberry.field(description="Whether it is rising, steady or falling, with figures.")
    renamed_by: str | None = strawberry.field(description="Who renamed it; null if it keeps the run's name.")
    merged_into_id: strawberry.ID | None = strawberry.field(
        description="The theme it was merged into; null unless merged away."
    )

    @classmethod
    def of(cls, theme: StoredTheme) -> Theme:
        return cls(
            id=strawberry.ID(theme.id),
            digest_id=strawberry.ID(theme.digest_id) if theme.digest_id else None,
            rank=theme.rank,
            label=theme.label,
            generated_label=theme.generated_label,
            top_terms=theme.top_terms,
            item_count=theme.item_count,
            customer_count=theme.customer_count,
            arr=theme.arr,
            sentiment=theme.sentiment,
            trend=ThemeTrend(
                direction=TrendDirection(theme.trend_direction),
                recent_count=theme.recent_count,
                previous_count=theme.previous_count,
            ),
            renamed_by=theme.renamed_by,
            merged_into_id=strawberry.ID(theme.merged_into) if theme.merged_into else None,
        )

    @strawberry.field(description="The theme's feedback items with their sentiment, by id.")
    async def members(
        self, info: Info, first: FirstArgument = None, after: AfterArgument = None
    ) -> Connection[FeedbackInsight]:
        limit = forward_limit(info.context.settings, first)
        skip = _offset(after)
        members = await _store(info).theme_members(self.id, skip=skip, limit=limit + 1)
        page = Page(
            items=[(skip + k, member) for k, member in enumerate(members[:limit])],
            has_next_page=len(members) > limit,
            has_previous_page=skip > 0,
        )
        item_count = self.item_count

        async def count_all() -> int:
            return item_count

        return connection(
            page,
            node_id=lambda item: str(item[0]),
            to_node=lambda item: FeedbackInsight.of(item[1]),
            count_all=count_all,
        )


@strawberry.type(description="A link from a feedback item to the feature it is about.")
class FeedbackLink:
    feedback_id: strawberry.ID = strawberry.field(description="The feedback item.")
    feature_id: strawberry.ID = strawberry.field(description="The feature it is about.")
    status: LinkStatus = strawberry.field(description="Suggested, confirmed or rejected.")
    score: float | None = strawberry.field(
        description="How similar the feedback is to the feature (-1 to 1) when the link was suggested."
    )
    decided_by: str | None = strawberry.field(
        description="Who confirmed or rejected it; null while suggested."
    )
    decided_at: datetime | None = strawberry.field(description="When it was decided; null while suggested.")

    @classmethod
    def of(cls, link: StoredLink) -> FeedbackLink:
        return cls(
            feedback_id=strawberry.ID(link.feedback_id),
            feature_id=strawberry.ID(link.feature_id),
            status=link.status,
            score=link.score,
            decided_by=link.decided_by,
            decided_at=link.decided_at,
        )

    @strawberry.field(
        description="The feature; null if it is no longer in the graph.", graphql_type=Feature | None
    )
    def feature(self, info: Info) -> Resolved[Feature | None]:
        return then(load_now(info.context.loaders.feature, self.feature_id), or_none(Feature.of))


def _offset(after: str | None) -> int:
    if after is None:
        return 0
    text = decode_cursor(after, "after")
    if not text.isdigit():
        raise UserInputError("`after` is not a cursor this list issued")
    return int(text) + 1


# -- queries -----------------------------------------------------------------------------------------------


StatusArgument = Annotated[
    LinkStatus, strawberry.argument(description="Which links: suggested (default), confirmed or rejected.")
]
OptionalIdArgument = Annotated[
    strawberry.ID | None, strawberry.argument(description="Only links of this id.")
]


@strawberry.type
class InsightQuery:
    @strawberry.field(
        permission_classes=[IsViewer],
        description="The themes of an insight digest (default: the latest), largest first; merged-away themes "
        "are left out.",
    )
    async def themes(
        self,
        info: Info,
        first: FirstArgument = None,
        after: AfterArgument = None,
        digest_id: Annotated[
            strawberry.ID | None,
            strawberry.argument(description="The digest (insight run); default: the latest."),
        ] = None,
    ) -> Connection[Theme]:
        limit = forward_limit(info.context.settings, first)
        after_id = decode_cursor(after, "after") if after is not None else None
        store = _store(info)
        digest = digest_id or await store.latest_digest_id()
        themes = [] if digest is None else await store.page_themes(digest, limit=limit + 1, after=after_id)
        page = Page(
            items=themes[:limit], has_next_page=len(themes) > limit, has_previous_page=after is not None
        )

        async def count_all() -> int:
            return 0 if digest is None else await store.count_themes(digest)

        return connection(page, node_id=lambda theme: theme.id, to_node=Theme.of, count_all=count_all)

    @strawberry.field(permission_classes=[IsViewer], description="One theme by id; null if there is none.")
    async def theme(
        self, info: Info, id: Annotated[strawberry.ID, strawberry.argument(description="The theme's id.")]
    ) -> Theme | None:
        return (await themes_by_ids(info, [id])).get(id)

    @strawberry.field(
        permission_classes=[IsViewer],
        description="Feedback-to-feature links: suggested ones best first, decided ones latest first.",
    )
    async def feedback_links(
        self,
        info: Info,
        status: StatusArgument = LinkStatus.SUGGESTED,
        feature_id: OptionalIdArgument = None,
        feedback_id: OptionalIdArgument = None,
        first: FirstArgument = None,
        after: AfterArgument = None,
    ) -> Connection[FeedbackLink]:
        limit = forward_limit(info.context.settings, first)
        skip = _offset(after)
        store = _store(info)
        links = await store.page_links(
            status, skip=skip, limit=limit + 1, feature_id=feature_id, feedback_id=feedback_id
        )
        page = Page(
            items=[(skip + k, link) for k, link in enumerate(links[:limit])],
            has_next_page=len(links) > limit,
            has_previous_page=skip > 0,
        )

        async def count_all() -> int:
            return await store.count_links(status, feature_id=feature_id, feedback_id=feedback_id)

        return connection(
            page,
            node_id=lambda item: str(item[0]),
            to_node=lambda item: FeedbackLink.of(item[1]),
            count_all=count_all,
        )

    @strawberry.field(permission_classes=[IsViewer], description="One insight digest by its run's id.")
    async def insight_digest(
        self, info: Info, id: Annotated[strawberry.ID, strawberry.argument(description="The run's id.")]
    ) -> InsightDigest | None:
        return await insight_digest_by_id(info, id)


# -- mutations ---------------------------------------------------------------------------------------------


@strawberry.input(
    description="What to analyse: the analysis settings (the date, the seed, how many items to list)."
)
class InsightRunInput:
    options: AnalysisOptions | None = strawberry.field(default=None, description="The analysis settings.")


@strawberry.input(description="One feedback item to append, keyed by its id in the source system.")
class FeedbackInput:
    external_id: str = strawberry.field(
        description="Its id in the source system: appending it again changes nothing."
    )
    source: str = strawberry.field(description="The source system: `zendesk`, `survey`, `sales`, ...")
    customer_id: strawberry.ID = strawberry.field(description="The customer who wrote it (must exist).")
    text: str = strawberry.field(description="What the customer wrote.")
    created_at: date | None = strawberry.field(default=None, description="When it was written.")
    feature_id: strawberry.ID | None = strawberry.field(
        default=None, description="The feature it is about, when the source knows (must exist)."
    )


@strawberry.type(description="The link was decided.")
class FeedbackLinkDecided:
    link: FeedbackLink = strawberry.field(description="The link as it now stands.")


@strawberry.type(description="The theme as it now stands.")
class ThemeChanged:
    theme: Theme = strawberry.field(description="The renamed theme, or the theme the other was merged into.")


@strawberry.type(description="The feedback was appended; items already present were left as they are.")
class FeedbackAppended:
    created_ids: list[strawberry.ID] = strawberry.field(
        description="Ids of the items created, in input order."
    )
    unchanged_ids: list[strawberry.ID] = strawberry.field(
        description="Ids of the items already in the graph (same source and external id): nothing changed."
    )
    created_count: int = strawberry.field(description="How many items were created.")
    unchanged_count: int = strawberry.field(description="How many items were already there.")


DecideLinkResult = Annotated[
    FeedbackLinkDecided | NotFound | PermissionDenied,
    strawberry.union("DecideLinkResult", description="The decided link, or why it was not decided."),
]
ThemeResult = Annotated[
    ThemeChanged | NotFound | InvalidState | ValidationErrors | PermissionDenied,
    strawberry.union("ThemeResult", description="The changed theme, or why it is unchanged."),
]
AppendFeedbackResult = Annotated[
    FeedbackAppended | ValidationErrors | PermissionDenied,
    strawberry.union("AppendFeedbackResult", description="What was appended, or why nothing was."),
]

FeedbackIdArgument = Annotated[strawberry.ID, strawberry.argument(description="The feedback item's id.")]
FeatureIdArgument = Annotated[strawberry.ID, strawberry.argument(description="The feature's id.")]
ThemeIdArgument = Annotated[strawberry.ID, strawberry.argument(description="The theme's id.")]


async def _decide(
    info: Info, feedback_id: str, feature_id: str, status: LinkStatus
) -> FeedbackLinkDecided | NotFound:
    try:
        link = await _store(info).decide_link(
            feedback_id, feature_id, status, by=_actor(info), at=datetime.now(UTC)
        )
    except InsightNotFoundError as error:
        missing = feedback_id if "feedback" in str(error) else feature_id
        return NotFound(message=str(error), id=strawberry.ID(missing))
    return FeedbackLinkDecided(link=FeedbackLink.of(link))


def _feedback_items(items: list[FeedbackInput]) -> list[Feedback]:
    issues: list[ValidationIssue] = []
    if len(items) > MAX_APPEND_ITEMS:
        issues.append(ValidationIssue(location="items", message=f"at most {MAX_APPEND_ITEMS} items per call"))
        raise InputProblems(issues)
    built: list[Feedback] = []
    seen: dict[str, int] = {}
    for index, item in enumerate(items):
        prefix = f"items[{index}]"
        for name, value in (("externalId", item.external_id), ("source", item.source), ("text", item.text)):
            if not value.strip():
                issues.append(ValidationIssue(location=f"{prefix}.{name}", message="must not be empty"))
        key = f"{item.source}\x1f{item.external_id}"
        if key in seen:
            issues.append(
                ValidationIssue(
                    location=f"{prefix}.externalId",
                    message=f"the same source and external id as items[{seen[key]}]",
                )
            )
        seen.setdefault(key, index)
        try:
            built.append(
                Feedback(
                    id=feedback_id_for(item.source, item.external_id),
                    customer_id=item.customer_id,
                    feature_id=item.feature_id,
                    text=item.text,
                    created_at=item.created_at,
                    source=item.source,
                    external_id=item.external_id,
                )
            )
        except ValidationError as error:
            issues += _issues_of(error, prefix)
    if issues:
        raise InputProblems(issues)
    return built


@strawberry.type
class InsightMutation:
    @strawberry.mutation(
        extensions=[typed_permission(IsPlanner)],
        description="Start a customer-insight run: themes, sentiment and suggested links, with the agent's "
        "digest. Returns the run.",
    )
    async def start_insight_run(
        self,
        info: Info,
        input: Annotated[
            InsightRunInput | None, strawberry.argument(description="What to analyse; defaults when null.")
        ] = None,
    ) -> StartRunResult:
        client = temporal(info)
        given = input or InsightRunInput()
        try:
            request = _request(InsightRunRequest, requested_by=_requester(info), **_options(given.options))
        except InputProblems as problems:
            return problems.result()
        return await _start(info, client, runs_client.start_insight_digest, request)

    @strawberry.mutation(
        extensions=[typed_permission(IsPlanner)],
        description="Confirm that a feedback item is about a feature: the link then counts as demand.",
    )
    async def confirm_feedback_link(
        self, info: Info, feedback_id: FeedbackIdArgument, feature_id: FeatureIdArgument
    ) -> DecideLinkResult:
        return await _decide(info, feedback_id, feature_id, LinkStatus.CONFIRMED)

    @strawberry.mutation(
        extensions=[typed_permission(IsPlanner)],
        description="Reject a suggested link: it is never suggested again.",
    )
    async def reject_feedback_link(
        self, info: Info, feedback_id: FeedbackIdArgument, feature_id: FeatureIdArgument
    ) -> DecideLinkResult:
        return await _decide(info, feedback_id, feature_id, LinkStatus.REJECTED)

    @strawberry.mutation(
        extensions=[typed_permission(IsPlanner)],
        description="Rename a theme; later runs that find the same theme keep the name.",
    )
    async def rename_theme(
        self,
        info: Info,
        id: ThemeIdArgument,
        label: Annotated[
            str, strawberry.argument(description=f"The new name, 1 to {MAX_THEME_LABEL} characters.")
        ],
    ) -> ThemeResult:
        label = label.strip()
        if not 1 <= len(label) <= MAX_THEME_LABEL:
            return InputProblems(
                [ValidationIssue(location="label", message=f"1 to {MAX_THEME_LABEL} characters")]
            ).result()
        try:
            theme = await _store(info).rename_theme(id, label, by=_actor(info), at=datetime.now(UTC))
        except InsightNotFoundError as error:
            return NotFound(message=str(error), id=id)
        return ThemeChanged(theme=Theme.of(theme))

    @strawberry.mutation(
        extensions=[typed_permission(IsPlanner)],
        description="Merge one theme into another of the same run: its items move, its figures are added up.",
    )
    async def merge_themes(
        self,
        info: Info,
        target_id: Annotated[strawberry.ID, strawberry.argument(description="The theme that stays.")],
        source_id: Annotated[strawberry.ID, strawberry.argument(description="The theme merged into it.")],
    ) -> ThemeResult:
        try:
            theme = await _store(info).merge_themes(
                target_id, source_id, by=_actor(info), at=datetime.now(UTC)
            )
        except InsightNotFoundError as error:
            missing = source_id if repr(str(source_id)) in str(error) else target_id
            return NotFound(message=str(error), id=missing)
        except InsightStateError as error:
            return InvalidState(message=str(error))
        return ThemeChanged(theme=Theme.of(theme))

    @strawberry.mutation(
        extensions=[typed_permission(IsPlanner)],
        description=f"Append feedback items (at most {MAX_APPEND_ITEMS}), e.g. from a support tool's webhook; "
        "idempotent on (source, external id).",
    )
    async def append_feedback(
        self,
        info: Info,
        items: Annotated[list[FeedbackInput], strawberry.argument(description="The items to append.")],
    ) -> AppendFeedbackResult:
        try:
            feedback = _feedback_items(items)
            outcome = await _store(info).append_feedback(feedback)
        except InputProblems as problems:
            return problems.result()
        except AppendFeedbackError as error:
            return InputProblems(
                [
                    ValidationIssue(location=f"items[{index}].{field}", message=message)
                    for index, field, message in error.problems
                ]
            ).result()
        return FeedbackAppended(
            created_ids=[strawberry.ID(i) for i in outcome.created_ids],
            unchanged_ids=[strawberry.ID(i) for i in outcome.unchanged_ids],
            created_count=len(outcome.created_ids),
            unchanged_count=len(outcome.unchanged_ids),
        )
