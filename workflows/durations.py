"""Durations as people write them in progress messages: "7 days", "2 h 30 min", "1.25 s".

Pure and deterministic, so workflow code may use it.
"""

from __future__ import annotations

from datetime import timedelta

_UNITS: tuple[tuple[int, str, str], ...] = (
    (86_400, "day", "days"),
    (3_600, "h", "h"),
    (60, "min", "min"),
    (1, "s", "s"),
)


def human_duration(duration: timedelta | float) -> str:
    """`duration` (a timedelta, or seconds) in its two largest units, zero parts left out.

    Under a minute it is seconds to two decimals ("0.5 s", "42 s"); from a minute on it is rounded
    to whole seconds and shown in days, h, min and s ("7 days", "1 day 2 h", "2 h 30 min", "1 min 5 s").
    """
    seconds = duration.total_seconds() if isinstance(duration, timedelta) else float(duration)
    if seconds < 0:
        return f"-{human_duration(-seconds)}"
    if round(seconds, 2) < 60:
        return f"{round(seconds, 2):g} s"
    remaining = round(seconds)
    parts: list[str] = []
    for size, singular, plural in _UNITS:
        count, remaining = divmod(remaining, size)
        if count or parts:
            parts.append(f"{count} {singular if count == 1 else plural}" if count else "")
        if len(parts) == 2:
            break
    return " ".join(part for part in parts if part)
