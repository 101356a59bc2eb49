"""The customer-insight workflow's own activities (names are durable contracts): read the rejected links,
precompute the analysis into this worker's cache (heartbeating), and persist the digest with its themes and
suggested links in one transaction (`graph.insight_store`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from agents import insight_runs
from agents.insight_runs import InsightAnalysis, InsightDeps, InsightReport
from agents.reports import AgentReport
from agents.snapshots import SnapshotRegistry, SnapshotUnavailableError, snapshots
from engines.insight import InsightError
from graph.insight_store import InsightStore, SuggestionWrite, ThemeWrite
from graph.portfolio import Portfolio
from graph.result_store import ResultWrite
from graph.store import GraphStore
from workflows.activities import HEARTBEAT_INTERVAL_SECONDS, model_name_of, run_heartbeating, usage_figures
from workflows.insight_payloads import (
    InsightDigestOutcome,
    InsightPrecomputeReport,
    PersistInsightDigest,
    RejectedLinks,
    ThemeHeadline,
)
from workflows.payloads import OFFLINE_MODEL_KEY, SnapshotRequest

TOP_THEME_HEADLINES = 5


def _non_retryable(error: Exception, error_type: str) -> ApplicationError:
    return ApplicationError(str(error), type=error_type, non_retryable=True)


def _engine_key(theme_id: str) -> str:
    """The engine's stable theme id (a hash of its anchor members), without the run key."""
    return theme_id.split(".", 1)[-1]


def theme_writes(analysis: InsightAnalysis, carried_labels: dict[str, str]) -> list[ThemeWrite]:
    """The run's themes as stored; a theme a person renamed in an earlier run keeps that name."""
    return [
        ThemeWrite(
            id=figures.theme.id,
            rank=figures.rank,
            label=carried_labels.get(_engine_key(figures.theme.id), figures.theme.label),
            top_terms=figures.theme.top_terms,
            item_count=figures.theme.size,
            customer_count=len(figures.theme.customer_ids),
            arr=figures.arr,
            sentiment=figures.theme.sentiment,
            trend_direction=figures.theme.trend.direction,
            recent_count=figures.theme.trend.recent_count,
            previous_count=figures.theme.trend.previous_count,
            member_sentiments={
                member: analysis.sentiment_by_feedback.get(member, 0.0) for member in figures.theme.member_ids
            },
        )
        for figures in analysis.themes
    ]


class InsightActivities:
    """The insight activities, bound to one worker's graph store and snapshot registry."""

    def __init__(
        self,
        store: GraphStore,
        *,
        registry: SnapshotRegistry = snapshots,
        heartbeat_interval: float = HEARTBEAT_INTERVAL_SECONDS,
    ) -> None:
        self.store = store
        self.insight = InsightStore(store)
        self.registry = registry
        self.heartbeat_interval = heartbeat_interval

    def all(self) -> list[Callable[..., Any]]:
        return [self.load_rejected_links, self.precompute_insight, self.persist_insight_digest]

    async def _portfolio(self, deps: InsightDeps) -> Portfolio:
        try:
            return await self.registry.get(deps.snapshot_id)
        except SnapshotUnavailableError as error:
            raise _non_retryable(error, "SnapshotUnavailable") from error

    async def _analysis(self, deps: InsightDeps) -> tuple[Portfolio, InsightAnalysis, int]:
        portfolio = await self._portfolio(deps)
        if not portfolio.feedback:
            raise _non_retryable(ValueError("the graph holds no feedback to analyse"), "NoFeedback")
        try:
            analysis, heartbeats = await run_heartbeating(
                lambda: insight_runs.insight_analysis(portfolio, deps), interval=self.heartbeat_interval
            )
        except InsightError as error:
            raise _non_retryable(error, "InsightError") from error
        return portfolio, analysis, heartbeats

    @activity.defn(name="load_rejected_links")
    async def load_rejected_links(self, request: SnapshotRequest) -> RejectedLinks:
        """Every link a person rejected, so the run never suggests it again."""
        return RejectedLinks(pairs=await self.insight.rejected_links())

    @activity.defn(name="precompute_insight")
    async def precompute_insight(self, deps: InsightDeps) -> InsightPrecomputeReport:
        """Embed, cluster and link the feedback into this worker's cache, heartbeating."""
        started = time.perf_counter()
        _, analysis, heartbeats = await self._analysis(deps)
        return InsightPrecomputeReport(
            seconds=round(time.perf_counter() - started, 3),
            heartbeats=heartbeats,
            feedback_count=analysis.feedback_count,
            theme_count=len(analysis.themes),
            suggested_link_count=len(analysis.suggestions),
        )

    async def _carried_labels(self) -> dict[str, str]:
        previous = await self.insight.latest_digest_id()
        if previous is None:
            return {}
        themes = await self.insight.page_themes(previous, limit=10_000)
        return {_engine_key(t.id): t.label for t in themes if t.renamed_by is not None}

    @activity.defn(name="persist_insight_digest")
    async def persist_insight_digest(self, job: PersistInsightDigest) -> InsightDigestOutcome:
        """Write the digest, its themes and the suggested links to the graph, once."""
        portfolio, analysis, _ = await self._analysis(job.deps)
        run = AgentReport(
            snapshot_id=job.deps.snapshot_id,
            model_name=model_name_of(job.model),
            offline=job.model == OFFLINE_MODEL_KEY,
            usage=job.usage,
        )
        report: InsightReport = insight_runs.insight_report(portfolio, job.deps, run, job.analysis)
        top = analysis.themes[:TOP_THEME_HEADLINES]
        await self.insight.save_digest(
            ResultWrite(
                id=job.run.workflow_id,
                run_id=job.run.run_id,
                workflow_type=job.run.workflow_type,
                snapshot_id=job.deps.snapshot_id,
                as_of=job.deps.as_of,
                recorded_at=job.run.recorded_at,
                model_name=report.model_name,
                offline=report.offline,
                headline=job.analysis.headline,
                figures={
                    "feedback_count": analysis.feedback_count,
                    "theme_count": len(analysis.themes),
                    "suggested_link_count": len(analysis.suggestions),
                    "unthemed_count": analysis.unthemed_count,
                    "theme_ids": [t.theme.id for t in analysis.themes],
                    "schedule_id": job.schedule_id,
                    **usage_figures(job.usage),
                },
                cited_ids=job.analysis.cited_ids(),
                report_json=report.model_dump_json(),
            ),
            theme_writes(analysis, await self._carried_labels()),
            [
                SuggestionWrite(feedback_id=s.feedback_id, feature_id=s.feature_id, score=s.score)
                for s in analysis.suggestions
            ],
        )
        return InsightDigestOutcome(
            workflow_id=job.run.workflow_id,
            snapshot_id=job.deps.snapshot_id,
            as_of=job.deps.as_of,
            model_name=report.model_name,
            offline=report.offline,
            headline=job.analysis.headline,
            recommendation=job.analysis.recommendation,
            feedback_count=analysis.feedback_count,
            theme_count=len(analysis.themes),
            suggested_link_count=len(analysis.suggestions),
            top_themes=[
                ThemeHeadline(
                    theme_id=t.theme.id,
                    label=t.theme.label,
                    item_count=t.theme.size,
                    arr=t.arr,
                    sentiment=t.theme.sentiment,
                    trend=t.theme.trend.direction,
                )
                for t in top
            ],
            theme_ids=job.analysis.theme_ids,
            feature_ids=job.analysis.feature_ids,
            cited_ids=len(set(job.analysis.cited_ids())),
            usage=job.usage,
            schedule_id=job.schedule_id,
        )
