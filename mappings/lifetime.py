"""One v4 lifetime reply per system, and the v2 date ranges cut out of it locally.

v4's ``energy_lifetime`` and ``consumption_lifetime`` default to the whole lifetime (from the
operational date to yesterday, the last day they ever hold), and ``production=all`` only adds
the micro and meter series to the same merged ``production``. So every v2 request about any
days (energy_lifetime with or without ``production=all``, a past summary, monthly_production)
plans the same call, ``energy_lifetime?production=all`` (``consumption_lifetime`` alike), and
cuts its days out as v4 would have answered them: a start before the first day begins at that
day; an end after yesterday ends at yesterday; a start after today, or a range without any day
of the series, is v4's 422.

Each call carries ``through``: the end of the last day its answer needs, so a cached reply
fetched before that day ended is not used for it (``proxy.cache.freshness`` says how the rest are).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from mappings.base import V2Request, V2Response, V4Call
from mappings.common import date_param, day_start, local_time, system_id, zone
from mappings.errors import unprocessable
from mappings.passthrough import lacks_body_meta, only_body, respond, v2_meta
from mappings.shaping import missing

FUTURE = "Requested date is in the future"
INVALID_RANGE = "Requested date range is invalid for this system"
#: The canonical query of each lifetime endpoint: everything v2 may ask of it, no dates.
CANONICAL = {"energy_lifetime": (("production", "all"),), "consumption_lifetime": ()}


def needs_system(req: V2Request) -> bool:
    """Always: the system zone says which day is yesterday, the last one v4 holds."""
    return True


def today(req: V2Request, system: dict[str, Any] | None) -> dt.date:
    """The system's local date at the request."""
    return dt.datetime.fromtimestamp(req.now, zone(system)).date()


def requested_days(req: V2Request, system: dict[str, Any] | None) -> tuple[dt.date | None, dt.date]:
    """(start_date or None, last day v4 would answer) of ``req``; v2 422 as v4 refused them."""
    start, end = date_param(req, "start_date"), date_param(req, "end_date")
    if start and end and start > end:
        raise unprocessable(
            "start_date must not be after end_date", start=start.isoformat(), end=end.isoformat()
        )
    now = today(req, system)
    if start and start > now:
        raise unprocessable(FUTURE)
    yesterday = now - dt.timedelta(days=1)
    last = min(end, yesterday) if end else yesterday
    if start and start > last:
        raise unprocessable(INVALID_RANGE)
    return start, last


def call(req: V2Request, system: dict[str, Any] | None, endpoint: str, last: dt.date) -> V4Call:
    """The system's canonical ``endpoint`` call, for an answer that needs days up to ``last``."""
    through = day_start(last + dt.timedelta(days=1), zone(system))
    return V4Call(f"/systems/{system_id(req)}/{endpoint}", CANONICAL[endpoint], through)


def plan(req: V2Request, system: dict[str, Any] | None, endpoint: str) -> list[V4Call]:
    """The canonical ``endpoint`` call answering a v2 lifetime request, once its dates are valid."""
    _, last = requested_days(req, system)
    return [call(req, system, endpoint, last)]


def _date(value: Any) -> dt.date | None:
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        return None


def cut(
    body: dict[str, Any], first: dt.date | None, last: dt.date, series: Sequence[str]
) -> tuple[Any, dict[str, list[Any]]]:
    """(start_date, the ``series`` from it to ``last``) of a whole-lifetime ``body``.

    v2 422 when the lifetime begins after ``last``; a lifetime without a first day (v4: the
    system never produced) has no values.
    """
    origin = _date(body.get("start_date"))
    if origin is None:
        if any(body.get(key) for key in series):
            raise missing("first day of the lifetime series (start_date)")
        return (first.isoformat() if first else None), {k: [] for k in series if k in body}
    begin = max(first, origin) if first else origin
    if last < begin:
        raise unprocessable(INVALID_RANGE)
    skip, stop = (begin - origin).days, (last - origin).days + 1
    values = {key: body[key][skip:stop] for key in series if key in body}
    return begin.isoformat(), values


def live_system(req: V2Request, system: dict[str, Any] | None, replies: Sequence[Any]) -> bool:
    """Whether ``meta`` comes from the system body: a lifetime reply without it (none: 204)."""
    return only_body(replies) is not None and lacks_body_meta(replies)


def lifetime_series(
    req: V2Request, system: dict[str, Any] | None, replies: Sequence[Any], series: Sequence[str]
) -> V2Response:
    """A v2 daily lifetime body with the ``series`` arrays, ending as v2's default end did."""
    body = only_body(replies)
    if body is None:
        return V2Response(None, 204)
    first, last = requested_days(req, system)
    start, arrays = cut(body, first, last, series)
    meta = v2_meta(body.get("meta"), system)
    days = _reported_days(req, system, start, meta["last_report_at"])
    out: dict[str, Any] = {"system_id": system_id(req), "start_date": start}
    out.update({key: values[:days] for key, values in arrays.items()})
    if body.get("meter_start_date") is not None:
        out["meter_start_date"] = body["meter_start_date"]
    out["meta"] = meta
    return respond(req, system, out)


def _reported_days(
    req: V2Request, system: dict[str, Any] | None, start: Any, last_report_at: Any
) -> int | None:
    """How many days v2's default end (last reported day, if before yesterday) keeps."""
    last = local_time(last_report_at, zone(system))
    first = _date(start)
    if req.get("end_date") not in (None, "") or last is None or first is None:
        return None
    return max(0, (last.date() - first).days + 1)
