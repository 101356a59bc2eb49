"""Insight benchmark: link quality, theme purity and throughput of the customer-insight engine.

Prints, each beside its aim and a baseline measured in the same run:

- suggested links on the hand-written set (bench/data/insight): precision and recall at
  `SUGGESTED_LINK_THRESHOLD` on the `test` half (the threshold was calibrated on the `dev` half; the
  threshold the dev half picks today is printed too), against a lexical TF-IDF baseline calibrated the
  same way; and on a generated set (demo feedback, its own ground truth);
- theme purity and coverage on a generated set not used for tuning (seed 11) and on the hand-written
  set, against clustering the plain embeddings (no `theme_space`);
- throughput: 100k generated feedback items embedded and clustered into themes, with the time per stage.

Run from the repository root: `.venv/bin/python -m bench.insight [--items 100000]`. The machine's two
cores are shared, so the load average is printed with the times.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Sequence
from typing import cast

import numpy as np

from bench._insight_eval import (
    GENERATED_ANCHOR,
    EvaluationSet,
    LabelledFeedback,
    LinkQuality,
    ThemeQuality,
    generated_set,
    handwritten_set,
    link_quality,
    theme_quality,
)
from engines.insight import (
    DEFAULT_DISTANCE_THRESHOLD,
    SUGGESTED_LINK_MARGIN,
    SUGGESTED_LINK_THRESHOLD,
    FeedbackText,
    FloatArray,
    LinkSuggestion,
    embed_features,
    find_themes,
    load_embedder,
    sentiments,
    suggest_links,
)
from engines.insight._themes import cluster_labels, theme_space
from graph.demo import VERBS, generate_portfolio
from graph.demo_feedback import TopicFeature, generate_feedback, split_feature_name, topics_for

PRECISION_AIM = 0.8
RECALL_AIM = 0.6
THROUGHPUT_AIM_S = 60.0
DEV_PRECISION_TARGET = 0.9


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} (1 min), {five:.1f} (5 min) on {os.cpu_count()} cores"


def _embed(texts: Sequence[str]) -> FloatArray:
    return load_embedder().embed(texts)


def _calibrated_threshold(
    dev: Sequence[LabelledFeedback], suggestions: Sequence[LinkSuggestion], grid: Sequence[float]
) -> float:
    """The lowest threshold whose dev precision reaches DEV_PRECISION_TARGET (most recall at that precision)."""
    for threshold in grid:
        suggested = [s for s in suggestions if s.score >= threshold]
        if link_quality(dev, suggested).precision >= DEV_PRECISION_TARGET:
            return threshold
    return grid[-1]


def _lexical_suggestions(evaluation: EvaluationSet, items: Sequence[FeedbackText]) -> list[LinkSuggestion]:
    """Baseline: best feature by TF-IDF cosine of the words (no embeddings), same margin rule."""
    from sklearn.feature_extraction.text import TfidfVectorizer  # pyright: ignore[reportMissingTypeStubs]

    documents = [f"{f.name}. {f.description}" for f in evaluation.features]
    vectorizer = TfidfVectorizer(stop_words="english", sublinear_tf=True)
    vectorizer.fit([*documents, *(i.text for i in items)])  # pyright: ignore[reportUnknownMemberType]
    feature_matrix = np.asarray(vectorizer.transform(documents).toarray(), dtype=np.float32)  # pyright: ignore[reportUnknownMemberType, reportAttributeAccessIssue]
    item_matrix = np.asarray(vectorizer.transform([i.text for i in items]).toarray(), dtype=np.float32)  # pyright: ignore[reportUnknownMemberType, reportAttributeAccessIssue]
    return suggest_links(
        items,
        cast(FloatArray, item_matrix),
        evaluation.features,
        threshold=0.0,
        margin=SUGGESTED_LINK_MARGIN,
        feature_embeddings=cast(FloatArray, feature_matrix),
    )


def _print_links(label: str, quality: LinkQuality) -> None:
    print(
        f"  {label:<46} precision {quality.precision:.3f} (aim >= {PRECISION_AIM})  "
        f"recall {quality.recall:.3f} (aim >= {RECALL_AIM})  [{quality.correct}/{quality.suggested} "
        f"suggested correct, {quality.linkable} linkable]"
    )


def bench_links() -> None:
    evaluation = handwritten_set()
    items = [entry.item for entry in evaluation.items]
    embeddings = _embed([item.text for item in items])
    feature_embeddings = embed_features(evaluation.features)
    every = suggest_links(
        items, embeddings, evaluation.features, threshold=-1.0, feature_embeddings=feature_embeddings
    )
    dev, test = evaluation.split("dev"), evaluation.split("test")
    grid = [round(x, 2) for x in np.arange(0.10, 0.80, 0.01)]
    calibrated = _calibrated_threshold(dev, every, grid)
    at_constant = [s for s in every if s.score >= SUGGESTED_LINK_THRESHOLD]
    print(
        f"Suggested links, hand-written set ({len(evaluation.items)} items, {len(evaluation.features)} features; "
        f"dev {len(dev)} / test {len(test)}):"
    )
    print(
        f"  SUGGESTED_LINK_THRESHOLD = {SUGGESTED_LINK_THRESHOLD}, margin {SUGGESTED_LINK_MARGIN}; "
        f"dev calibration today (precision >= {DEV_PRECISION_TARGET}) picks {calibrated}"
    )
    _print_links("test, at the threshold", link_quality(test, at_constant))
    _print_links("dev, at the threshold", link_quality(dev, at_constant))
    lexical = _lexical_suggestions(evaluation, items)
    lexical_threshold = _calibrated_threshold(dev, lexical, grid)
    _print_links(
        f"baseline TF-IDF words, test (dev-calibrated {lexical_threshold})",
        link_quality(test, [s for s in lexical if s.score >= lexical_threshold]),
    )

    generated = generated_set(seed=11, scale="small")
    generated_items = [entry.item for entry in generated.items]
    generated_links = suggest_links(
        generated_items, _embed([i.text for i in generated_items]), generated.features
    )
    print(
        f"Suggested links, {generated.name} ({len(generated.items)} items, {len(generated.features)} features):"
    )
    _print_links("exact feature, at the threshold", link_quality(generated.items, generated_links))
    # The demo catalogue holds several features on one subject ("Support webhooks", "Harden webhooks");
    # feedback names the subject, so the subject is what its text can tell apart.
    subject = {f.id: split_feature_name(f.name, VERBS)[1] for f in generated.features}
    by_item = {entry.item.id: entry for entry in generated.items}
    on_subject = [s for s in generated_links if subject[s.feature_id] == by_item[s.feedback_id].theme]
    linkable = sum(1 for entry in generated.items if entry.feature_id is not None)
    print(
        f"  {'right subject, at the threshold':<46} precision {len(on_subject) / max(1, len(generated_links)):.3f}  "
        f"recall {len(on_subject) / max(1, linkable):.3f}"
    )


class _Group:
    """Enough of a Theme for theme_quality."""

    def __init__(self, member_ids: list[str]) -> None:
        self.member_ids = member_ids


def _print_themes(label: str, quality: ThemeQuality) -> None:
    print(
        f"  {label:<46} purity {quality.purity:.3f}  coverage {quality.coverage:.3f}  "
        f"themes {quality.themes} (true themes of >= min size: {quality.true_themes})"
    )


def bench_themes() -> None:
    for evaluation, min_size in ((generated_set(seed=11, scale="medium"), 5), (handwritten_set(), 3)):
        items = [entry.item for entry in evaluation.items]
        embeddings = _embed([item.text for item in items])
        print(
            f"Themes, {evaluation.name} ({len(items)} items, min_size {min_size}, "
            f"distance threshold {DEFAULT_DISTANCE_THRESHOLD}):"
        )
        themes = find_themes(items, embeddings, as_of=GENERATED_ANCHOR, min_size=min_size)
        _print_themes("find_themes", theme_quality(evaluation.items, themes, min_size=min_size))
        plain = _plain_themes(evaluation.items, embeddings, min_size)
        _print_themes(
            "baseline: plain embeddings, same cut", theme_quality(evaluation.items, plain, min_size=min_size)
        )


def _plain_themes(
    labelled: Sequence[LabelledFeedback], embeddings: FloatArray, min_size: int
) -> list[_Group]:
    from scipy.cluster.hierarchy import fcluster, linkage

    tree = linkage(embeddings.astype(np.float64), method="average", metric="cosine")
    labels = fcluster(tree, t=DEFAULT_DISTANCE_THRESHOLD, criterion="distance")
    groups: dict[int, list[str]] = {}
    for entry, label in zip(labelled, labels, strict=True):
        groups.setdefault(int(label), []).append(entry.item.id)
    return [_Group(members) for members in groups.values() if len(members) >= min_size]


def bench_throughput(count: int) -> None:
    portfolio = generate_portfolio(seed=7, scale="medium", anchor=GENERATED_ANCHOR)
    requested = sorted({r.feature_id for r in portfolio.requests})
    names = {f.id: f.name for f in portfolio.features}
    topics = topics_for([TopicFeature(i, names[i]) for i in requested], VERBS, np.random.default_rng(3))
    by_feature: dict[str, list[str]] = {}
    for request in portfolio.requests:
        by_feature.setdefault(request.feature_id, []).append(request.customer_id)
    started = time.perf_counter()
    feedback, _ = generate_feedback(
        count=count,
        topics=topics,
        customers_by_feature=by_feature,
        all_customer_ids=[c.id for c in portfolio.customers],
        anchor=GENERATED_ANCHOR,
        seed=5,
    )
    items = [
        FeedbackText(
            id=f.id, text=f.text, customer_id=f.customer_id, created_at=f.created_at, sentiment=f.sentiment
        )
        for f in feedback
    ]
    print(
        f"Throughput, {count:,} generated feedback items ({time.perf_counter() - started:.1f} s to generate); {_load()}:"
    )
    clock: list[float] = []

    def start() -> None:
        clock[:] = [time.perf_counter(), time.process_time()]

    def stage(name: str) -> tuple[float, float]:
        wall, cpu = time.perf_counter() - clock[0], time.process_time() - clock[1]
        print(f"  {name:<52} {wall:7.2f} s wall ({cpu:6.2f} s CPU)")
        return wall, cpu

    start()
    load_embedder()
    stage("load the model (once per process)")
    start()
    embeddings = _embed([item.text for item in items])
    embed_seconds = stage("embed")
    start()
    space = theme_space(embeddings)
    stage("  of find_themes: theme space")
    start()
    labels = cluster_labels(embeddings, distance_threshold=DEFAULT_DISTANCE_THRESHOLD)
    stage(f"  of find_themes: theme space + cluster ({int(labels.max()) + 1} clusters)")
    del space
    start()
    themes = find_themes(items, embeddings, as_of=GENERATED_ANCHOR)
    find_seconds = stage(f"find_themes end to end ({len(themes)} themes, labels, trends)")
    wall, cpu = embed_seconds[0] + find_seconds[0], embed_seconds[1] + find_seconds[1]
    print(
        f"  {'embed + find_themes':<52} {wall:7.2f} s wall ({cpu:6.2f} s CPU) (aim <= {THROUGHPUT_AIM_S:.0f} s); "
        f"{_load()}"
    )
    sample = [item.text for item in items[:10_000]]
    started = time.perf_counter()
    sentiments(sample)
    per_item = (time.perf_counter() - started) / len(sample)
    print(
        f"  {'VADER sentiment (not stored ones)':<46} {per_item * count:7.2f} s for {count:,} "
        f"(measured on 10k; find_themes uses stored sentiment when given)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--items", type=int, default=100_000, help="feedback items for the throughput run")
    args = parser.parse_args()
    print(f"Insight benchmark; {_load()}")
    bench_links()
    bench_themes()
    bench_throughput(args.items)


if __name__ == "__main__":
    main()
