"""Suggested feedback -> feature links: cosine similarity of the embeddings, above a calibrated threshold
and clear of the runner-up feature by a margin."""

from __future__ import annotations

from collections.abc import Collection, Sequence

import numpy as np

from engines.insight._embedding import Embedder, load_embedder
from engines.insight._models import FeatureText, FeedbackText, FloatArray, InsightError, LinkSuggestion
from engines.insight._themes import check_embeddings

SUGGESTED_LINK_THRESHOLD = 0.30
"""Calibrated on the dev half of the hand-written evaluation set (bench/insight.py reports the test half)."""
SUGGESTED_LINK_MARGIN = 0.02
"""The best feature must beat the next-best by this much, or the item is ambiguous and not suggested."""


def feature_document(feature: FeatureText) -> str:
    """The text a feature is matched by."""
    return f"{feature.name}. {feature.description}".strip()


def embed_features(features: Sequence[FeatureText], embedder: Embedder | None = None) -> FloatArray:
    return (embedder or load_embedder()).embed([feature_document(f) for f in features])


def suggest_links(
    items: Sequence[FeedbackText],
    item_embeddings: FloatArray,
    features: Sequence[FeatureText],
    *,
    threshold: float = SUGGESTED_LINK_THRESHOLD,
    margin: float = SUGGESTED_LINK_MARGIN,
    rejected: Collection[tuple[str, str]] = (),
    feature_embeddings: FloatArray | None = None,
    embedder: Embedder | None = None,
) -> list[LinkSuggestion]:
    """At most one suggestion per item: its best feature, when that scores at least `threshold` and beats
    the next-best by `margin`. A (feedback_id, feature_id) pair in `rejected` is never suggested; the
    item's other features still compete. Sorted by score, best first."""
    check_embeddings(items, item_embeddings)
    if not items or not features:
        return []
    feature_vectors = embed_features(features, embedder) if feature_embeddings is None else feature_embeddings
    if feature_vectors.shape != (len(features), item_embeddings.shape[1]):
        raise InsightError(
            f"feature embeddings must have one row per feature of width {item_embeddings.shape[1]}: "
            f"{len(features)} features, embeddings of shape {feature_vectors.shape}"
        )
    similarity = (item_embeddings.astype(np.float32) @ feature_vectors.astype(np.float32).T).astype(
        np.float64
    )
    feature_index = {f.id: j for j, f in enumerate(features)}
    item_index = {item.id: i for i, item in enumerate(items)}
    for feedback_id, feature_id in rejected:
        i, j = item_index.get(feedback_id), feature_index.get(feature_id)
        if i is not None and j is not None:
            similarity[i, j] = -np.inf
    if len(features) >= 2:
        top_two = np.argsort(-similarity, axis=1, kind="stable")[:, :2]
        best = top_two[:, 0]
        rows = np.arange(len(items))
        best_score = similarity[rows, best]
        runner_up = similarity[rows, top_two[:, 1]]
    else:
        best = np.zeros(len(items), dtype=np.intp)
        best_score = similarity[:, 0]
        runner_up = np.full(len(items), -np.inf)
    finite = np.isfinite(runner_up)
    gaps = np.full(len(items), np.inf)
    gaps[finite] = best_score[finite] - runner_up[finite]
    suggestions = [
        LinkSuggestion(
            feedback_id=items[i].id,
            feature_id=features[int(best[i])].id,
            score=round(float(best_score[i]), 4),
            margin=round(float(min(gaps[i], 2.0)), 4),
        )
        for i in range(len(items))
        if np.isfinite(best_score[i]) and best_score[i] >= threshold and gaps[i] >= margin
    ]
    suggestions.sort(key=lambda s: (-s.score, s.feedback_id))
    return suggestions
