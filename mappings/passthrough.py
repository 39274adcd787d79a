"""Shared logic of the v2 endpoints that v4 serves from the same path with small differences."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from mappings.base import V2Request, V2Response
from mappings.common import (
    date_param,
    local_time,
    render_datetimes,
    system_id,
    wants_iso8601,
    zone,
)
from mappings.errors import unprocessable
from mappings.status import v2_status

META_TIMES = ("last_report_at", "last_energy_at", "operational_at")

Params = tuple[tuple[str, str], ...]


def query(**values: object) -> Params:
    """v4 query pairs for the values that are not None, in keyword order."""
    return tuple((k, str(v)) for k, v in values.items() if v is not None)


def v2_meta(meta: Any, system: dict[str, Any] | None = None) -> dict[str, Any]:
    """v2's ``meta`` object from a v4 ``meta`` (falling back to the v4 system body)."""
    source = meta if isinstance(meta, dict) else {}
    fallback = system if isinstance(system, dict) else {}
    out: dict[str, Any] = {"status": v2_status(source.get("status") or fallback.get("status"))}
    for key in META_TIMES:
        value = _epoch(source.get(key))
        out[key] = value if value is not None else _epoch(fallback.get(key))
    return out


def _epoch(value: Any) -> int | None:
    return value if type(value) is int else None


def respond(req: V2Request, system: dict[str, Any] | None, body: Any) -> V2Response:
    """A 200 answer, with ``*_at`` fields in the system's zone when iso8601 was asked for."""
    if wants_iso8601(req):
        body = render_datetimes(body, zone(system))
    return V2Response(body)


def only_body(replies: Sequence[Any]) -> dict[str, Any] | None:
    """The single reply body when it is a JSON object, else None (v4 answered 204)."""
    body = replies[0] if replies else None
    return body if isinstance(body, dict) and body else None


def needs_system_for_dates(req: V2Request) -> bool:
    """Whether a lifetime series needs the system (its zone for default end or iso8601)."""
    return req.get("end_date") in (None, "") or wants_iso8601(req)


def date_range(req: V2Request) -> Params:
    """The validated ``start_date``/``end_date`` pairs to pass on; v2 422 when reversed."""
    start, end = date_param(req, "start_date"), date_param(req, "end_date")
    if start and end and start > end:
        raise unprocessable(
            "start_date must not be after end_date", start=start.isoformat(), end=end.isoformat()
        )
    return query(
        start_date=start.isoformat() if start else None,
        end_date=end.isoformat() if end else None,
    )


def lifetime_series(
    req: V2Request, system: dict[str, Any] | None, replies: Sequence[Any], series: Sequence[str]
) -> V2Response:
    """A v2 daily lifetime body with the ``series`` arrays, ending as v2's default end did."""
    body = only_body(replies)
    if body is None:
        return V2Response(None, 204)
    meta = v2_meta(body.get("meta"), system)
    arrays = {key: list(body.get(key) or []) for key in series}
    days = _reported_days(req, system, body.get("start_date"), meta["last_report_at"])
    out: dict[str, Any] = {
        "system_id": system_id(req),
        "start_date": body.get("start_date"),
    }
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
    if req.get("end_date") not in (None, "") or last is None:
        return None
    try:
        first = dt.date.fromisoformat(str(start))
    except ValueError:
        return None
    return max(0, (last.date() - first).days + 1)
