"""Themes: feedback clustered on cosine distance, labelled by class-based TF-IDF, with sentiment and trend.

Clustering is average-linkage agglomerative on cosine distance (in `theme_space`, where what all
feedback shares is taken out), cut at `distance_threshold`. Up to `DIRECT_CLUSTER_LIMIT` items it runs on
the items themselves; above that, on a seeded sample of that many, and every item then joins the
cluster whose centre is nearest, if that centre is within `distance_threshold` (otherwise it is noise).
That keeps 100k items within seconds; themes too rare to show in the sample are lost, which at that
scale are a few dozen items. Clusters smaller than `min_size` are noise, not themes.

Items are ordered by id before anything else, so the same data gives the same themes and theme ids
whatever order it arrives in.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Protocol, cast

import numpy as np
import numpy.typing as npt
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.sparse import csr_matrix
from scipy.spatial.distance import pdist

from engines.insight._models import FeedbackText, FloatArray, InsightError, Theme, Trend, TrendDirection
from engines.insight._sentiment import sentiment

IntArray = npt.NDArray[np.intp]


class _Vectorizer(Protocol):
    def fit_transform(self, raw_documents: list[str]) -> object: ...

    def get_feature_names_out(self) -> npt.NDArray[np.str_]: ...


DEFAULT_MIN_SIZE = 5
DEFAULT_DISTANCE_THRESHOLD = 0.75
DIRECT_CLUSTER_LIMIT = 5_000
ASSIGN_CHUNK = 8_192
COMMON_COMPONENTS = 3
COMPONENT_SAMPLE = 5_000
THEME_SPACE_MIN_ITEMS = 200
TOP_TERMS = 5
ID_ANCHOR_MEMBERS = 5
RECENT_WEEKS = 4
BIGRAM_PREFERENCE = 0.7
LABEL_WEIGHT_SHARE = 0.4
KEPT_WORDS = frozenset(
    {"call", "bill", "system", "find", "show", "detail", "fill", "empty", "full", "move", "top"}
)
FEEDBACK_STOP_WORDS = frozenset(
    {
        "please",
        "pls",
        "thanks",
        "thank",
        "hi",
        "hello",
        "hey",
        "team",
        "fyi",
        "just",
        "really",
        "like",
        "use",
        "using",
        "need",
        "needs",
        "want",
        "would",
        "us",
        "still",
        "get",
        "got",
        "way",
        "also",
        "lol",
        "im",
        "dont",
        "ve",
        "re",
        "ll",
        "isn",
        "doesn",
        "don",
        "can",
        "couldn",
        "didn",
        "won",
        "wasn",
        "thing",
    }
)
RISING_RATIO = 1.5
MIN_TREND_CHANGE = 3


def check_embeddings(items: Sequence[FeedbackText], embeddings: FloatArray) -> None:
    if embeddings.ndim != 2 or embeddings.shape[0] != len(items):
        raise InsightError(
            f"embeddings must have one row per item: {len(items)} items, embeddings of shape {embeddings.shape}"
        )
    ids = [item.id for item in items]
    if len(set(ids)) != len(ids):
        seen: set[str] = set()
        duplicate = next(i for i in ids if i in seen or seen.add(i))
        raise InsightError(f"feedback ids must be unique; {duplicate!r} appears more than once")


def _normalised(vectors: FloatArray) -> FloatArray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)


def _agglomerate(vectors: FloatArray, distance_threshold: float) -> IntArray:
    if vectors.shape[0] == 1:
        return np.zeros(1, dtype=np.intp)
    distances = pdist(vectors.astype(np.float64), metric="cosine")
    # A zero row (an empty text) has no direction: it is far from everything.
    distances = np.nan_to_num(distances, nan=1.0)
    tree = linkage(distances, method="average")
    labels = fcluster(tree, t=distance_threshold, criterion="distance")
    return np.asarray(labels, dtype=np.intp) - 1


def _assign_to_nearest(vectors: FloatArray, centres: FloatArray, max_distance: float) -> IntArray:
    """Each row's nearest centre, or -1 when even that one is further than `max_distance` (cosine)."""
    labels = np.full(vectors.shape[0], -1, dtype=np.intp)
    for start in range(0, vectors.shape[0], ASSIGN_CHUNK):
        similarity = vectors[start : start + ASSIGN_CHUNK] @ centres.T
        nearest = np.argmax(similarity, axis=1)
        close = similarity[np.arange(nearest.size), nearest] >= 1.0 - max_distance
        labels[start : start + ASSIGN_CHUNK] = np.where(close, nearest, -1)
    return labels


