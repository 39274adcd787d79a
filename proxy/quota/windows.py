"""Budget windows: a clock minute or calendar month (UTC), and how long a 429 may block one."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

SECONDS = {"minute": 60, "day": 86_400}


@dataclass(frozen=True)
class Window:
    """One budget window: counter ``name`` (minute, month, writes...) over [start, end)."""

    name: str
    period: str
    start: int
    end: int
    limit: int


def period_bounds(period: str, now: float) -> tuple[int, int]:
    """The [start, end) epochs of the clock minute, UTC day or calendar month containing ``now``."""
    if period in SECONDS:
        start = int(now) - int(now) % SECONDS[period]
        return start, start + SECONDS[period]
    first = dt.datetime.fromtimestamp(now, dt.UTC).replace(
        day=1, hour=0, minute=0, second=0, microsecond=0
    )
    following = (first + dt.timedelta(days=32)).replace(day=1)
    return int(first.timestamp()), int(following.timestamp())


def window(name: str, period: str, limit: int, now: float) -> Window:
    """The window of counter ``name`` containing ``now``."""
    return Window(name, period, *period_bounds(period, now), limit)


def latest_end(period: str, period_end: int, now: float) -> int:
    """``period_end`` from an upstream 429, no later than the period it names can end.

    A minute ends within 60 s, a month with the calendar month: an upstream clock that runs
    ahead must not block a budget for longer than its own period.
    """
    bound = int(now) + 60 if period == "minute" else period_bounds("month", now)[1]
    return min(period_end, bound)
