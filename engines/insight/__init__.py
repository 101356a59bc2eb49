"""The customer-insight engine: offline embeddings, sentiment, themes with trends, suggested feature links.

- `load_embedder` (cached per process; WordLlama's weights from its wheel, never the network) and
  `Embedder.embed` (texts -> L2-normalised float32 rows).
- `sentiment` (VADER compound in [-1, 1], lexicon extended with product feedback: "slow", "crashes",
  "can't export" are negative).
- `find_themes` (`Theme`s with `Trend`s: agglomerative clustering on cosine distance, class-based TF-IDF
  labels, customers, sentiment, recent-vs-previous counts), `theme_arr` (ARR behind a theme).
- `suggest_links` (`LinkSuggestion`s: best feature per item above `SUGGESTED_LINK_THRESHOLD` and clear of
  the runner-up; rejected pairs never suggested).

Pure analytic code: no graph, agents or API imports; deterministic for the same input.
"""

from __future__ import annotations

from collections.abc import Mapping

from engines.insight._embedding import MODEL_NAME, Embedder, load_embedder
from engines.insight._links import (
    SUGGESTED_LINK_MARGIN,
    SUGGESTED_LINK_THRESHOLD,
    embed_features,
    feature_document,
    suggest_links,
)
from engines.insight._models import (
    FeatureText,
    FeedbackText,
    FloatArray,
    InsightError,
    LinkSuggestion,
    Theme,
    Trend,
    TrendDirection,
)
from engines.insight._sentiment import PRODUCT_LEXICON, sentiment, sentiments
from engines.insight._themes import DEFAULT_DISTANCE_THRESHOLD, DEFAULT_MIN_SIZE, RECENT_WEEKS, find_themes


def theme_arr(theme: Theme, arr_by_customer: Mapping[str, float]) -> float:
    """The ARR of the distinct customers behind `theme` (customers missing from the map count 0)."""
    return float(sum(arr_by_customer.get(customer_id, 0.0) for customer_id in theme.customer_ids))


__all__ = [
    "DEFAULT_DISTANCE_THRESHOLD",
    "DEFAULT_MIN_SIZE",
    "MODEL_NAME",
    "PRODUCT_LEXICON",
    "RECENT_WEEKS",
    "SUGGESTED_LINK_MARGIN",
    "SUGGESTED_LINK_THRESHOLD",
    "Embedder",
    "FeatureText",
    "FeedbackText",
    "FloatArray",
    "InsightError",
    "LinkSuggestion",
    "Theme",
    "Trend",
    "TrendDirection",
    "embed_features",
    "feature_document",
    "find_themes",
    "load_embedder",
    "sentiment",
    "sentiments",
    "suggest_links",
    "theme_arr",
]
