"""The customer-insight analysis of one snapshot, keyed like `agents.engine_runs`, and what its tools return.

`InsightDeps` is what an insight run's agent and activities carry: the analysis settings, the run's key
(stored theme ids start with it, so every run's themes are its own) and the links people rejected (read from
the graph when the run starts, so the analysis is deterministic for the deps: a worker that has not seen them
recomputes the same themes and suggestions).

`insight_analysis` embeds every feedback item once (`engines.insight`, offline), finds the themes and suggests
links for the items not yet linked to a feature (neither stated by the import nor confirmed), never a rejected
pair. Sentiment is computed from the text.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict, defaultdict
from datetime import date

from pydantic import BaseModel, Field

from agents.deps import AnalysisDeps
from agents.privacy import reveal_customer_ids
from agents.reports import AgentReport, AnalysisOutput
from agents.summaries import FEEDBACK_NOTICE, FEEDBACK_TEXT_LIMIT
from engines.insight import (
    FeatureText,
    FeedbackText,
    LinkSuggestion,
    Theme,
    find_themes,
    load_embedder,
    sentiments,
    suggest_links,
    theme_arr,
)
from graph.portfolio import Portfolio

MAX_REJECTED_LINKS = 50_000
"""Rejected links a run carries; beyond it the oldest decisions would have to be archived."""

_CACHE_SIZE = 8
_cache: OrderedDict[str, InsightAnalysis] = OrderedDict()


class InsightDeps(AnalysisDeps):
    run_key: str = Field(
        default="adhoc", min_length=1, max_length=120, description="Prefix of stored theme ids."
    )
    rejected_links: list[tuple[str, str]] = Field(
        default_factory=list[tuple[str, str]],
        max_length=MAX_REJECTED_LINKS,
        description="(feedback id, feature id) pairs a person rejected: never suggested again.",
    )

    def analysis_key(self) -> str:
        text = "\x1f".join(
            [self.snapshot_id, self.as_of.isoformat(), self.run_key, str(self.seed)]
            + [f"{a}\x1e{b}" for a, b in sorted(self.rejected_links)]
        )
        return hashlib.sha256(text.encode()).hexdigest()[:24]


class ThemeFigures(BaseModel):
    """A theme as stored and as tools show it: the engine's theme with the run's id and its ARR."""

    theme: Theme
    rank: int
    arr: float


class InsightAnalysis(BaseModel):
    as_of: date
    feedback_count: int
    themes: list[ThemeFigures]
    suggestions: list[LinkSuggestion]
    sentiment_by_feedback: dict[str, float]
    unthemed_count: int

    def theme(self, theme_id: str) -> ThemeFigures | None:
        return next((t for t in self.themes if t.theme.id == theme_id), None)


def _compute(portfolio: Portfolio, deps: InsightDeps) -> InsightAnalysis:
    items = [
        FeedbackText(id=f.id, text=f.text, customer_id=f.customer_id, created_at=f.created_at)
        for f in portfolio.feedback
    ]
    scores = sentiments([item.text for item in items]) if items else []
    items = [item.model_copy(update={"sentiment": score}) for item, score in zip(items, scores, strict=True)]
    embeddings = load_embedder().embed([item.text for item in items])
    themes = find_themes(items, embeddings, as_of=deps.as_of, seed=deps.seed) if items else []
    arr_by_customer = {c.id: c.arr for c in portfolio.customers}
    ranked = sorted(themes, key=lambda t: (-t.size, t.id))
    figures = [
        ThemeFigures(
            theme=theme.model_copy(update={"id": f"{deps.run_key}.{theme.id}"}),
            rank=rank,
            arr=round(theme_arr(theme, arr_by_customer), 2),
        )
        for rank, theme in enumerate(ranked, start=1)
    ]
    linked = {f.id for f in portfolio.feedback if f.feature_id is not None or f.confirmed_feature_ids}
    open_rows = [index for index, item in enumerate(items) if item.id not in linked]
    features = [FeatureText(id=f.id, name=f.name) for f in portfolio.features]
    suggestions = (
        suggest_links(
            [items[i] for i in open_rows], embeddings[open_rows], features, rejected=set(deps.rejected_links)
        )
        if open_rows
        else []
    )
    themed = {member for theme in themes for member in theme.member_ids}
    return InsightAnalysis(
        as_of=deps.as_of,
        feedback_count=len(items),
        themes=figures,
        suggestions=suggestions,
        sentiment_by_feedback={
            item.id: round(float(score), 4) for item, score in zip(items, scores, strict=True)
        },
        unthemed_count=len(items) - len(themed),
    )


def insight_analysis(portfolio: Portfolio, deps: InsightDeps) -> InsightAnalysis:
    """The analysis for `deps` (cached per process; deterministic, so a miss recomputes the same result)."""
    key = deps.analysis_key()
    hit = _cache.get(key)
    if hit is not None:
        _cache.move_to_end(key)
        return hit
    result = _compute(portfolio, deps)
    _cache[key] = result
    while len(_cache) > _CACHE_SIZE:
        _cache.popitem(last=False)
    return result


# -- what the tools return -----------------------------------------------------------------------------


class InsightOverview(BaseModel):
    as_of: date
    feedback_count: int
    theme_count: int
    unthemed_count: int
    suggested_link_count: int
    confirmed_link_count: int
    mean_sentiment: float | None
    sample_feedback_ids: list[str]


class ThemeBrief(BaseModel):
    theme_id: str
    rank: int
    label: str
    top_terms: list[str]
    item_count: int
    customer_count: int
    top_customer_ids: list[str]
    arr: float
    sentiment: float
    trend: str
    recent_count: int
    previous_count: int


class ThemeList(BaseModel):
    themes: list[ThemeBrief]


class ThemeQuote(BaseModel):
    feedback_id: str
    customer_id: str | None
    sentiment: float
    quoted_text: str


class ThemeFeedback(BaseModel):
    notice: str = FEEDBACK_NOTICE
    theme_id: str
    label: str
    quotes: list[ThemeQuote]


class LinkBrief(BaseModel):
    feedback_id: str
    feature_id: str
    feature_name: str
    score: float


class LinkSuggestionList(BaseModel):
    suggested_link_count: int
    top: list[LinkBrief]


class FeatureDemandBrief(BaseModel):
    feature_id: str
    name: str
    confirmed_feedback_ids: list[str]
    customer_ids: list[str]
    customers_without_request_ids: list[str]
    arr_without_request: float


class FeedbackDemand(BaseModel):
    """Confirmed feedback links per feature; a linking customer without a request adds demand (engines.scoring)."""

    confirmed_link_count: int
    features: list[FeatureDemandBrief]


def insight_overview(portfolio: Portfolio, analysis: InsightAnalysis) -> InsightOverview:
    values = list(analysis.sentiment_by_feedback.values())
    return InsightOverview(
        as_of=analysis.as_of,
        feedback_count=analysis.feedback_count,
        theme_count=len(analysis.themes),
        unthemed_count=analysis.unthemed_count,
        suggested_link_count=len(analysis.suggestions),
        confirmed_link_count=sum(len(f.confirmed_feature_ids) for f in portfolio.feedback),
        mean_sentiment=round(sum(values) / len(values), 3) if values else None,
        sample_feedback_ids=sorted(analysis.sentiment_by_feedback)[:3],
    )


def theme_list(analysis: InsightAnalysis, *, top_n: int) -> ThemeList:
    return ThemeList(
        themes=[
            ThemeBrief(
                theme_id=t.theme.id,
                rank=t.rank,
                label=t.theme.label,
                top_terms=t.theme.top_terms[:6],
                item_count=t.theme.size,
                customer_count=len(t.theme.customer_ids),
                top_customer_ids=t.theme.customer_ids[:3],
                arr=t.arr,
                sentiment=round(t.theme.sentiment, 3),
                trend=t.theme.trend.direction,
                recent_count=t.theme.trend.recent_count,
                previous_count=t.theme.trend.previous_count,
            )
            for t in analysis.themes[:top_n]
        ]
    )


def theme_feedback(
    portfolio: Portfolio, analysis: InsightAnalysis, theme_id: str, *, top_n: int
) -> ThemeFeedback:
    """The most negative members of a theme, quoted as data."""
    figures = analysis.theme(theme_id)
    if figures is None:
        raise ValueError(f"no theme {theme_id!r} in this analysis; use a theme_id from top_themes")
    members = set(figures.theme.member_ids)
    items = [f for f in portfolio.feedback if f.id in members]
    items.sort(key=lambda f: (analysis.sentiment_by_feedback.get(f.id, 0.0), f.id))
    return ThemeFeedback(
        theme_id=theme_id,
        label=figures.theme.label,
        quotes=[
            ThemeQuote(
                feedback_id=f.id,
                customer_id=f.customer_id,
                sentiment=analysis.sentiment_by_feedback.get(f.id, 0.0),
                quoted_text=f.text[:FEEDBACK_TEXT_LIMIT],
            )
            for f in items[:top_n]
        ],
    )


def link_suggestions(portfolio: Portfolio, analysis: InsightAnalysis, *, top_n: int) -> LinkSuggestionList:
    names = {f.id: f.name for f in portfolio.features}
    return LinkSuggestionList(
        suggested_link_count=len(analysis.suggestions),
        top=[
            LinkBrief(
                feedback_id=s.feedback_id,
                feature_id=s.feature_id,
                feature_name=names[s.feature_id],
                score=s.score,
            )
            for s in analysis.suggestions[:top_n]
        ],
    )


def feedback_demand(portfolio: Portfolio, *, top_n: int) -> FeedbackDemand:
    requested = {(r.customer_id, r.feature_id) for r in portfolio.requests}
    arr_by_customer = {c.id: c.arr for c in portfolio.customers}
    names = {f.id: f.name for f in portfolio.features}
    links: defaultdict[str, list[tuple[str, str]]] = defaultdict(list)
    for item in portfolio.feedback:
        for feature_id in item.confirmed_feature_ids:
            links[feature_id].append((item.id, item.customer_id))
    briefs: list[FeatureDemandBrief] = []
    for feature_id, pairs in links.items():
        customers = sorted({customer for _, customer in pairs})
        without = [c for c in customers if (c, feature_id) not in requested]
        briefs.append(
            FeatureDemandBrief(
                feature_id=feature_id,
                name=names.get(feature_id, feature_id),
                confirmed_feedback_ids=sorted(feedback for feedback, _ in pairs)[:5],
                customer_ids=customers[:5],
                customers_without_request_ids=without[:5],
                arr_without_request=round(sum(arr_by_customer.get(c, 0.0) for c in without), 2),
            )
        )
    briefs.sort(key=lambda b: (-b.arr_without_request, b.feature_id))
    return FeedbackDemand(confirmed_link_count=sum(len(p) for p in links.values()), features=briefs[:top_n])


# -- the agent's answer and the stored report ------------------------------------------------------------


class InsightFindings(AnalysisOutput):
    theme_ids: list[str] = Field(
        default_factory=list[str], description="Themes to act on first, by the theme_id tools returned."
    )
    feature_ids: list[str] = Field(
        default_factory=list[str],
        description="Features the feedback points to, by the feature_id tools returned.",
    )

    def cited_ids(self) -> list[str]:
        return [*super().cited_ids(), *self.theme_ids, *self.feature_ids]


class InsightReport(AgentReport):
    """An insight run's stored report: the agent's digest beside the analysis' headline figures."""

    analysis: InsightFindings
    as_of: date
    feedback_count: int
    theme_count: int
    suggested_link_count: int
    themes: list[ThemeBrief]


def insight_report(
    portfolio: Portfolio, deps: InsightDeps, run: AgentReport, findings: InsightFindings
) -> InsightReport:
    analysis = insight_analysis(portfolio, deps)
    return InsightReport(
        **run.model_dump(),
        analysis=reveal_customer_ids(findings, portfolio, deps.snapshot_id),
        as_of=deps.as_of,
        feedback_count=analysis.feedback_count,
        theme_count=len(analysis.themes),
        suggested_link_count=len(analysis.suggestions),
        themes=theme_list(analysis, top_n=len(analysis.themes)).themes,
    )
