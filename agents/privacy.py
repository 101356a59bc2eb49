"""Personal data kept out of what the agents send to a model: pseudonyms for customer names, masks for
emails and phone numbers.

Every tool result and every prompt passes through a `Pseudonymiser` before it reaches the model (and
before it is recorded in a Temporal history, since tool calls are activities). A customer's name, where
any text holds it (feedback, scenario names, any free text), becomes a stable token such as
`CUSTOMER_7f3a9c01`, derived from the snapshot id and the customer id, so it is the same in every tool
result of a run and means nothing outside it. Emails become `[email]`, phone numbers `[phone]`.

Graph ids (`id`, `*_id`, `*_ids` keys) pass unchanged: they are opaque keys (`cust-0042`) the model
cites as evidence, and must not hold personal data themselves. The report builders map the tokens in an
analysis back to customer ids (`reveal_customer_ids`), so stored reports keep ids only and the API
resolves names from the graph at read time. This module imports no pydantic-ai.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from cachetools import LRUCache
from pydantic import BaseModel

from graph.portfolio import Customer, Portfolio

EMAIL_MASK = "[email]"
PHONE_MASK = "[phone]"
AMBIGUOUS_CUSTOMER_MASK = "[customer]"
"""Stands for a name several customers share: no one token could say which of them is meant."""
CUSTOMER_TOKEN_PREFIX = "CUSTOMER_"

_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}(?![\w-])")
_PHONE = re.compile(r"(?<![\w+(])(?:\+|00)?\(?\d(?:[ ().\-/]{0,2}\d){6,14}(?!\w)")
"""7 to 15 digits, optionally led by `+` or `00`, with spaces, dots, dashes, slashes or brackets between."""
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_TOKEN = re.compile(rf"\b{CUSTOMER_TOKEN_PREFIX}[0-9a-f]{{8}}\b")
_WORD = re.compile(r"\w+")
_LEGAL_SUFFIXES = frozenset(
    {"inc", "ltd", "llc", "gmbh", "sa", "bv", "plc", "ag", "co", "corp", "corporation", "group", "limited"}
)
_MIN_SHORT_NAME_CHARS = 4
"""A name without its legal suffix is matched only when at least this long (no masking of `Co`)."""

ModelT = TypeVar("ModelT", bound=BaseModel)


def mask_contact_details(text: str) -> str:
    """`text` with emails replaced by `[email]` and phone numbers by `[phone]` (ISO dates are kept)."""
    masked = _EMAIL.sub(EMAIL_MASK, text)

    def phone(match: re.Match[str]) -> str:
        return match.group(0) if _ISO_DATE.fullmatch(match.group(0)) else PHONE_MASK

    return _PHONE.sub(phone, masked)


def customer_token(snapshot_id: str, customer_id: str) -> str:
    """The pseudonym of a customer in runs over one snapshot, e.g. `CUSTOMER_7f3a9c01`."""
    digest = hashlib.sha256(f"{snapshot_id}\x00{customer_id}".encode()).hexdigest()
    return f"{CUSTOMER_TOKEN_PREFIX}{digest[:8]}"


def _name_variants(name: str) -> list[tuple[str, ...]]:
    words = tuple(word.lower() for word in _WORD.findall(name))
    if not words:
        return []
    variants = [words]
    short = words
    while len(short) > 1 and short[-1] in _LEGAL_SUFFIXES:
        short = short[:-1]
    if short != words and len(" ".join(short)) >= _MIN_SHORT_NAME_CHARS:
        variants.append(short)
    # "S.A." and "B.V." split into letters: drop a trailing run of single letters too.
    trimmed = words
    while len(trimmed) > 1 and len(trimmed[-1]) == 1:
        trimmed = trimmed[:-1]
    if trimmed not in variants and len(" ".join(trimmed)) >= _MIN_SHORT_NAME_CHARS:
        variants.append(trimmed)
    return variants


@dataclass(frozen=True)
class _NameEntry:
    words: tuple[str, ...]
    replacement: str


class Pseudonymiser:
    """Replaces the customer names of one portfolio snapshot, and contact details, in text and models."""

    def __init__(self, snapshot_id: str, customers: Iterable[Customer]) -> None:
        self.snapshot_id = snapshot_id
        owners: dict[tuple[str, ...], set[str]] = {}
        for customer in customers:
            for variant in _name_variants(customer.name):
                owners.setdefault(variant, set()).add(customer.id)
        by_first: dict[str, list[_NameEntry]] = {}
        self._customer_of_token: dict[str, str] = {}
        for words, customer_ids in owners.items():
            if len(customer_ids) == 1:
                (customer_id,) = customer_ids
                replacement = customer_token(snapshot_id, customer_id)
                self._customer_of_token[replacement] = customer_id
            else:
                replacement = AMBIGUOUS_CUSTOMER_MASK
            by_first.setdefault(words[0], []).append(_NameEntry(words, replacement))
        for entries in by_first.values():
            entries.sort(key=lambda entry: -len(entry.words))
        self._by_first = by_first

    def token_of(self, customer_id: str) -> str:
        return customer_token(self.snapshot_id, customer_id)

    def customer_of(self, token: str) -> str | None:
        return self._customer_of_token.get(token)

    def text(self, text: str) -> str:
        """`text` with customer names pseudonymised and emails and phone numbers masked."""
        text = mask_contact_details(text)
        words = list(_WORD.finditer(text))
        if not words:
            return text
        lowered = [match.group(0).lower() for match in words]
        pieces: list[str] = []
        position = 0
        index = 0
        while index < len(words):
            entry = self._match_at(lowered, index)
            if entry is None:
                index += 1
                continue
            start, end = words[index].start(), words[index + len(entry.words) - 1].end()
            pieces.append(text[position:start])
            pieces.append(entry.replacement)
            position = end
            index += len(entry.words)
        pieces.append(text[position:])
        return "".join(pieces)

    def _match_at(self, lowered: list[str], index: int) -> _NameEntry | None:
        for entry in self._by_first.get(lowered[index], ()):
            if tuple(lowered[index : index + len(entry.words)]) == entry.words:
                return entry
        return None

    def value(self, value: Any, key: str | None = None) -> Any:
        """A JSON-like value with every string pseudonymised except graph ids (`id`, `*_id`, `*_ids`)."""
        if isinstance(value, str):
            if key is not None and (key == "id" or key.endswith(("_id", "_ids"))):
                return value
            return self.text(value)
        if isinstance(value, dict):
            return {k: self.value(v, str(k)) for k, v in value.items()}  # pyright: ignore[reportUnknownVariableType]
        if isinstance(value, list | tuple):
            return [self.value(item, key) for item in value]  # pyright: ignore[reportUnknownVariableType]
        return value

    def model(self, model: ModelT) -> ModelT:
        """A copy of a tool result with every free-text field pseudonymised."""
        return type(model).model_validate(self.value(model.model_dump(mode="json")))

    def reveal_customer_ids(self, text: str) -> str:
        """`text` with each pseudonym of this snapshot replaced by its customer's id."""
        return _TOKEN.sub(lambda match: self.customer_of(match.group(0)) or match.group(0), text)


_cache: LRUCache[str, Pseudonymiser] = LRUCache(maxsize=4)
_cache_lock = threading.Lock()


def pseudonymiser_for(portfolio: Portfolio, snapshot_id: str) -> Pseudonymiser:
    """The snapshot's pseudonymiser, built once per snapshot per process (tools run in threads)."""
    with _cache_lock:
        found = _cache.get(snapshot_id)
    if found is not None:
        return found
    built = Pseudonymiser(snapshot_id, portfolio.customers)
    with _cache_lock:
        _cache[snapshot_id] = built
    return built


def reveal_customer_ids(analysis: ModelT, portfolio: Portfolio, snapshot_id: str) -> ModelT:
    """An agent's analysis with the pseudonyms in its text mapped back to customer ids (for storing)."""
    pseudonymiser = pseudonymiser_for(portfolio, snapshot_id)

    def walk(value: Any) -> Any:
        if isinstance(value, str):
            return pseudonymiser.reveal_customer_ids(value)
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}  # pyright: ignore[reportUnknownVariableType]
        if isinstance(value, list):
            return [walk(item) for item in value]  # pyright: ignore[reportUnknownVariableType]
        return value

    return type(analysis).model_validate(walk(analysis.model_dump(mode="json")))
