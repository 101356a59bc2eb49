"""Customer insight in the graph: each insight run's digest and themes, suggested links, and people's decisions.

- `(:InsightDigest {id: workflow id})` is a result node like the others (`graph.result_store`: fixed
  properties, `fig_*` figures, the compressed report, CITES), written once per run, idempotently.
- `(:InsightDigest)-[:FOUND]->(:Theme {id, rank, label, top_terms, item_count, customer_count, arr, sentiment,
  trend_direction, recent_count, previous_count})`: the themes a run found, ranked by size (rank 1 is the
  largest); `(:Feedback)-[:IN_THEME {sentiment}]->(:Theme)` carries each member with its sentiment. The
  themes of the latest digest are the current themes. People rename a theme (`label`, `renamed_by`) or merge
  one into another (its members move, `merged_into` marks it; the target's figures are recomputed).
- `(:Feedback)-[:SUGGESTS {score, digest_id}]->(:Feature)`: the latest run's suggested links; each run
  replaces the previous run's suggestions.
- `(:Feedback)-[:LINK_DECISION {status: confirmed | rejected, score, decided_by, decided_at}]->(:Feature)`: a
  person's decision on a link. A decided pair is never suggested again; confirmed links are read into the
  portfolio snapshot (`Feedback.confirmed_feature_ids`), where they count as demand (`engines.scoring`).
  Deciding changes the portfolio, so it writes a new revision token in the same transaction.

None of these relationship types is one an import owns, so re-importing the portfolio leaves them as they are.
Appended feedback (`append_feedback`) is keyed by its source's external id: the node id is derived from
(source, external id), so appending the same items again creates nothing.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from neo4j import AsyncManagedTransaction, Record
from pydantic import BaseModel, Field

from graph import insight_statements as q
from graph.cypher import CypherRunner, QueryObserver, native, native_properties, utc
from graph.portfolio import Feedback
from graph.result_statements import CITE, MERGE_RESULT
from graph.result_store import ResultConflictError, ResultWrite, result_properties
from graph.store import GraphStore
from graph.vocabulary import PORTFOLIO_LABELS, NodeLabel, RelType

WRITE_BATCH = 2_000
"""Rows per UNWIND when a digest's memberships and suggestions are written."""

EXTERNAL_ID_PREFIX = "fbx-"


class LinkStatus(StrEnum):
    SUGGESTED = "suggested"
    CONFIRMED = "confirmed"
    REJECTED = "rejected"


class InsightNotFoundError(LookupError):
    """A theme, feedback item or feature the caller named is not in the graph."""


class InsightStateError(RuntimeError):
    """The target exists but its state does not allow the change (e.g. merging a theme already merged)."""


class AppendFeedbackError(ValueError):
    """Items of an append refer to customers or features the graph does not hold; nothing was written."""

    def __init__(self, problems: Sequence[tuple[int, str, str]]) -> None:
        super().__init__(f"{len(problems)} problem(s) with the feedback items")
        self.problems = list(problems)
        """(item index, field, message) for each problem."""


class ThemeWrite(BaseModel):
    """One theme of a run as written, with its members and their sentiment."""

    id: str
    rank: int = Field(ge=1)
    label: str
    top_terms: list[str]
    item_count: int
    customer_count: int
    arr: float
    sentiment: float
    trend_direction: str
    recent_count: int
    previous_count: int
    member_sentiments: dict[str, float] = Field(description="Feedback id -> its sentiment.")

    def properties(self) -> dict[str, Any]:
        return self.model_dump(exclude={"id", "member_sentiments"}) | {"generated_label": self.label}


class SuggestionWrite(BaseModel):
    feedback_id: str
    feature_id: str
    score: float


class StoredTheme(BaseModel):
    id: str
    digest_id: str | None
    rank: int
    label: str
    generated_label: str
    top_terms: list[str]
    item_count: int
    customer_count: int
    arr: float
    sentiment: float
    trend_direction: str
    recent_count: int
    previous_count: int
    renamed_by: str | None = None
    merged_into: str | None = None


class ThemeMember(BaseModel):
    feedback_id: str
    text: str
    created_at: date | None
    source: str | None
    customer_id: str | None
    customer_arr: float | None
    sentiment: float = Field(description="As the insight run scored it.")
    imported_sentiment: float | None


class StoredLink(BaseModel):
    feedback_id: str
    feature_id: str
    status: LinkStatus
    score: float | None
    decided_by: str | None = None
    decided_at: datetime | None = None


