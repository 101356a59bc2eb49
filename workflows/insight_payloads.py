"""Payloads of the customer-insight workflow (`CustomerInsightWorkflow`): durable contracts like
`workflows.payloads` (add optional fields only)."""

from __future__ import annotations

from pydantic import Field

from agents.insight_runs import InsightDeps, InsightFindings
from agents.reports import UsageReport
from workflows.payloads import AnalysisSettings, RunIdentity, _AnalysisOutcome, _Payload  # pyright: ignore[reportPrivateUsage]


class InsightRunRequest(AnalysisSettings):
    schedule_id: str | None = Field(default=None, description="The schedule that started the digest, if any.")


class RejectedLinks(_Payload):
    pairs: list[tuple[str, str]] = Field(description="(feedback id, feature id) of every rejected link.")


class InsightPrecomputeReport(_Payload):
    seconds: float
    heartbeats: int
    feedback_count: int
    theme_count: int
    suggested_link_count: int


class PersistInsightDigest(_Payload):
    run: RunIdentity
    deps: InsightDeps
    model: str
    analysis: InsightFindings
    usage: UsageReport
    schedule_id: str | None = None


class ThemeHeadline(_Payload):
    theme_id: str
    label: str
    item_count: int
    arr: float
    sentiment: float
    trend: str


class InsightDigestOutcome(_AnalysisOutcome):
    feedback_count: int
    theme_count: int
    suggested_link_count: int
    top_themes: list[ThemeHeadline]
    theme_ids: list[str]
    feature_ids: list[str]
    cited_ids: int
    usage: UsageReport
    schedule_id: str | None = None
