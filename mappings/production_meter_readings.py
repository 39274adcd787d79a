"""v2 ``systems/{id}/production_meter_readings`` from v4's endpoint of the same name.

v4 answers the last reading of each meter at or before ``end_at`` (now by default). An
``end_at`` within ``RECENT`` of now asks, in effect, for the latest readings: it is planned
without ``end_at``, so pollers sending ``end_at = now`` share the one live reply of the
endpoint (a distinct ``end_at`` per request would be an upstream call per request). Should
that reply hold a reading taken after ``end_at``, the exact call follows, so no reading is ever
later than ``end_at``, as v4 guarantees.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mappings.base import Endpoint, V2Request, V2Response, V4Call
from mappings.common import epoch_param, system_id, wants_iso8601
from mappings.passthrough import lacks_body_meta, only_body, query, respond, v2_meta
from mappings.schema import EPOCH, INTEGER, META, STRING, array, obj
from mappings.shaping import records, required

ROUTE = "/api/v2/systems/{system_id}/production_meter_readings"
needs_system = wants_iso8601


RECENT = 15 * 60  # seconds: how often v4 meters report a reading


def _call(req: V2Request, end_at: int | None) -> V4Call:
    return V4Call(f"/systems/{system_id(req)}/production_meter_readings", query(end_at=end_at))


def _planned_end(req: V2Request) -> int | None:
    """The ``end_at`` the plan sends: none (the latest readings) when absent or recent."""
    end_at = epoch_param(req, "end_at")
    return None if end_at is None or end_at >= req.now - RECENT else end_at


def plan(req: V2Request, system: dict[str, Any] | None) -> list[V4Call]:
    """One v4 ``production_meter_readings`` call: the latest readings for a recent ``end_at``."""
    return [_call(req, _planned_end(req))]


def follow(req: V2Request, system: dict[str, Any] | None, replies: list[Any]) -> list[V4Call]:
    """The call for the exact ``end_at`` when the latest readings hold one taken after it."""
    end_at = epoch_param(req, "end_at")
    if end_at is None or _planned_end(req) is not None or len(replies) != 1:
        return []
    later = any(r["read_at"] > end_at for r in readings(only_body(replies)))
    return [_call(req, end_at)] if later else []


def readings(body: Any) -> list[dict[str, Any]]:
    """Each reading as ``{serial_number, value, read_at}`` (v4's older serial name: serial_num);
    v2 503 when v4 left one of them out."""
    return [_reading(reading) for reading in records(body, "meter_readings")]


def _reading(reading: dict[str, Any]) -> dict[str, Any]:
    serial = reading.get("serial_number", reading.get("serial_num"))
    return {
        "serial_number": required({"serial_number": serial}, "serial_number"),
        "value": required(reading, "value"),
        "read_at": required(reading, "read_at"),
    }


def live_system(req: V2Request, system: dict[str, Any] | None, replies: Sequence[Any]) -> bool:
    """Whether ``meta`` comes from the system body: a reply without it."""
    return lacks_body_meta(replies[-1:])


def shape(req: V2Request, system: dict[str, Any] | None, replies: Sequence[Any]) -> V2Response:
    """v2's meter readings body: ``serial_number``, ``value``, ``read_at`` per meter."""
    body = only_body(replies[-1:]) or {}  # the exact call's, when one followed
    out = {
        "system_id": system_id(req),
        "meter_readings": readings(body),
        "meta": v2_meta(body.get("meta"), system),
    }
    return respond(req, system, out)


RESPONSE = obj(
    {
        "system_id": INTEGER,
        "meter_readings": array(
            obj(
                {"serial_number": STRING, "value": INTEGER, "read_at": EPOCH},
                ("serial_number", "value", "read_at"),
            )
        ),
        "meta": META,
    },
    ("system_id", "meter_readings", "meta"),
)
ENDPOINT = Endpoint(
    ROUTE,
    plan,
    shape,
    "ProductionMeterReadings",
    "The last odometer reading of each production meter as of end_at.",
    RESPONSE,
    parameters=("SystemId", "EndAt"),
    needs_system=needs_system,
    follow=follow,
    live_system=live_system,
)
