"""Believable customer feedback for the demo portfolio and the generated insight evaluation set.

Each item is about one topic: a feature (through the noun in its name) and what customers say about it
(`slow`, `broken`, `missing`, `confusing`, `praise`), phrased from varied templates with the noise real
feedback has: greetings, context, sign-offs, typos and off-topic comments about no feature at all.
Topics are Zipf-popular, so a few of them hold many items (themes that really exist), and each topic
has a time profile (`rising`, `falling`, `steady`), so theme trends exist too.

Most generated feedback carries no `feature_id`: linking it is the insight engine's job. The true
feature and topic of every item are returned beside it (`FeedbackTruth`), never written to the graph.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

import numpy as np

from graph.portfolio import Feedback

TopicKind = Literal["slow", "broken", "missing", "confusing", "praise"]
TimeProfile = Literal["rising", "falling", "steady"]

_KIND_BY_VERB: dict[str, TopicKind] = {
    "Speed up": "slow",
    "Harden": "broken",
    "Rebuild": "broken",
    "Simplify": "confusing",
    "Redesign": "confusing",
}

_TEMPLATES: dict[TopicKind, tuple[str, ...]] = {
    "slow": (
        "{noun} take{s} forever to load.",
        "{noun} got so slow since the last release.",
        "{noun} keep{s} timing out for us.",
        "why {are} {noun} so slow??",
        "{noun} {are} painfully sluggish on big accounts.",
        "waiting minutes for {noun} every morning.",
        "{noun}: slow, slow, slow.",
        "Speed of {noun} is a real problem.",
    ),
    "broken": (
        "{noun} keep{s} crashing.",
        "{noun} {are} broken again.",
        "errors every time we use {noun}.",
        "{noun} stopped working after the update.",
        "{noun} show{s} wrong numbers.",
        "bug in {noun}, it fails silently.",
        "{noun} lost our data twice this week.",
        "{noun} randomly break{s}, we can't trust {them}.",
    ),
    "missing": (
        "we really need {noun}.",
        "any news on {noun}?",
        "please add {noun}.",
        "{noun} would save us hours.",
        "when will {noun} be available?",
        "still waiting for {noun}.",
        "{noun} is the one thing we're missing.",
        "our old tool had {noun}, we miss it.",
    ),
    "confusing": (
        "{noun} {are} confusing to set up.",
        "nobody here understands {noun}.",
        "{noun} {are} way too complicated.",
        "couldn't figure out {noun} at all.",
        "{noun} need{s} to be simpler.",
        "the {noun} screen is cluttered.",
    ),
    "praise": (
        "love the new {noun}!",
        "{noun} saved us hours, thanks.",
        "{noun} work{s} really well now.",
        "big improvement on {noun}.",
        "{noun} {are} great, our team loves {them}.",
    ),
}

_FOLLOW_UPS: tuple[str, ...] = (
    "",
    "",
    "",
    " We use {noun} every day.",
    " {noun} matters a lot to us.",
    " Our whole team depends on {noun}.",
    " It's all about {noun} for us.",
)

_PREFIXES: tuple[str, ...] = (
    *("",) * 16,
    "Hi team, ",
    "Quick one: ",
    "From the QBR: ",
    "Ticket: ",
    "NPS comment: ",
    "Hello, ",
    "FYI - ",
    "Call notes: ",
)

_SUFFIXES: tuple[str, ...] = (
    *("",) * 16,
    " Thanks!",
    " This matters for our renewal.",
    " We're on the enterprise plan.",
    " Please advise.",
    " Otherwise the product is great.",
    " Happy to jump on a call.",
    " Our CFO asked about it again.",
    " :(",
)

_GENERAL: tuple[tuple[str, float], ...] = (
    ("Support response times have improved a lot this quarter.", 0.6),
    ("The product feels slower since the last release.", -0.5),
    ("Onboarding new users is still harder than it should be.", -0.3),
    ("Overall a solid product, our team uses it daily.", 0.7),
    ("Pricing changes made budgeting for next year difficult.", -0.4),
    ("Price went up at renewal and we don't see the new value.", -0.5),
    ("Waited five days for a reply to my ticket.", -0.6),
    ("Support was friendly and fixed it fast.", 0.7),
    ("Our champion left the company, need a new contact there.", 0.0),
    ("Please update our billing address.", 0.0),
    ("Third outage this month, we're losing trust.", -0.8),
    ("10/10 would recommend to other teams.", 0.8),
    ("n/a", 0.0),
    ("We were charged twice this month, please refund.", -0.5),
)

_SENTIMENT_RANGE: dict[TopicKind, tuple[float, float]] = {
    "slow": (-0.8, -0.3),
    "broken": (-0.9, -0.4),
    "missing": (-0.5, 0.1),
    "confusing": (-0.6, -0.2),
    "praise": (0.4, 0.9),
}

_SOURCES: tuple[str, ...] = ("support", "survey", "sales")
_QUALIFIER = re.compile(r"\s*(\(phase \d+\)|v\d+|for enterprise admins|on mobile|for large accounts)\s*$")


@dataclass(frozen=True)
class FeedbackTopic:
    """What a group of feedback items is about: a feature's subject and what customers say about it."""

    feature_id: str
    noun: str
    kind: TopicKind
    profile: TimeProfile

    @property
    def label(self) -> str:
        """The true theme: what the feedback is about (features sharing a subject share a theme)."""
        return self.noun


