"""How simulated weeks of work map to dates: calendar days (the default) or a team's working days.

- `DateCalendar.CALENDAR_DAYS`: a week of work is 7 calendar days; completion at w weeks lands on day
  ceil(7 w) after as_of (weekends and holidays are inside the weekly throughput).
- `DateCalendar.WORKING_DAYS`: a week of work is 5 of the team's working days (Monday to Friday, minus the
  team's `holidays`); completion at w weeks lands on the ceil(5 w)-th working day counted from as_of
  (as_of itself counts when it is a working day; 0 working days is as_of). Dates given in weeks (scenario
  windows and start shifts) are converted the same way: a date is the number of the team's working days
  before it, divided by 5.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from enum import StrEnum

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]

WORKING_DAYS_PER_WEEK = 5


class DateCalendar(StrEnum):
    CALENDAR_DAYS = "calendar_days"
    """Seven calendar days per week of work (the default)."""
    WORKING_DAYS = "working_days"
    """Five working days per week of work, skipping weekends and the team's holidays."""


def working_day_offsets(as_of: date, holidays: Iterable[date], count: int) -> IntArray:
    """Calendar-day offsets from `as_of` of the first `count` working days on or after it."""
    off = {(h - as_of).days for h in holidays if h >= as_of}
    # Enough calendar days for `count` working days: 7/5 of them plus the holidays, plus slack.
    span = count * 7 // WORKING_DAYS_PER_WEEK + len(off) + 7
    offsets = np.arange(span, dtype=np.int64)
    weekday = (as_of.weekday() + offsets) % 7
    working = offsets[(weekday < 5) & ~np.isin(offsets, list(off))]
    return working[:count]


def work_weeks_before(day_offset: float, offsets: IntArray) -> float:
    """Weeks of work (working days / 5) that lie before calendar-day `day_offset` after as_of."""
    return float(np.searchsorted(offsets, day_offset, side="left")) / WORKING_DAYS_PER_WEEK
