"""Daylight-aware refresh of production-only data: at night, two refreshes; the rest by day.

Between the end and the start of a system's production, its production-only data (summary,
production telemetry, rgm_stats, production_meter_readings, lifetimes) cannot change, except
that the last producing interval arrives with the next upload and that a new local day starts
(``summary_date``, ``energy_today``). So at night a stale reply of such a key is refreshed only
once after production ends (``GRACE`` after the last producing interval: its upload) and once
after local midnight; by day it is paced as any live key, and the pacer counts it for the share
of the day it is refreshed (``share``), which shortens every key's daylight interval.

The window of a solar day (the day around one solar noon) is learned from the system's own
intervals (``proxy.quota.sightings``): the earliest first and the latest last producing
interval of the recent days whose dark side was seen too (a first interval with none dark
before it may be where a client started asking, not where the sun rose). Where none is known,
sunrise and sunset in the system's zone (``proxy.quota.sun``) are the guess. Nothing is
decided for a system whose zone is not known yet.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass

from proxy.quota import sun
from proxy.quota.sightings import DAY, Sighting, solar_day

PRODUCTION_ONLY = frozenset(
    {
        "summary",
        "production_micro",
        "production_meter",
        "micro_telemetry",
        "rgm_stats",
        "production_meter_readings",
        "energy_lifetime",
    }
)
GRACE = 15 * 60 + 120  # after the last producing interval: its upload (15 min) and some lag
AFTER_MIDNIGHT = 60  # after local midnight: the new day's summary_date is served
LEARNED_DAYS = 3  # solar days before today whose windows count
NIGHT_CALLS = 2  # refreshes of a production-only key between two windows


@dataclass(frozen=True)
class ProductionWindow:
    """A solar day's production from ``start`` to ``end`` (epochs, the upload grace included)."""

    start: float
    end: float


def window(sighting: Sighting, now: float) -> ProductionWindow | None:
    """The production window of the solar day nearest ``now`` (None: the zone is not known)."""
    if sighting.zone is None:
        return None
    offset = sun.noon_offset(sighting.zone)
    today = solar_day(now, offset)
    noon = today * DAY + offset
    produced = _recent(sighting.produced, today)
    dark = _recent(sighting.dark, today)
    # a side is learned from a day where the dark was seen beyond it; any production seen widens
    starts = [first for day, (first, _) in produced.items() if day in dark and dark[day][0] < first]
    ends = [last for day, (_, last) in produced.items() if day in dark and dark[day][1] > last]
    half = sun.half_day(sighting.zone, noon)
    start = min([min(starts, default=noon - half), *(first for first, _ in produced.values())])
    end = max([max(ends, default=noon + half), *(last for _, last in produced.values())])
    return ProductionWindow(start, end + GRACE)


def _recent(spans: dict[int, tuple[float, float]], today: int) -> dict[int, tuple[float, float]]:
    """The spans of the last LEARNED_DAYS solar days and today, moved to today."""
    return {
        day: (first + (today - day) * DAY, last + (today - day) * DAY)
        for day, (first, last) in spans.items()
        if today - LEARNED_DAYS <= day <= today
    }


def share(sighting: Sighting | None, now: float) -> float | None:
    """The share of the day a production-only key of the system is refreshed by its pace
    (None: not known)."""
    known = window(sighting, now) if sighting else None
    return None if known is None else min(1.0, (known.end - known.start) / DAY)


def night_refresh(
    sighting: Sighting | None, stored_at: float, now: float, arrived: bool
) -> bool | None:
    """Whether a production-only reply stored at ``stored_at`` may be refreshed at ``now``
    (None: daylight, or nothing known: pace it as any live key); ``arrived``: an upload came
    since it was stored (what the refresh after production ends waits for)."""
    known = window(sighting, now) if sighting else None
    if known is None or sighting is None or sighting.zone is None:
        return None
    if known.start <= now < known.end:
        return None
    ended = known.end if now >= known.end else known.end - DAY  # the latest production's end
    midnight = _midnight(sighting.zone, now - AFTER_MIDNIGHT) + AFTER_MIDNIGHT
    return (arrived and stored_at < ended <= now) or stored_at < midnight <= now


def _midnight(zone: str, at: float) -> float:
    """The epoch of the local midnight that began the day of ``at`` in ``zone``."""
    local = dt.datetime.fromtimestamp(at, zoneinfo.ZoneInfo(zone))
    return local.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
