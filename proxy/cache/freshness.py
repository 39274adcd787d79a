"""How long a v4 reply stays fresh, from its endpoint, its time window and its status.

A 2xx reply whose time window can still change ("live") keeps the freshness of its endpoint's
row in ``proxy.v4.paths`` (a TTL, or up to the next interval boundary); one whose window ended
more than ``Cache.reporting_lag`` seconds ago keeps ``Cache.past_ttl``. ``Cache.ttl[name]``
replaces the live TTL of endpoint ``name`` (``other``: paths outside the table).

Windows (``window_end``, by the row's window rule): ``GRANULAR`` runs from ``start_at`` or
``start_date`` for its ``granularity`` (15mins, day by default, week); ``RANGE`` to ``end_at``,
else a week after ``start_at``; ``UNTIL`` to ``end_at``; ``DAYS`` to the end of ``end_date``.
Dates are read at the latest local midnight on Earth (UTC-12). No start or end: the window
includes now.

Boundaries are multiples of the interval in epoch seconds. Every UTC offset in use is a
multiple of 15 minutes, so they are the local interval marks in every zone and season
(DST-independent). Lifetimes gain a day at local midnight, a full UTC hour in whole-hour zones.

Lifetimes (``DAYS``) hold whole local days up to yesterday. Without ``end_date`` (the whole
lifetime: the one reply per system that every v2 lifetime request, past summary and
monthly_production shares, ``mappings.lifetime``) the reply is live, but it only changes at
local midnight (a day is added) and during the reporting lag after it (late reports for
yesterday). It keeps its row's hourly rule; a v2 request needing the days up to D passes the
end of D as ``through`` (the cache's rule): a reply fetched before D ended is refetched (so a
day rolls over once, like a telemetry window: its ``span`` is a day), one fetched a reporting
lag after D ended answers it at any age with no call and nothing to pace, and in between the
hourly rule applies, stretched by pacing like any live key.

Statuses: 404 and 422 keep ``Cache.error_ttl``; every other non-2xx (401, 403, 429, 5xx...)
gets 0, i.e. is never cached.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping

from proxy.config import Cache
from proxy.v4 import paths as v4paths

HOUR = 3600
LATEST_UTC_OFFSET = 12 * HOUR  # local midnight of a date begins no later than 12:00 UTC (UTC-12)
OTHER = v4paths.Freshness()  # paths outside the table (never asked for: the broker refuses them)

Params = Mapping[str, str] | Iterable[tuple[str, str]]
#: What a GET asks: its v4 path below the API root (looked up in the table), or the endpoint row
#: it was already resolved to (None: outside the table), so a call resolves its path once.
Route = str | v4paths.V4Endpoint | None


def endpoint_of(route: Route) -> v4paths.V4Endpoint | None:
    """The endpoint row of ``route`` (None: outside the table)."""
    if isinstance(route, str):
        found = v4paths.find(route)
        return found.endpoint if found else None
    return route


def endpoint_name(route: Route) -> str:
    """The table name of a v4 path below the API root (``other`` when not a known endpoint)."""
    endpoint = endpoint_of(route)
    return endpoint.name if endpoint else "other"


def ttl(route: Route, params: Params, now: float, status: int, settings: Cache) -> int:
    """Seconds the reply to GET ``path?params`` with ``status`` may be served from cache."""
    if status in (404, 422):
        return settings.error_ttl
    if not 200 <= status < 300:
        return 0
    endpoint = endpoint_of(route)
    every = endpoint.freshness.every if endpoint else None
    live = not final(endpoint, params, now, settings)
    if every and endpoint and endpoint.name not in settings.ttl and live:
        return every - math.floor(now) % every
    return period(endpoint, params, now, settings)


def period(route: Route, params: Params, now: float, settings: Cache) -> int:
    """Seconds between two natural refreshes of a 2xx reply to GET ``path?params``."""
    endpoint = endpoint_of(route)
    if endpoint is None:
        return settings.ttl.get("other", OTHER.ttl)
    if final(endpoint, params, now, settings):
        return settings.past_ttl
    if endpoint.name in settings.ttl:
        return settings.ttl[endpoint.name]
    return endpoint.freshness.every or endpoint.freshness.ttl


def final(route: Route, params: Params, now: float, settings: Cache) -> bool:
    """Whether the window of GET ``path?params`` ended more than the reporting lag ago."""
    endpoint = endpoint_of(route)
    end = window_end(endpoint.window if endpoint else None, _first_values(params))
    return end is not None and end < now - settings.reporting_lag


def span(route: Route, params: Params) -> int:
    """Seconds covered by the window of a telemetry GET, or a day for a lifetime up to
    yesterday (0: none, or it does not roll over)."""
    endpoint = endpoint_of(route)
    kind = endpoint.window.kind if endpoint and endpoint.window else None
    values = _first_values(params)
    if kind is v4paths.WindowKind.GRANULAR and ("start_at" in values or "start_date" in values):
        return v4paths.GRANULARITY.get(values.get("granularity") or "day", v4paths.DAY)
    if kind is v4paths.WindowKind.DAYS and "end_date" not in values:
        return v4paths.DAY  # up to yesterday: a new day at each local midnight
    start, end = _epoch(values.get("start_at")), _epoch(values.get("end_at"))
    return end - start if kind is v4paths.WindowKind.RANGE and start is not None and end else 0


def window_end(window: v4paths.WindowRule | None, params: Mapping[str, str]) -> int | None:
    """The latest epoch the data asked with ``params`` can cover, under the ``window`` rule.

    None when the window runs up to now (no explicit start or end).
    """
    kind = window.kind if window else None
    if kind is v4paths.WindowKind.GRANULAR:
        start = _epoch(params.get("start_at")) or _date_start(params.get("start_date"))
        span = v4paths.GRANULARITY.get(params.get("granularity") or "day", v4paths.DAY)
        return None if start is None else start + span
    if kind is v4paths.WindowKind.RANGE:
        start = _epoch(params.get("start_at"))
        end = _epoch(params.get("end_at"))
        return end if end is not None else (None if start is None else start + v4paths.WEEK)
    if kind is v4paths.WindowKind.UNTIL:
        return _epoch(params.get("end_at"))
    if kind is v4paths.WindowKind.DAYS:
        end_day = _date_start(params.get("end_date"))
        return None if end_day is None else end_day + v4paths.DAY
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


def max_age(fresh_for: int) -> str:
    """The Cache-Control of an answer the proxy itself holds fresh ``fresh_for`` more seconds."""
    return f"max-age={fresh_for}"
