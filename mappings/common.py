"""Parameter parsing, time windows and datetime rendering shared by the v2 mappings."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from mappings.base import V2Request
from mappings.errors import unauthorized, unavailable, unprocessable
from mappings.shaping import RETRY

DAY = 86400
WEEK = 7 * DAY
TWO_YEARS = 730 * DAY
MAX_EPOCH = 253402300799  # 9999-12-31T23:59:59Z


def epoch_param(req: V2Request, name: str) -> int | None:
    """The integer epoch query parameter ``name``, None when absent; v2 422 when malformed."""
    raw = req.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = int(raw)
    except ValueError:
        raise unprocessable(f"Invalid value for {name}: not a Unix timestamp") from None
    if not 0 <= value <= MAX_EPOCH:
        raise unprocessable(f"Invalid value for {name}: out of range")
    return value


def date_param(req: V2Request, name: str) -> dt.date | None:
    """The ``YYYY-MM-DD`` query parameter ``name``, None when absent; v2 422 when malformed."""
    raw = req.get(name)
    if raw is None or raw == "":
        return None
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise unprocessable(f"Invalid value for {name}: expected YYYY-MM-DD") from None


def is_id(raw: str) -> bool:
    """Whether ``raw`` is a plain ASCII decimal id of at most 18 digits."""
    return raw.isascii() and raw.isdigit() and len(raw) <= 18


def system_id(req: V2Request) -> int:
    """The numeric ``system_id`` path parameter; v2 401 (as for any system not the client's)
    when it is not a system id."""
    raw = req.path_params.get("system_id", "")
    if not is_id(raw):
        raise unauthorized()
    return int(raw)


def zone(system: dict[str, Any] | None) -> ZoneInfo:
    """The system's IANA time zone (UTC when unknown)."""
    name = system.get("timezone") if isinstance(system, dict) else None
    try:
        return ZoneInfo(name) if isinstance(name, str) and name else ZoneInfo("UTC")
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return ZoneInfo("UTC")


def local_time(ts: Any, tz: ZoneInfo) -> dt.datetime | None:
    """The epoch ``ts`` as a datetime in ``tz``; None when it is not one ``datetime`` can hold."""
    if type(ts) is not int:
        return None
    try:
        return dt.datetime.fromtimestamp(ts, tz)
    except (OverflowError, OSError, ValueError):
        return None


def local_midnight(ts: int, tz: ZoneInfo) -> int:
    """The epoch of midnight, in ``tz``, of the local day containing ``ts``."""
    day = dt.datetime.fromtimestamp(ts, tz).date()
    return day_start(day, tz)


def day_start(day: dt.date, tz: ZoneInfo) -> int:
    """The epoch of local midnight starting ``day`` in ``tz``."""
    return int(dt.datetime.combine(day, dt.time(), tz).timestamp())


def floor_to(ts: int, step: int) -> int:
    """``ts`` rounded down to a multiple of ``step`` seconds."""
    return ts - ts % step


def split_windows(start: int, end: int, span: int = WEEK) -> list[tuple[int, int]]:
    """``[start, end)`` cut into consecutive windows no longer than ``span``."""
    windows = []
    while start < end:
        windows.append((start, min(start + span, end)))
        start += span
    return windows


def too_old(start: int, now: int) -> bool:
    """Whether ``start`` is further back than v4's two-year telemetry limit."""
    return start < now - TWO_YEARS


def wants_iso8601(req: V2Request) -> bool:
    """Whether the client asked for ``datetime_format=iso8601``."""
    return req.get("datetime_format") == "iso8601"


def iso8601(ts: int, tz: ZoneInfo) -> str:
    """``ts`` as ISO 8601 with the offset of ``tz``, as v2 rendered datetimes.

    An epoch no calendar date matches (v4 allows any int64) is no time v2 can render: v2 503.
    """
    local = local_time(ts, tz)
    if local is None or not 1 <= local.year <= 9999:
        raise unavailable(f"Enphase sent a time no calendar date matches ({ts}).", RETRY)
    offset = local.utcoffset()
    if offset is not None and offset.seconds % 60:  # local mean time before zones (1883)
        local = local.astimezone(dt.UTC)  # the same instant in an offset RFC 3339 can write
    return local.isoformat()


def render_datetimes(body: Any, tz: ZoneInfo, keys: frozenset[str] = frozenset()) -> Any:
    """``body`` with every integer ``*_at`` field (and ``keys``) rendered as ISO 8601 in ``tz``."""
    if isinstance(body, list):
        return [render_datetimes(item, tz, keys) for item in body]
    if not isinstance(body, dict):
        return body
    out = {}
    for key, value in body.items():
        is_time = key.endswith("_at") or key in keys
        if is_time and isinstance(value, int) and not isinstance(value, bool):
            out[key] = iso8601(value, tz)
        else:
            out[key] = render_datetimes(value, tz, keys)
    return out
