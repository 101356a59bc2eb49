"""The insight engine's inputs and results: feedback and feature texts, themes with trends, link suggestions."""

from __future__ import annotations

from datetime import date
from typing import Literal

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field

FloatArray = npt.NDArray[np.float32]
"""Row-per-text embeddings, float32, each row L2-normalised (so a dot product is a cosine similarity)."""


class InsightError(ValueError):
    """Input the insight engine cannot work with (mismatched shapes, duplicate ids); the message says which."""


class FeedbackText(BaseModel):
    """One feedback item as the engine reads it: its text, who said it and when."""

    model_config = ConfigDict(frozen=True)

    id: str
    text: str
    customer_id: str | None = None
    created_at: date | None = None
    sentiment: float | None = Field(
        default=None, ge=-1, le=1, description="A sentiment already known (e.g. stored); computed when None."
    )


class FeatureText(BaseModel):
    """A feature as a link target: its name and description are what feedback is matched against."""

    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    description: str = ""


TrendDirection = Literal["rising", "steady", "falling"]


class Trend(BaseModel):
    """A theme's trend: items in the last `recent_weeks` weeks before `as_of` against the same span before.

    Rule: `rising` when `recent_count >= RISING_RATIO * previous_count` and the rise is at least
    `MIN_TREND_CHANGE` items; `falling` the mirror image; otherwise `steady`. `ratio` is
    `(recent_count + 1) / (previous_count + 1)` (smoothed so an empty window does not divide by zero).
    """

    model_config = ConfigDict(frozen=True)

    direction: TrendDirection
    recent_count: int
    previous_count: int
    recent_weeks: int
    ratio: float
    undated_count: int = 0


class Theme(BaseModel):
    """A cluster of feedback saying the same thing, labelled by its distinctive terms."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(description="Stable: a hash of the ids of the members nearest the theme's centre.")
    label: str
    top_terms: list[str]
    member_ids: list[str]
    customer_ids: list[str]
    sentiment: float = Field(ge=-1, le=1, description="Mean sentiment of the members.")
    trend: Trend
    cohesion: float = Field(default=0.0, description="Mean cosine similarity of members to the theme centre.")

    @property
    def size(self) -> int:
        return len(self.member_ids)


class LinkSuggestion(BaseModel):
    """A suggested Feedback-[:ABOUT]->Feature link for a person to confirm or reject."""

    model_config = ConfigDict(frozen=True)

    feedback_id: str
    feature_id: str
    score: float = Field(description="Similarity of the feedback to the feature, in [-1, 1].")
    margin: float = Field(default=0.0, description="How far the score is above the next-best feature's.")