def theme_space(embeddings: FloatArray, *, seed: int = 0) -> FloatArray:
    """The embeddings with what all feedback shares taken out: centred on their mean, the top
    `COMMON_COMPONENTS` principal directions removed (so phrasing every complaint shares weighs less
    than what it is about), then L2-normalised again. Below `THEME_SPACE_MIN_ITEMS` items the mean and
    the main directions are the topics themselves, so the embeddings are only normalised."""
    vectors = _normalised(embeddings.astype(np.float32, copy=False))
    if vectors.shape[0] < THEME_SPACE_MIN_ITEMS:
        return vectors
    centred = vectors - vectors.mean(axis=0, keepdims=True)
    sample = centred
    if centred.shape[0] > COMPONENT_SAMPLE:
        rows = np.random.default_rng(seed).choice(centred.shape[0], size=COMPONENT_SAMPLE, replace=False)
        sample = centred[np.sort(rows)]
    _, _, directions = np.linalg.svd(sample.astype(np.float64), full_matrices=False)
    common = directions[:COMMON_COMPONENTS].astype(np.float32)
    return _normalised(centred - (centred @ common.T) @ common)


def cluster_labels(embeddings: FloatArray, *, distance_threshold: float, seed: int = 0) -> IntArray:
    """A cluster number per row (0-based, -1 for noise); rows are clustered on cosine distance in `theme_space`."""
    vectors = theme_space(embeddings, seed=seed)
    if vectors.shape[0] == 0:
        return np.zeros(0, dtype=np.intp)
    if vectors.shape[0] <= DIRECT_CLUSTER_LIMIT:
        return _agglomerate(vectors, distance_threshold)
    sample = np.sort(
        np.random.default_rng(seed).choice(vectors.shape[0], DIRECT_CLUSTER_LIMIT, replace=False)
    )
    sample_labels = _agglomerate(vectors[sample], distance_threshold)
    kept = [label for label in np.unique(sample_labels) if np.count_nonzero(sample_labels == label) >= 2]
    if not kept:
        return -np.ones(vectors.shape[0], dtype=np.intp)
    centres = _normalised(
        np.stack([vectors[sample[sample_labels == label]].mean(axis=0) for label in kept]).astype(np.float32)
    )
    return _assign_to_nearest(vectors, centres, distance_threshold)


def _trend(dates: Sequence[date | None], as_of: date, recent_weeks: int) -> Trend:
    recent_start = as_of - timedelta(weeks=recent_weeks)
    previous_start = recent_start - timedelta(weeks=recent_weeks)
    recent = sum(1 for d in dates if d is not None and recent_start < d <= as_of)
    previous = sum(1 for d in dates if d is not None and previous_start < d <= recent_start)
    undated = sum(1 for d in dates if d is None)
    direction: TrendDirection = "steady"
    if recent >= RISING_RATIO * previous and recent - previous >= MIN_TREND_CHANGE:
        direction = "rising"
    elif previous >= RISING_RATIO * recent and previous - recent >= MIN_TREND_CHANGE:
        direction = "falling"
    return Trend(
        direction=direction,
        recent_count=recent,
        previous_count=previous,
        recent_weeks=recent_weeks,
        ratio=round((recent + 1) / (previous + 1), 4),
        undated_count=undated,
    )


def _top_terms(texts_by_cluster: list[list[str]], top: int) -> list[list[tuple[str, float]]]:
    """Class-based TF-IDF: a term weighs by its share of a cluster's words against its spread over clusters.
    Each text is tokenised on its own, so no word pair spans two texts."""
    from sklearn.feature_extraction.text import (  # pyright: ignore[reportMissingTypeStubs]
        ENGLISH_STOP_WORDS,
        CountVectorizer,
    )

    texts = [text for cluster in texts_by_cluster for text in cluster]
    owners = np.repeat(np.arange(len(texts_by_cluster)), [len(cluster) for cluster in texts_by_cluster])
    stop_words = sorted((ENGLISH_STOP_WORDS - KEPT_WORDS) | FEEDBACK_STOP_WORDS)
    vectorizer = cast(
        "_Vectorizer",
        CountVectorizer(
            stop_words=stop_words, ngram_range=(1, 2), token_pattern=r"(?u)\b[a-zA-Z][a-zA-Z]+\b", min_df=1
        ),
    )
    try:
        counts = vectorizer.fit_transform(texts)
    except ValueError:  # nothing but stop words
        return [[] for _ in texts_by_cluster]
    membership = csr_matrix(
        (np.ones(len(texts)), (owners, np.arange(len(texts)))), shape=(len(texts_by_cluster), len(texts))
    )
    dense = np.asarray((membership @ cast("csr_matrix", counts)).toarray(), dtype=np.float64)
    vocabulary = [str(term) for term in vectorizer.get_feature_names_out()]
    words_per_cluster = dense.sum(axis=1, keepdims=True)
    tf = dense / np.maximum(words_per_cluster, 1.0)
    mean_words = float(words_per_cluster.mean())
    idf = np.log1p(mean_words / np.maximum(dense.sum(axis=0), 1.0))
    weights = tf * idf
    result: list[list[tuple[str, float]]] = []
    for row in weights:
        order = [int(i) for i in np.argsort(-row, kind="stable")[: top * 6] if row[i] > 0]
        # A word pair of one word repeated ("slow slow") says nothing the word does not.
        candidates = [(vocabulary[i], float(row[i])) for i in order if not _repeats_a_word(vocabulary[i])]
        terms: list[str] = []
        chosen_weights: list[float] = []
        for term, weight in candidates:
            if len(terms) >= top:
                break
            if " " not in term:
                # "call logging" says more than "logging" when the pair carries most of the word's weight.
                pairs = [(t, w) for t, w in candidates if " " in t and term in t.split(" ")]
                if pairs and pairs[0][1] >= BIGRAM_PREFERENCE * weight:
                    term = pairs[0][0]
            if any(set(term.split(" ")) & set(chosen.split(" ")) for chosen in terms):
                continue
            terms.append(term)
            chosen_weights.append(weight)
        result.append(list(zip(terms, chosen_weights, strict=True)))
    return result


