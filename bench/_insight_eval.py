"""The insight engine's evaluation sets and the measures taken on them (used by bench/insight.py and tests/engines/test_insight.py).

Two labelled sets:

- hand-written (`bench/data/insight/`): 248 feedback items written by a person the way support tickets,
  NPS comments and sales notes read (typos, sarcasm, several topics, off-topic noise, 33 about no
  feature), each with its true feature from a 26-feature catalogue and its true theme; split into `dev`
  (for calibrating thresholds) and `test` (for reporting) by alternating within each theme.
- generated (`generated_set`): the demo generator's feedback (graph.demo_feedback: feature catalogue x
  phrasing templates x noise) with its ground truth, for any seed and scale.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Protocol

from engines.insight import FeatureText, FeedbackText, LinkSuggestion
from graph.demo import generate_portfolio_with_feedback_truth
from graph.demo_feedback import FeedbackTruth

DATA_DIR = Path(__file__).parent / "data" / "insight"
GENERATED_ANCHOR = date(2025, 6, 15)


@dataclass(frozen=True)
class LabelledFeedback:
    """An evaluation item: the feedback, its true feature (None: about no feature) and true theme."""

    item: FeedbackText
    feature_id: str | None
    theme: str
    split: str = "test"


@dataclass(frozen=True)
class EvaluationSet:
    name: str
    features: list[FeatureText]
    items: list[LabelledFeedback]

    def split(self, split: str) -> list[LabelledFeedback]:
        return [labelled for labelled in self.items if labelled.split == split]


def handwritten_set() -> EvaluationSet:
    features = [FeatureText.model_validate(f) for f in json.loads((DATA_DIR / "features.json").read_text())]
    rows = json.loads((DATA_DIR / "handwritten_feedback.json").read_text())
    items = [
        LabelledFeedback(
            item=FeedbackText(id=row["id"], text=row["text"]),
            feature_id=row["feature_id"],
            theme=row["theme"],
            split=row["split"],
        )
        for row in rows
    ]
    return EvaluationSet("hand-written", features, items)


def generated_set(seed: int = 7, scale: str = "medium") -> EvaluationSet:
    portfolio, truth = generate_portfolio_with_feedback_truth(seed, scale, GENERATED_ANCHOR)
    by_id: dict[str, FeedbackTruth] = {t.feedback_id: t for t in truth}
    items = [
        LabelledFeedback(
            item=FeedbackText(
                id=fb.id,
                text=fb.text,
                customer_id=fb.customer_id,
                created_at=fb.created_at,
                sentiment=fb.sentiment,
            ),
            feature_id=by_id[fb.id].feature_id,
            theme=by_id[fb.id].topic,
        )
        for fb in portfolio.feedback
    ]
    features = [FeatureText(id=f.id, name=f.name) for f in portfolio.features]
    return EvaluationSet(f"generated (seed {seed}, {scale})", features, items)


@dataclass(frozen=True)
class LinkQuality:
    precision: float
    recall: float
    suggested: int
    correct: int
    linkable: int


def link_quality(
    labelled: Sequence[LabelledFeedback], suggestions: Collection[LinkSuggestion]
) -> LinkQuality:
    """Precision: share of suggestions naming the item's true feature. Recall: share of the items that have
    a true feature which got it suggested."""
    truth = {entry.item.id: entry.feature_id for entry in labelled}
    relevant = [s for s in suggestions if s.feedback_id in truth]
    correct = sum(1 for s in relevant if truth[s.feedback_id] == s.feature_id)
    linkable = sum(1 for feature_id in truth.values() if feature_id is not None)
    return LinkQuality(
        precision=correct / len(relevant) if relevant else 0.0,
        recall=correct / linkable if linkable else 0.0,
        suggested=len(relevant),
        correct=correct,
        linkable=linkable,
    )


class HasMembers(Protocol):
    @property
    def member_ids(self) -> list[str]: ...


@dataclass(frozen=True)
class ThemeQuality:
    purity: float
    coverage: float
    themes: int
    true_themes: int


def theme_quality(
    labelled: Sequence[LabelledFeedback], themes: Sequence[HasMembers], *, min_size: int
) -> ThemeQuality:
    """Purity: share of themed items whose true theme is their theme's most common one. Coverage: share of
    items about a true theme of at least `min_size` items that landed in some theme."""
    truth = {entry.item.id: entry.theme for entry in labelled}
    themed = majority = 0
    for theme in themes:
        counts = Counter(truth[m] for m in theme.member_ids)
        themed += len(theme.member_ids)
        majority += counts.most_common(1)[0][1]
    sizes = Counter(truth.values())
    real = {name for name, size in sizes.items() if size >= min_size and name != "off-topic"}
    in_real = {entry.item.id for entry in labelled if entry.theme in real}
    covered = {m for theme in themes for m in theme.member_ids} & in_real
    return ThemeQuality(
        purity=majority / themed if themed else 0.0,
        coverage=len(covered) / len(in_real) if in_real else 0.0,
        themes=len(themes),
        true_themes=len(real),
    )