class AppendOutcome(BaseModel):
    created_ids: list[str]
    unchanged_ids: list[str] = Field(description="Items already in the graph (same source and external id).")


def feedback_id_for(source: str | None, external_id: str) -> str:
    """The node id of an appended item: the same (source, external id) always gives the same id."""
    digest = hashlib.sha256(f"{source or ''}\x1f{external_id}".encode()).hexdigest()[:24]
    return EXTERNAL_ID_PREFIX + digest


def _theme(props: Mapping[str, Any], digest_id: str | None) -> StoredTheme:
    return StoredTheme.model_validate({**native_properties(props), "digest_id": digest_id})


def _link(record: Record) -> StoredLink:
    return StoredLink(
        feedback_id=record["feedback_id"],
        feature_id=record["feature_id"],
        status=LinkStatus(record["status"] or LinkStatus.SUGGESTED.value),
        score=record["score"],
        decided_by=record["decided_by"],
        decided_at=native(record["decided_at"]),
    )


def _batches(rows: Sequence[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    return [list(rows[start : start + WRITE_BATCH]) for start in range(0, len(rows), WRITE_BATCH)]


class InsightStore:
    """Insight reads and writes on a `GraphStore`'s driver and database. Managed transactions only."""

    def __init__(self, store: GraphStore, *, query_observer: QueryObserver | None = None) -> None:
        self._cypher = CypherRunner(store.driver, store.database, observer=query_observer)

    async def _mark_changed(self, tx: AsyncManagedTransaction) -> None:
        await self._cypher.records(tx, q.MARK_PORTFOLIO_CHANGED, token=uuid.uuid4().hex)

    # -- a run's digest -----------------------------------------------------------------------------

    async def save_digest(
        self, write: ResultWrite, themes: Sequence[ThemeWrite], suggestions: Sequence[SuggestionWrite]
    ) -> None:
        """Write the digest, its themes and members, and replace the suggestions, in one transaction
        (idempotent: a retried write changes nothing; another run's write of the same id raises)."""
        label = NodeLabel.INSIGHT_DIGEST
        theme_rows = [{"id": theme.id, "props": theme.properties()} for theme in themes]
        member_rows = [
            {"theme_id": theme.id, "feedback_id": feedback_id, "sentiment": sentiment}
            for theme in themes
            for feedback_id, sentiment in theme.member_sentiments.items()
        ]
        suggestion_rows = [suggestion.model_dump() for suggestion in suggestions]

        async def work(tx: AsyncManagedTransaction) -> None:
            records = await self._cypher.records(
                tx, MERGE_RESULT[label], id=write.id, props=result_properties(write)
            )
            if records[0]["run_id"] != write.run_id:
                raise ResultConflictError(
                    f"{label.value} {write.id!r} was written by run {records[0]['run_id']!r}, not {write.run_id!r}"
                )
            cited = sorted(set(write.cited_ids))
            if cited:
                for target in PORTFOLIO_LABELS:
                    await self._cypher.records(tx, CITE[(label, target)], id=write.id, ids=cited)
            for batch in _batches(theme_rows):
                await self._cypher.records(tx, q.WRITE_THEMES, digest=write.id, themes=batch)
            for batch in _batches(member_rows):
                await self._cypher.records(tx, q.WRITE_MEMBERS, rows=batch)
            while (await self._cypher.records(tx, q.CLEAR_SUGGESTIONS, digest=write.id, limit=WRITE_BATCH))[
                0
            ]["deleted"]:
                pass
            for batch in _batches(suggestion_rows):
                await self._cypher.records(tx, q.WRITE_SUGGESTIONS, digest=write.id, rows=batch)

        await self._cypher.write(work)

    async def rejected_links(self) -> list[tuple[str, str]]:
        """(feedback id, feature id) of every rejected link, sorted."""
        records = await self._cypher.fetch(q.REJECTED_LINKS)
        return [(record["feedback_id"], record["feature_id"]) for record in records]

    async def latest_digest_id(self) -> str | None:
        records = await self._cypher.fetch(q.LATEST_DIGEST)
        return records[0]["id"] if records else None

    # -- themes ---------------------------------------------------------------------------------------

    async def page_themes(self, digest_id: str, *, limit: int, after: str | None = None) -> list[StoredTheme]:
        """The digest's themes not merged away, largest first, after the theme `after` (none if it is gone)."""
        records = await self._cypher.fetch(q.PAGE_THEMES, digest=digest_id, after=after, limit=limit)
        return [_theme(record["props"], digest_id) for record in records]

    async def count_themes(self, digest_id: str) -> int:
        return int((await self._cypher.fetch(q.COUNT_THEMES, digest=digest_id))[0]["count"])

    async def get_themes(self, theme_ids: Sequence[str]) -> dict[str, StoredTheme]:
        records = await self._cypher.fetch(q.GET_THEMES, ids=list(theme_ids))
        themes = [_theme(record["props"], record["digest_id"]) for record in records]
        return {theme.id: theme for theme in themes}

    async def theme_members(self, theme_id: str, *, skip: int = 0, limit: int = 100) -> list[ThemeMember]:
        records = await self._cypher.fetch(q.THEME_MEMBERS, id=theme_id, skip=skip, limit=limit)
        return [
            ThemeMember(
                feedback_id=record["id"],
                text=record["text"],
                created_at=native(record["created_at"]),
                source=record["source"],
                customer_id=record["customer_id"],
                customer_arr=record["arr"],
                sentiment=record["sentiment"] if record["sentiment"] is not None else 0.0,
                imported_sentiment=record["imported_sentiment"],
            )
            for record in records
        ]

    async def rename_theme(self, theme_id: str, label: str, *, by: str, at: datetime) -> StoredTheme:
        async def work(tx: AsyncManagedTransaction) -> bool:
            return bool(
                await self._cypher.records(tx, q.RENAME_THEME, id=theme_id, label=label, by=by, at=utc(at))
            )

        if not await self._cypher.write(work):
            raise InsightNotFoundError(f"no theme with id {theme_id!r}")
        return (await self.get_themes([theme_id]))[theme_id]

    async def merge_themes(self, target_id: str, source_id: str, *, by: str, at: datetime) -> StoredTheme:
        """Move `source_id`'s members into `target_id` and mark the source merged; the target's counts,
        customers, ARR and sentiment are recomputed from its members, its trend counts added up."""
        if target_id == source_id:
            raise InsightStateError("a theme cannot be merged into itself")
        themes = await self.get_themes([target_id, source_id])
        for theme_id in (target_id, source_id):
            if theme_id not in themes:
                raise InsightNotFoundError(f"no theme with id {theme_id!r}")
            if themes[theme_id].merged_into is not None:
                raise InsightStateError(
                    f"theme {theme_id!r} was already merged into {themes[theme_id].merged_into!r}"
                )
        target, source = themes[target_id], themes[source_id]
        if target.digest_id != source.digest_id:
            raise InsightStateError("only themes of the same insight run can be merged")

        async def work(tx: AsyncManagedTransaction) -> None:
            await self._cypher.records(tx, q.COPY_MEMBERS, source=source_id, target=target_id)
            await self._cypher.records(tx, q.DROP_MEMBERS, source=source_id)
            await self._cypher.records(
                tx, q.MARK_MERGED, source=source_id, target=target_id, by=by, at=utc(at)
            )
            members = await self._cypher.records(tx, q.THEME_MEMBER_FIGURES, id=target_id)
            arr_by_customer = {r["customer_id"]: float(r["arr"] or 0.0) for r in members if r["customer_id"]}
            sentiments = [float(r["sentiment"] or 0.0) for r in members]
            terms = [*target.top_terms, *(term for term in source.top_terms if term not in target.top_terms)]
            props = {
                "item_count": len(members),
                "customer_count": len(arr_by_customer),
                "arr": round(sum(arr_by_customer.values()), 2),
                "sentiment": round(sum(sentiments) / len(sentiments), 4) if sentiments else 0.0,
                "recent_count": target.recent_count + source.recent_count,
                "previous_count": target.previous_count + source.previous_count,
                "top_terms": terms[:10],
            }
            await self._cypher.records(tx, q.SET_THEME_FIGURES, id=target_id, props=props)

        await self._cypher.write(work)
        return (await self.get_themes([target_id]))[target_id]

    # -- links ----------------------------------------------------------------------------------------

    async def page_links(
        self,
        status: LinkStatus,
        *,
        skip: int,
        limit: int,
        feature_id: str | None = None,
        feedback_id: str | None = None,
    ) -> list[StoredLink]:
        """Suggested links best first, or decided links of `status` latest first."""
        params: dict[str, Any] = {
            "feature": feature_id,
            "feedback": feedback_id,
            "skip": skip,
            "limit": limit,
        }
        if status is LinkStatus.SUGGESTED:
            records = await self._cypher.fetch(q.PAGE_SUGGESTIONS, **params)
        else:
            records = await self._cypher.fetch(q.PAGE_DECISIONS, status=status.value, **params)
        return [_link(record) for record in records]

    async def count_links(
        self, status: LinkStatus, *, feature_id: str | None = None, feedback_id: str | None = None
    ) -> int:
        params: dict[str, Any] = {"feature": feature_id, "feedback": feedback_id}
        if status is LinkStatus.SUGGESTED:
            records = await self._cypher.fetch(q.COUNT_SUGGESTIONS, **params)
        else:
            records = await self._cypher.fetch(q.COUNT_DECISIONS, status=status.value, **params)
        return int(records[0]["count"])

    async def decide_link(
        self, feedback_id: str, feature_id: str, status: LinkStatus, *, by: str, at: datetime
    ) -> StoredLink:
        """Confirm or reject the link (suggested or not); deciding again overwrites the decision."""
        if status is LinkStatus.SUGGESTED:
            raise ValueError("a decision confirms or rejects a link")

        async def work(tx: AsyncManagedTransaction) -> float | None:
            ends = (await self._cypher.records(tx, q.LINK_ENDS, feedback=feedback_id, feature=feature_id))[0]
            if not ends["feedback"]:
                raise InsightNotFoundError(f"no feedback with id {feedback_id!r}")
            if not ends["feature"]:
                raise InsightNotFoundError(f"no feature with id {feature_id!r}")
            scores = {
                r["type"]: r["score"]
                for r in await self._cypher.records(
                    tx, q.LINK_SCORES, feedback=feedback_id, feature=feature_id
                )
            }
            score = scores.get(RelType.SUGGESTS.value, scores.get(RelType.LINK_DECISION.value))
            await self._cypher.records(tx, q.DROP_SUGGESTION, feedback=feedback_id, feature=feature_id)
            await self._cypher.records(
                tx,
                q.DECIDE_LINK,
                feedback=feedback_id,
                feature=feature_id,
                status=status.value,
                by=by,
                at=utc(at),
                score=score,
            )
            await self._mark_changed(tx)
            return score

        score = await self._cypher.write(work)
        return StoredLink(
            feedback_id=feedback_id,
            feature_id=feature_id,
            status=status,
            score=score,
            decided_by=by,
            decided_at=utc(at),
        )

    # -- appending feedback ---------------------------------------------------------------------------

    async def append_feedback(self, items: Sequence[Feedback]) -> AppendOutcome:
        """Create the items whose ids the graph does not hold yet, with their FROM and ABOUT, in one
        transaction; unknown customers or features raise `AppendFeedbackError` and nothing is written."""
        customers = sorted({item.customer_id for item in items})
        features = sorted({item.feature_id for item in items if item.feature_id is not None})

        async def work(tx: AsyncManagedTransaction) -> AppendOutcome:
            known_customers = {
                r["id"] for r in await self._cypher.records(tx, q.KNOWN_CUSTOMERS, ids=customers)
            }
            known_features = {r["id"] for r in await self._cypher.records(tx, q.KNOWN_FEATURES, ids=features)}
            problems: list[tuple[int, str, str]] = []
            for index, item in enumerate(items):
                if item.customer_id not in known_customers:
                    problems.append((index, "customerId", f"no customer with id {item.customer_id!r}"))
                if item.feature_id is not None and item.feature_id not in known_features:
                    problems.append((index, "featureId", f"no feature with id {item.feature_id!r}"))
            if problems:
                raise AppendFeedbackError(problems)
            ids = [item.id for item in items]
            existing = {r["id"] for r in await self._cypher.records(tx, q.EXISTING_FEEDBACK, ids=ids)}
            new = [item for item in items if item.id not in existing]
            rows = [
                {
                    "customer_id": item.customer_id,
                    "props": {
                        name: value
                        for name, value in {
                            "id": item.id,
                            "text": item.text,
                            "sentiment": item.sentiment,
                            "created_at": item.created_at,
                            "source": item.source,
                            "external_id": item.external_id,
                        }.items()
                        if value is not None
                    },
                }
                for item in new
            ]
            about = [
                {"feedback_id": i.id, "feature_id": i.feature_id} for i in new if i.feature_id is not None
            ]
            for batch in _batches(rows):
                await self._cypher.records(tx, q.CREATE_FEEDBACK, rows=batch)
            for batch in _batches(about):
                await self._cypher.records(tx, q.LINK_FEEDBACK_FEATURES, rows=batch)
            if new:
                await self._mark_changed(tx)
            return AppendOutcome(
                created_ids=[item.id for item in new], unchanged_ids=[i for i in ids if i in existing]
            )

        return await self._cypher.write(work)