@dataclass(frozen=True)
class FeedbackTruth:
    """The generator's ground truth for one item: its true feature (None when off-topic) and topic."""

    feedback_id: str
    feature_id: str | None
    topic: str


@dataclass(frozen=True)
class TopicFeature:
    """A feature feedback can be about: its id, its name's verb and noun."""

    id: str
    name: str


def split_feature_name(name: str, verbs: Sequence[str]) -> tuple[str, str]:
    """("Speed up", "invoice PDFs") from "Speed up invoice PDFs (phase 2)"; the verb is "" if none matches."""
    stripped = _QUALIFIER.sub("", name).strip()
    for verb in sorted(verbs, key=len, reverse=True):
        if stripped.startswith(verb + " "):
            return verb, stripped[len(verb) + 1 :]
    return "", stripped


def topics_for(
    features: Sequence[TopicFeature], verbs: Sequence[str], rng: np.random.Generator
) -> list[FeedbackTopic]:
    """One topic per feature, its kind from the feature's verb (a "Speed up" feature answers "slow")."""
    profiles: tuple[TimeProfile, ...] = ("rising", "falling", "steady", "steady")
    topics: list[FeedbackTopic] = []
    for feature in features:
        verb, noun = split_feature_name(feature.name, verbs)
        kind = _KIND_BY_VERB.get(verb, "missing")
        if kind == "missing" and rng.random() < 0.2:
            kind = "praise"
        profile = profiles[int(rng.integers(len(profiles)))]
        topics.append(FeedbackTopic(feature_id=feature.id, noun=noun, kind=kind, profile=profile))
    return topics


def _typo(text: str, rng: np.random.Generator) -> str:
    words = text.split(" ")
    long_words = [i for i, w in enumerate(words) if len(w) > 5 and w.isalpha()]
    if not long_words:
        return text
    index = long_words[int(rng.integers(len(long_words)))]
    word = words[index]
    at = int(rng.integers(1, len(word) - 2))
    words[index] = word[:at] + word[at + 1] + word[at] + word[at + 2 :]
    return " ".join(words)


def _noun_variant(noun: str, rng: np.random.Generator) -> str:
    roll = rng.random()
    if roll < 0.15:
        return noun.lower()
    if roll < 0.25:
        return f"the {noun}"
    return noun


def _capitalised(text: str) -> str:
    return text[:1].upper() + text[1:] if text else text


def _created_at(profile: TimeProfile, anchor: date, rng: np.random.Generator) -> date:
    if profile == "rising":
        days = int(min(365, rng.exponential(35.0)))
    elif profile == "falling":
        days = int(rng.integers(56, 200))
    else:
        days = int(rng.integers(0, 366))
    return anchor - timedelta(days=days)


