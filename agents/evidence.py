"""Evidence rules for agent output: every cited id and every number must come from a tool result.

Tool results are pydantic models; ids travel under keys named `id`, `*_id` or `*_ids`. The output
validators gather what the tools returned in this run from the message history and reject (with
`ModelRetry`) an output that cites an id the tools never returned or that is not in the graph, or
whose narrative states a number or date no tool result contains.
"""

from __future__ import annotations

import json
import re
from collections.abc import Container, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic_ai.messages import ModelMessage, ModelRequest, ToolReturnPart

_ISO_DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")
_NUMBER = re.compile(
    r"(?<![\w.\-/#])\$?(?P<int>\d{1,3}(?:,\d{3})+|\d+)(?:\.(?P<dec>\d+))?(?P<suffix>[kKmMbB%]|\s?pp)?(?![\w\-])"
)
_SCALES = {"k": 1e3, "m": 1e6, "b": 1e9}
QUOTED_DATA_KEYS = frozenset({"quoted_text"})
"""Keys whose text is quoted customer data: never evidence for a number, a date or an id."""


@dataclass
class ToolEvidence:
    """What the tools of one run returned: the ids, the numbers and the ISO dates."""

    ids: set[str] = field(default_factory=set[str])
    numbers: list[float] = field(default_factory=list[float])
    dates: set[str] = field(default_factory=set[str])

    def add_value(self, key: str | None, value: Any) -> None:
        if isinstance(value, dict):
            for child_key, child in value.items():  # pyright: ignore[reportUnknownVariableType]
                self.add_value(str(child_key), child)  # pyright: ignore[reportUnknownArgumentType]
        elif isinstance(value, list):
            for item in value:  # pyright: ignore[reportUnknownVariableType]
                self.add_value(key, item)
        elif isinstance(value, bool) or value is None:
            return
        elif isinstance(value, int | float):
            self.numbers.append(float(value))
        elif isinstance(value, str):
            if key in QUOTED_DATA_KEYS:
                return
            if key is not None and (key == "id" or key.endswith(("_id", "_ids"))):
                self.ids.add(value)
            self.dates.update(_ISO_DATE.findall(value))
            self.numbers.extend(value_ for _, value_, _, _ in _numbers_in(_ISO_DATE.sub(" ", value)))


def tool_results(messages: Sequence[ModelMessage]) -> list[ToolReturnPart]:
    """Successful tool results; retry prompts (which may quote the model's own claims) are not evidence."""
    return [
        part
        for message in messages
        if isinstance(message, ModelRequest)
        for part in message.parts
        if isinstance(part, ToolReturnPart) and part.outcome == "success"
    ]


def gather_tool_evidence(messages: Sequence[ModelMessage]) -> ToolEvidence:
    evidence = ToolEvidence()
    for part in tool_results(messages):
        evidence.add_value(None, tool_result_json(part))
    return evidence


def tool_result_json(part: ToolReturnPart) -> Any:
    text = part.model_response_str()
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _numbers_in(text: str) -> list[tuple[str, float, int, str]]:
    """(token, value, decimals shown, suffix) for each standalone number in `text`."""
    found: list[tuple[str, float, int, str]] = []
    for match in _NUMBER.finditer(text):
        decimals = match.group("dec") or ""
        value = float(match.group("int").replace(",", "") + ("." + decimals if decimals else ""))
        suffix = (match.group("suffix") or "").strip().lower()
        found.append((match.group(0), value, len(decimals), suffix))
    return found


def _matches(value: float, decimals: int, suffix: str, candidate: float) -> bool:
    tolerance = 0.5 * 10.0**-decimals + 1e-9
    candidate = abs(candidate)
    if suffix in ("%", "pp"):
        scaled = (candidate * 100.0, candidate)
    elif suffix in _SCALES:
        scaled = (candidate / _SCALES[suffix],)
    else:
        scaled = (candidate,)
    return any(abs(option - value) <= tolerance for option in scaled)


def unsupported_numbers(text: str, evidence: ToolEvidence, *, ignore_tokens: Iterable[str] = ()) -> list[str]:
    """Numbers and dates in `text` that no tool result supports (ids and ISO dates are handled apart)."""
    problems = [date for date in _ISO_DATE.findall(text) if date not in evidence.dates]
    stripped = _ISO_DATE.sub(" ", text)
    for token in sorted(set(ignore_tokens), key=len, reverse=True):
        stripped = stripped.replace(token, " ")
    for token, value, decimals, suffix in _numbers_in(stripped):
        if not any(_matches(value, decimals, suffix, candidate) for candidate in evidence.numbers):
            problems.append(token.strip())
    return problems


def evidence_problems(
    *,
    cited_ids: Iterable[str],
    narrative: Iterable[str],
    evidence: ToolEvidence,
    graph_ids: Container[str],
) -> list[str]:
    """Everything wrong with an output's evidence, as messages the model can act on."""
    problems: list[str] = []
    cited = sorted(set(cited_ids))
    for item in cited:
        if item not in graph_ids:
            problems.append(f"cites {item!r}, which is not an id in the portfolio graph")
        elif item not in evidence.ids:
            problems.append(f"cites {item!r}, which no tool returned in this run")
    for text in narrative:
        for token in unsupported_numbers(text, evidence, ignore_tokens=evidence.ids):
            problems.append(
                f"states {token!r}, which no tool result contains; use only figures from tool results"
            )
    return problems
