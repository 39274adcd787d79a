"""Local-time helpers: midnights, dates and ISO strings in a system's time zone."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo


@lru_cache(maxsize=64)
def zone(name: str) -> ZoneInfo:
    """The ZoneInfo for a time zone name."""
    return ZoneInfo(name)


@lru_cache(maxsize=65536)
def midnight(tz: str, day: date) -> int:
    """Epoch seconds of local midnight starting ``day`` in ``tz``."""
    return int(datetime(day.year, day.month, day.day, tzinfo=zone(tz)).timestamp())


def local_date(tz: str, epoch: float) -> date:
    """The local calendar date in ``tz`` at ``epoch``."""
    return datetime.fromtimestamp(epoch, zone(tz)).date()


def iso(tz: str, epoch: float) -> str:
    """ISO 8601 with offset for ``epoch`` in ``tz``."""
    return datetime.fromtimestamp(int(epoch), zone(tz)).isoformat()


def days(first: date, last: date) -> list[date]:
    """Every date from ``first`` to ``last`` inclusive."""
    return [first + timedelta(n) for n in range((last - first).days + 1)]


def floor(epoch: float, step: int) -> int:
    """``epoch`` rounded down to a multiple of ``step`` seconds."""
    return int(epoch) // step * step
