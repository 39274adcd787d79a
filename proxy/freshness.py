"""How long a v4 reply stays fresh, from its endpoint, its time window and its status.

A 2xx reply whose time window can still change ("live") keeps the TTL of this table; one
whose window ended more than ``Cache.reporting_lag`` seconds ago keeps ``Cache.past_ttl``.
``Cache.ttl[name]`` replaces the table value of endpoint ``name``.

| endpoint                                   | live TTL (seconds)                           |
|--------------------------------------------|----------------------------------------------|
| production_micro, micro_telemetry          | until the next 5-minute boundary (<= 300)    |
| production_meter, consumption_meter,       | until the next 15-minute boundary (<= 900)   |
| battery, acb_telemetry, encharge_telemetry,|                                              |
| rgm_stats, production_meter_readings       |                                              |
| energy_lifetime, consumption_lifetime      | until the next full UTC hour (<= 3600)       |
| summary                                    | 300                                          |
| systems, inverters_summary                 | 900                                          |
| system, devices                            | 3600                                         |
| retrieve_system_id                         | 86400                                        |
| other                                      | 60                                           |

Windows (``window_end``): telemetry runs from ``start_at`` or ``start_date`` for its
``granularity`` (15mins, day by default, week); ``rgm_stats`` to ``end_at``, else a week after
``start_at``; ``production_meter_readings`` to ``end_at``; lifetimes to the end of ``end_date``.
Dates are read at the latest local midnight on Earth (UTC-12). No start or end: the window
includes now.

Boundaries are multiples of the interval in epoch seconds. Every UTC offset in use is a
multiple of 15 minutes, so they are the local interval marks in every zone and season
(DST-independent). Lifetimes gain a day at local midnight, a full UTC hour in whole-hour zones.

Statuses: 404 and 422 keep ``Cache.error_ttl``; every other non-2xx (401, 403, 429, 5xx...)
gets 0, i.e. is never cached.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterable, Mapping
from functools import lru_cache

from proxy.config import Cache

MINUTE = 60
HOUR = 3600
DAY = 86_400
WEEK = 7 * DAY
LATEST_UTC_OFFSET = 12 * HOUR  # local midnight of a date begins no later than 12:00 UTC (UTC-12)

GRANULARITY = {"15mins": 15 * MINUTE, "day": DAY, "week": WEEK}

_ID = r"[^/]+"
_ENDPOINTS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (name, re.compile(rf"^/systems{pattern}$"))
    for name, pattern in (
        ("systems", ""),
        ("retrieve_system_id", "/retrieve_system_id"),
        ("inverters_summary", "/inverters_summary_by_envoy_or_site"),
        ("production_micro", rf"/{_ID}/telemetry/production_micro"),
        ("production_meter", rf"/{_ID}/telemetry/production_meter"),
        ("consumption_meter", rf"/{_ID}/telemetry/consumption_meter"),
        ("battery", rf"/{_ID}/telemetry/battery"),
        ("micro_telemetry", rf"/{_ID}/devices/micros/{_ID}/telemetry"),
        ("acb_telemetry", rf"/{_ID}/devices/acbs/{_ID}/telemetry"),
        ("encharge_telemetry", rf"/{_ID}/devices/encharges/{_ID}/telemetry"),
        ("summary", rf"/{_ID}/summary"),
        ("devices", rf"/{_ID}/devices"),
        ("energy_lifetime", rf"/{_ID}/energy_lifetime"),
        ("consumption_lifetime", rf"/{_ID}/consumption_lifetime"),
        ("production_meter_readings", rf"/{_ID}/production_meter_readings"),
        ("rgm_stats", rf"/{_ID}/rgm_stats"),
        ("system", r"/(?!search$|config$)[^/]+"),
    )
)

# Endpoints whose data grows by intervals: live TTL runs to the next interval boundary.
INTERVALS: dict[str, int] = {
    "production_micro": 5 * MINUTE,
    "micro_telemetry": 5 * MINUTE,
    **dict.fromkeys(
        (
            "production_meter",
            "consumption_meter",
            "battery",
            "acb_telemetry",
            "encharge_telemetry",
            "rgm_stats",
            "production_meter_readings",
        ),
        15 * MINUTE,
    ),
    "energy_lifetime": HOUR,
    "consumption_lifetime": HOUR,
}

DEFAULT_TTL: dict[str, int] = {
    "summary": 300,
    "systems": 900,
    "inverters_summary": 900,
    "system": HOUR,
    "devices": HOUR,
    "retrieve_system_id": DAY,
    "other": 60,
}

_GRANULAR = frozenset(
    {
        "production_micro",
        "production_meter",
        "consumption_meter",
        "battery",
        "micro_telemetry",
        "acb_telemetry",
        "encharge_telemetry",
    }
)
_LIFETIMES = frozenset({"energy_lifetime", "consumption_lifetime"})

Params = Mapping[str, str] | Iterable[tuple[str, str]]


@lru_cache(maxsize=4096)
def endpoint_name(path: str) -> str:
    """The short name of a v4 path below the API root (``other`` when not a known endpoint)."""
    path = "/" + path.split("?", 1)[0].strip("/")
    return next((name for name, rx in _ENDPOINTS if rx.match(path)), "other")


def ttl(path: str, params: Params, now: float, status: int, settings: Cache) -> int:
    """Seconds the reply to GET ``path?params`` with ``status`` may be served from cache."""
    if status in (404, 422):
        return settings.error_ttl
    if not 200 <= status < 300:
        return 0
    name = endpoint_name(path)
    end = window_end(name, _first_values(params))
    if end is not None and end < now - settings.reporting_lag:
        return settings.past_ttl
    if name in settings.ttl:
        return settings.ttl[name]
    if name in INTERVALS:
        return INTERVALS[name] - math.floor(now) % INTERVALS[name]
    return DEFAULT_TTL[name]


def window_end(name: str, params: Mapping[str, str]) -> int | None:
    """The latest epoch the data of endpoint ``name`` asked with ``params`` can cover.

    None when the window runs up to now (no explicit start or end).
    """
    if name in _GRANULAR:
        start = _epoch(params.get("start_at")) or _date_start(params.get("start_date"))
        span = GRANULARITY.get(params.get("granularity") or "day", DAY)
        return None if start is None else start + span
    if name == "rgm_stats":
        start = _epoch(params.get("start_at"))
        end = _epoch(params.get("end_at"))
        return end if end is not None else (None if start is None else start + WEEK)
    if name == "production_meter_readings":
        return _epoch(params.get("end_at"))
    if name in _LIFETIMES:
        end_day = _date_start(params.get("end_date"))
        return None if end_day is None else end_day + DAY
    return None


def pairs(params: Params) -> Iterable[tuple[str, str]]:
    """The (name, value) query pairs of a mapping or a sequence of pairs."""
    return params.items() if isinstance(params, Mapping) else params


def _first_values(params: Params) -> dict[str, str]:
    found: dict[str, str] = {}
    for key, value in pairs(params):
        found.setdefault(key, value)
    return found


def _epoch(raw: str | None) -> int | None:
    try:
        return int(raw) if raw is not None else None
    except ValueError:
        return None


def _date_start(raw: str | None) -> int | None:
    """The latest instant, in any time zone, at which local day ``raw`` (YYYY-MM-DD) begins."""
    try:
        day = dt.date.fromisoformat(raw) if raw else None
    except ValueError:
        return None
    if day is None:
        return None
    midnight = dt.datetime.combine(day, dt.time(), dt.UTC)
    return int(midnight.timestamp()) + LATEST_UTC_OFFSET