def topic_text(topic: FeedbackTopic, rng: np.random.Generator) -> str:
    """One item about `topic`, phrased from a template with noise around it."""
    templates = _TEMPLATES[topic.kind]
    plural = topic.noun.endswith("s") and not topic.noun.endswith("ss")
    body = templates[int(rng.integers(len(templates)))].format(
        noun=_noun_variant(topic.noun, rng),
        s="" if plural else "s",
        es="" if plural else "es",
        are="are" if plural else "is",
        them="them" if plural else "it",
    )
    follow_up = _FOLLOW_UPS[int(rng.integers(len(_FOLLOW_UPS)))].format(noun=topic.noun)
    if follow_up:
        follow_up = " " + _capitalised(follow_up[1:])
    prefix = _PREFIXES[int(rng.integers(len(_PREFIXES)))]
    opening = body if prefix.endswith(", ") else _capitalised(body)
    text = prefix + opening + follow_up + _SUFFIXES[int(rng.integers(len(_SUFFIXES)))]
    if rng.random() < 0.12:
        text = _typo(text, rng)
    return text


def generate_feedback(
    *,
    count: int,
    topics: Sequence[FeedbackTopic],
    customers_by_feature: dict[str, list[str]],
    all_customer_ids: Sequence[str],
    anchor: date,
    seed: int,
    linked_share: float = 0.1,
    general_share: float = 0.12,
    id_prefix: str = "fb-",
) -> tuple[list[Feedback], list[FeedbackTruth]]:
    """`count` feedback items over `topics` (Zipf-popular in a seeded order) and off-topic noise.

    A `linked_share` of the on-topic items keeps its `feature_id` (as if a person had linked it); the
    rest leave it None. Customers come from `customers_by_feature` (those who requested the feature)
    where there are any, else from `all_customer_ids`.
    """
    if not topics or not all_customer_ids:
        return [], []
    rng = np.random.default_rng(seed)
    width = max(5, len(str(count)))
    popularity = 1.0 / np.arange(1, len(topics) + 1) ** 0.9
    order = rng.permutation(len(topics))
    weights = np.empty(len(topics))
    weights[order] = popularity
    weights /= weights.sum()
    picks = rng.choice(len(topics), size=count, p=weights)
    general = rng.random(count) < general_share
    linked = rng.random(count) < linked_share
    feedback: list[Feedback] = []
    truth: list[FeedbackTruth] = []
    for index in range(count):
        feedback_id = f"{id_prefix}{index + 1:0{width}d}"
        source = _SOURCES[int(rng.integers(len(_SOURCES)))]
        if general[index]:
            text, base = _GENERAL[int(rng.integers(len(_GENERAL)))]
            customer_id = all_customer_ids[int(rng.integers(len(all_customer_ids)))]
            feedback.append(
                Feedback.model_construct(
                    id=feedback_id,
                    customer_id=customer_id,
                    feature_id=None,
                    text=text,
                    sentiment=round(min(1.0, max(-1.0, base + float(rng.uniform(-0.2, 0.2)))), 2),
                    created_at=anchor - timedelta(days=int(rng.integers(0, 366))),
                    source=source,
                )
            )
            truth.append(FeedbackTruth(feedback_id, None, "off-topic"))
            continue
        topic = topics[int(picks[index])]
        requesters = customers_by_feature.get(topic.feature_id) or list(all_customer_ids)
        low, high = _SENTIMENT_RANGE[topic.kind]
        feedback.append(
            Feedback.model_construct(
                id=feedback_id,
                customer_id=requesters[int(rng.integers(len(requesters)))],
                feature_id=topic.feature_id if linked[index] else None,
                text=topic_text(topic, rng),
                sentiment=round(float(rng.uniform(low, high)), 2),
                created_at=_created_at(topic.profile, anchor, rng),
                source=source,
            )
        )
        truth.append(FeedbackTruth(feedback_id, topic.feature_id, topic.label))
    return feedback, truth