def _repeats_a_word(term: str) -> bool:
    words = term.split(" ")
    return len(words) > 1 and len(set(words)) < len(words)


def _theme_id(member_ids: list[str], similarity_to_centre: FloatArray) -> str:
    order = np.lexsort((np.array(member_ids), -similarity_to_centre))
    anchors = sorted(member_ids[int(i)] for i in order[:ID_ANCHOR_MEMBERS])
    return "theme-" + hashlib.sha256("\x1f".join(anchors).encode()).hexdigest()[:12]


def find_themes(
    items: Sequence[FeedbackText],
    embeddings: FloatArray,
    *,
    as_of: date,
    min_size: int = DEFAULT_MIN_SIZE,
    distance_threshold: float = DEFAULT_DISTANCE_THRESHOLD,
    recent_weeks: int = RECENT_WEEKS,
    seed: int = 0,
) -> list[Theme]:
    """The themes in `items` (row i of `embeddings` embeds item i), largest first.

    Each theme carries its members, customers, mean sentiment, top terms and trend over the
    `recent_weeks` weeks before `as_of` against the weeks before those.
    """
    check_embeddings(items, embeddings)
    if min_size < 1:
        raise InsightError(f"min_size must be at least 1, not {min_size}")
    if not 0 < distance_threshold < 2:
        raise InsightError(f"distance_threshold must be in (0, 2), not {distance_threshold}")
    if not items:
        return []
    order = sorted(range(len(items)), key=lambda i: items[i].id)
    ordered = [items[i] for i in order]
    vectors = _normalised(embeddings[np.asarray(order, dtype=np.intp)].astype(np.float32, copy=False))
    labels = cluster_labels(vectors, distance_threshold=distance_threshold, seed=seed)

    clusters: list[IntArray] = []
    for label in np.unique(labels[labels >= 0]):
        rows = np.flatnonzero(labels == label)
        if rows.size >= min_size:
            clusters.append(rows)
    clusters.sort(key=lambda rows: (-rows.size, ordered[int(rows[0])].id))
    term_lists = _top_terms([[ordered[int(r)].text for r in rows] for rows in clusters], TOP_TERMS)

    themes: list[Theme] = []
    for rows, weighted_terms in zip(clusters, term_lists, strict=True):
        terms = [term for term, _ in weighted_terms]
        label_terms = [
            term for term, weight in weighted_terms if weight >= LABEL_WEIGHT_SHARE * weighted_terms[0][1]
        ]
        members = [ordered[int(r)] for r in rows]
        member_vectors = vectors[rows]
        centre = _normalised(member_vectors.mean(axis=0, keepdims=True))[0]
        similarity = member_vectors @ centre
        scores = [m.sentiment if m.sentiment is not None else sentiment(m.text) for m in members]
        member_ids = [m.id for m in members]
        themes.append(
            Theme(
                id=_theme_id(member_ids, similarity),
                label=" / ".join(label_terms[:3]) if label_terms else "(no distinctive terms)",
                top_terms=terms,
                member_ids=member_ids,
                customer_ids=sorted({m.customer_id for m in members if m.customer_id is not None}),
                sentiment=round(max(-1.0, min(1.0, float(np.mean(scores)))), 4),
                trend=_trend([m.created_at for m in members], as_of, recent_weeks),
                cohesion=round(float(similarity.mean()), 4),
            )
        )
    return themes
