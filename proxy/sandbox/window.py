"""Request time ranges: telemetry windows and lifetime date ranges, validated as v4 does."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from .errors import invalid_range, unprocessable
from .localtime import floor, local_date, midnight
from .systems import System

WEEK = 7 * 86400
MAX_AGE = 2 * 365 * 86400
GRANULARITIES = {"15mins": 900, "day": 86400, "week": WEEK}


def parse_int(value: str, name: str) -> int:
    """An integer query value, or 422."""
    try:
        return int(value)
    except ValueError:
        raise unprocessable(f"Invalid {name}: {value}") from None


def parse_epoch(value: str) -> int:
    """An epoch-seconds query value, or 422 'Failed to parse date'."""
    try:
        return int(value)
    except ValueError:
        raise unprocessable(f"Failed to parse date {value}") from None


def parse_date(value: str) -> date:
    """A YYYY-MM-DD query value, or 422 'Failed to parse date'."""
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise unprocessable(f"Failed to parse date {value}") from None


def granularity_span(query: Mapping[str, str]) -> tuple[str, int]:
    """(granularity, seconds) from the ``granularity`` parameter (default day), or 422."""
    name = query.get("granularity", "day")
    if name not in GRANULARITIES:
        raise unprocessable(f"Invalid granularity {name}. Allowed values are 15mins, day, week")
    return name, GRANULARITIES[name]


@dataclass(frozen=True)
class TelemetryWindow:
    """A validated telemetry window: intervals ending in (start, end] are returned."""

    start: int
    end: int
    start_key: str
    end_key: str

    def fields(self, system: System) -> dict[str, Any]:
        """start_at/start_date and end_at/end_date as the response shows them."""
        tz = system.timezone
        start = (
            local_date(tz, self.start).isoformat() if self.start_key == "start_date" else self.start
        )
        end = local_date(tz, self.end - 1).isoformat() if self.end_key == "end_date" else self.end
        return {self.start_key: start, self.end_key: end}


def _requested_start(system: System, query: Mapping[str, str], now: float) -> int:
    if "start_at" in query:
        return parse_epoch(query["start_at"])
    if "start_date" in query:
        return midnight(system.timezone, parse_date(query["start_date"]))
    return midnight(system.timezone, local_date(system.timezone, now))


def _requested_end(system: System, query: Mapping[str, str]) -> int | None:
    if "end_at" in query:
        return parse_epoch(query["end_at"])
    if "end_date" in query:
        return midnight(system.timezone, parse_date(query["end_date"]) + timedelta(1))
    return None


def telemetry_window(
    system: System, query: Mapping[str, str], now: float, step: int, span: int, cutoff: int
) -> TelemetryWindow:
    """The window of a telemetry request, or 422 with the Ruby-hash details.

    start defaults to local midnight today, is floored to ``step`` and raised to the first
    reported day's midnight; end defaults to min(now, start + span). A start older than two
    years, an explicit range over one week, or a start after the end is refused.
    """
    requested = _requested_start(system, query, now)
    start = max(floor(requested, step), system.operational_at)
    requested_end = _requested_end(system, query)
    end = int(min(now, start + span if requested_end is None else requested_end))
    too_long = requested_end is not None and requested_end - requested > WEEK
    if requested < now - MAX_AGE or too_long or start > end:
        shown_end = end if requested_end is None else requested_end
        raise invalid_range(requested, shown_end, system.operational_at + step, floor(cutoff, step))
    return TelemetryWindow(
        start,
        end,
        "start_date" if "start_at" not in query and "start_date" in query else "start_at",
        "end_date" if "end_at" not in query and "end_date" in query else "end_at",
    )


def lifetime_range(system: System, query: Mapping[str, str], now: float) -> tuple[date, date]:
    """(first, last) day of a lifetime series: clamped to operational date .. yesterday."""
    today = local_date(system.timezone, now)
    yesterday = today - timedelta(1)
    first = parse_date(query["start_date"]) if "start_date" in query else system.operational_date
    last = parse_date(query["end_date"]) if "end_date" in query else yesterday
    if first > today:
        raise unprocessable("Requested date is in the future")
    first, last = max(first, system.operational_date), min(last, yesterday)
    if first > last:
        raise unprocessable("Requested date range is invalid for this system")
    return first, last
