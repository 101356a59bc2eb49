"""Sentiment per text: VADER's compound score, its lexicon extended with product-feedback words."""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from typing import Protocol, cast

# Valence on VADER's scale (-4 .. 4). Words VADER reads as neutral but product feedback does not.
PRODUCT_LEXICON: dict[str, float] = {
    "slow": -1.8,
    "slower": -1.8,
    "sluggish": -1.8,
    "laggy": -1.9,
    "lag": -1.5,
    "lags": -1.5,
    "crash": -2.5,
    "crashes": -2.5,
    "crashed": -2.5,
    "crashing": -2.5,
    "broken": -2.3,
    "breaks": -2.0,
    "bug": -1.6,
    "bugs": -1.6,
    "buggy": -2.0,
    "glitch": -1.6,
    "glitchy": -1.8,
    "timeout": -1.8,
    "timeouts": -1.8,
    "freezes": -2.2,
    "frozen": -1.6,
    "hangs": -1.9,
    "missing": -1.5,
    "unusable": -2.8,
    "unreliable": -2.2,
    "clunky": -1.7,
    "confusing": -1.8,
    "cumbersome": -1.7,
    "tedious": -1.7,
    "workaround": -1.0,
    "outage": -2.4,
    "downtime": -2.0,
    "fails": -2.1,
    "failing": -2.1,
    "error": -1.5,
    "errors": -1.5,
    "blocker": -2.0,
    "churn": -2.0,
    "cancel": -1.5,
    "overpriced": -2.0,
    "intuitive": 1.9,
    "seamless": 2.0,
    "snappy": 1.7,
    "lifesaver": 2.5,
}

# Phrases VADER scores word by word; each is rewritten to one token carrying its valence.
_PHRASES: dict[str, tuple[str, float]] = {
    r"\b(can ?not|can'?t|cannot|unable to|impossible to|doesn'?t let me|won'?t let me) (export|import|save|log ?in|login|sign ?in|upload|download|sync|find|connect|share|print|open|load)\b": (
        "blockedaction",
        -2.2,
    ),
    r"\bdoes ?n[o']?t work\b|\bnot working\b|\bstopped working\b": ("notworking", -2.3),
    r"\btim(?:e|es|ed|ing) ?out\b": ("timedout", -1.8),
    r"\bno way to\b": ("noway", -1.4),
}


class _Analyzer(Protocol):
    lexicon: dict[str, float]

    def polarity_scores(self, text: str) -> dict[str, float]: ...


@functools.cache
def _compiled_phrases() -> list[tuple[re.Pattern[str], str]]:
    return [(re.compile(pattern, re.IGNORECASE), token) for pattern, (token, _) in _PHRASES.items()]


@functools.cache
def _analyzer() -> _Analyzer:
    from vaderSentiment.vaderSentiment import (  # pyright: ignore[reportMissingTypeStubs]
        SentimentIntensityAnalyzer,
    )

    analyzer = cast("_Analyzer", SentimentIntensityAnalyzer())
    analyzer.lexicon.update(PRODUCT_LEXICON)
    analyzer.lexicon.update({token: valence for token, valence in _PHRASES.values()})
    return analyzer


def sentiment(text: str) -> float:
    """VADER's compound score of `text` in [-1, 1] (negative is unhappy), product words included."""
    rewritten = text
    for pattern, token in _compiled_phrases():
        rewritten = pattern.sub(token, rewritten)
    score = float(_analyzer().polarity_scores(rewritten)["compound"])
    return max(-1.0, min(1.0, score))


def sentiments(texts: Sequence[str]) -> list[float]:
    return [sentiment(text) for text in texts]
