"""`human_duration`: what progress messages say instead of `7 days, 0:00:00`."""

from __future__ import annotations

from datetime import timedelta

import pytest

from workflows.durations import human_duration


@pytest.mark.parametrize(
    ("duration", "expected"),
    [
        (timedelta(days=7), "7 days"),
        (timedelta(days=1), "1 day"),
        (timedelta(hours=2, minutes=30), "2 h 30 min"),
        (timedelta(days=1, hours=2, minutes=3), "1 day 2 h"),
        (timedelta(days=2, minutes=5), "2 days"),
        (timedelta(hours=1), "1 h"),
        (timedelta(minutes=10), "10 min"),
        (timedelta(minutes=1, seconds=5), "1 min 5 s"),
        (timedelta(seconds=59.996), "1 min"),
        (timedelta(seconds=42), "42 s"),
        (1.5, "1.5 s"),
        (0.254, "0.25 s"),
        (3.0, "3 s"),
        (0, "0 s"),
        (600.0, "10 min"),
        (-90, "-1 min 30 s"),
        (7 * 24 * 3600.0, "7 days"),
    ],
)
def test_human_duration(duration: timedelta | float, expected: str) -> None:
    assert human_duration(duration) == expected
