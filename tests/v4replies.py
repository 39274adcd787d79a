"""v4 reply bodies shaped as the v4 monitoring spec documents them, and v2 requests, for tests."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from mappings.base import V2Request, V4Call
from tests.v2schema import validate

GRANULARITY = {"15mins": 15 * 60, "day": 86400, "week": 7 * 86400}
SYSTEM_ID = 42


def at(text: str, zone: str) -> int:
    """The epoch of local wall time ``text`` (``YYYY-MM-DDTHH:MM``) in ``zone``."""
    return int(dt.datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone)).timestamp())


def request(now: int, system_id: str = str(SYSTEM_ID), **query: str) -> V2Request:
    """A v2 request for ``system_id`` with ``query`` parameters at ``now``."""
    return V2Request({"system_id": system_id}, tuple(query.items()), now)


def meta(status: str = "normal", last_report_at: int = 1_830_297_600) -> dict[str, Any]:
    """A v4 ``meta`` object; by default the system last reported after every test's now."""
    return {
        "status": status,
        "last_report_at": last_report_at,
        "last_energy_at": last_report_at - 600,
        "operational_at": 1_357_023_600,
    }


def system(timezone: str = "America/Los_Angeles", status: str = "normal") -> dict[str, Any]:
    """A v4 ``/systems/{id}`` body."""
    return {
        "system_id": SYSTEM_ID,
        "name": "Sample Residence",
        "public_name": "Residential System",
        "timezone": timezone,
        "address": {"city": "Sebastopol", "state": "CA", "country": "US", "postal_code": "95472"},
        "connection_type": "ethernet",
        "status": status,
        **meta(status),
    }


def telemetry(
    call: V4Call, now: int, step: int, fields: tuple[str, ...], devices: int = 3
) -> dict[str, Any]:
    """v4 telemetry's answer to ``call``: an interval per ``step`` up to start + granularity."""
    params = dict(call.params)
    start = int(params["start_at"])
    end = min(now, start + GRANULARITY[params.get("granularity", "day")])
    return {
        "system_id": SYSTEM_ID,
        "granularity": params.get("granularity", "day"),
        "total_devices": devices,
        "start_at": start,
        "end_at": end,
        "items": "intervals",
        "intervals": [
            {"end_at": t, "devices_reporting": devices} | {f: value(t) for f in fields}
            for t in range(start + step, end + 1, step)
        ],
        "meta": meta(),
    }


def value(end_at: int) -> int:
    """The Wh or W the fake upstream reports for the interval ending at ``end_at``."""
    return end_at // 300 % 97


def shaped(
    mapping: Any,
    route: str,
    now: int,
    tz: str,
    step: int,
    fields: tuple[str, ...],
    devices: int = 3,
    **query: str,
) -> tuple[list[V4Call], dict[str, Any]]:
    """Plan, answer each call as v4 would, shape; the body is checked against the v2 schema."""
    req, sys = request(now, **query), system(tz)
    calls = mapping.plan(req, sys)
    replies = [telemetry(call, now, step, fields, devices) for call in calls]
    response = mapping.shape(req, sys, replies)
    assert response.status == 200
    validate(route, 200, response.body)
    return calls, response.body


def ends(body: dict[str, Any]) -> list[int]:
    """The end_at of every interval in a v2 body."""
    return [interval["end_at"] for interval in body["intervals"]]
