"""v2 ``systems/{id}/monthly_production`` (retired in v4) from v4 ``energy_lifetime`` and
``production_meter_readings``, for legacy clients configured with ``emulate_retired = true``.

The period runs from start_date to the day before the same day next month, as v2's did; it
must have begun after 1970 and ended (a v2 422 otherwise). production_wh is the sum of v4's
daily production, cut out of the system's whole lifetime (``mappings.lifetime``; a month before
it is v4's 422); meter_readings are each production meter's readings at the period's first and
last local midnight.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from mappings import lifetime
from mappings.base import Endpoint, V2Request, V2Response, V4Call
from mappings.common import date_param, day_start, system_id, zone
from mappings.errors import unprocessable
from mappings.passthrough import lacks_body_meta, only_body, query, respond, v2_meta
from mappings.production_meter_readings import readings
from mappings.schema import DATE, INTEGER, META, STRING, array, obj, param
from mappings.shaping import required
from mappings.telemetry import local_shift

ROUTE = "/api/v2/systems/{system_id}/monthly_production"


def needs_system(req: V2Request) -> bool:
    """Always: the system zone says when the period's days start."""
    return True


def period(req: V2Request, system: dict[str, Any] | None) -> tuple[dt.date, dt.date]:
    """(first, last) day of the month from start_date; v2 422 when absent or not yet over."""
    first = date_param(req, "start_date")
    if first is None:
        raise unprocessable("start_date is required")
    tz = zone(system)
    if day_start(first, tz) < 0:  # no system reported before 1970; v4 takes no negative epoch
        raise unprocessable(
            "Requested date range is invalid for this system: start_date is before 1970",
            start=first.isoformat(),
        )
    after = dt.datetime.fromtimestamp(local_shift(day_start(first, tz), tz, months=1), tz).date()
    today = dt.datetime.fromtimestamp(req.now, tz).date()
    if after > today:
        raise unprocessable(
            "Requested date range is invalid for this system: the month has not ended",
            start=first.isoformat(),
        )
    return first, after - dt.timedelta(days=1)


def plan(req: V2Request, system: dict[str, Any] | None) -> list[V4Call]:
    """The system's daily production (the whole lifetime), and the month's two meter readings."""
    sid, tz = system_id(req), zone(system)
    first, last = period(req, system)
    readings = f"/systems/{sid}/production_meter_readings"
    return [
        lifetime.call(req, system, "energy_lifetime", last),
        V4Call(readings, query(end_at=day_start(first, tz))),
        V4Call(readings, query(end_at=day_start(last + dt.timedelta(days=1), tz))),
    ]


def _values(body: Any) -> dict[str, int]:
    return {reading["serial_number"]: reading["value"] for reading in readings(body)}


def live_system(req: V2Request, system: dict[str, Any] | None, replies: list[Any]) -> bool:
    """Whether ``meta`` comes from the system body: a lifetime reply without it."""
    return lacks_body_meta(replies[:1])


def shape(req: V2Request, system: dict[str, Any] | None, replies: list[Any]) -> V2Response:
    """v2's monthly production body."""
    first, last = period(req, system)
    series = only_body(replies[:1]) or {}
    _, days = lifetime.cut(series, first, last, ("production",))
    start, end = _values(replies[1]), _values(replies[2])
    body = {
        "system_id": system_id(req),
        "start_date": first.isoformat(),
        "end_date": last.isoformat(),
        "production_wh": sum(required(days, "production")),
        "meter_readings": [
            {"serial_number": serial, "start": start[serial], "end": end[serial]}
            for serial in start
            if serial in end
        ],
        "meta": v2_meta(series.get("meta"), system),
    }
    return respond(req, system, body)


RESPONSE = obj(
    {
        "system_id": INTEGER,
        "start_date": DATE,
        "end_date": DATE,
        "production_wh": INTEGER,
        "meter_readings": array(
            obj(
                {"serial_number": STRING, "start": INTEGER, "end": INTEGER},
                ("serial_number", "start", "end"),
                exact=True,
            )
        ),
        "meta": META,
    },
    ("system_id", "start_date", "end_date", "production_wh", "meter_readings", "meta"),
    exact=True,
)
ENDPOINT = Endpoint(
    ROUTE,
    plan,
    shape,
    "MonthlyProduction",
    "A month's production, from v4 energy_lifetime and meter readings (emulate_retired only).",
    RESPONSE,
    parameters=("SystemId", param("start_date", DATE, "First day of the month.", required=True)),
    needs_system=needs_system,
    live_system=live_system,
)
