"""v2 ``systems/{id}/production_meter_readings`` from v4's endpoint of the same name."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mappings.base import Endpoint, V2Request, V2Response, V4Call
from mappings.common import epoch_param, system_id, wants_iso8601
from mappings.passthrough import lacks_body_meta, only_body, query, respond, v2_meta
from mappings.schema import EPOCH, INTEGER, META, STRING, array, obj
from mappings.shaping import records, whole

ROUTE = "/api/v2/systems/{system_id}/production_meter_readings"
needs_system = wants_iso8601


def plan(req: V2Request, system: dict[str, Any] | None) -> list[V4Call]:
    """One v4 ``production_meter_readings`` call, passing ``end_at`` when given."""
    params = query(end_at=epoch_param(req, "end_at"))
    return [V4Call(f"/systems/{system_id(req)}/production_meter_readings", params)]


def live_system(req: V2Request, system: dict[str, Any] | None, replies: Sequence[Any]) -> bool:
    """Whether ``meta`` comes from the system body: a reply without it."""
    return lacks_body_meta(replies)


def shape(req: V2Request, system: dict[str, Any] | None, replies: Sequence[Any]) -> V2Response:
    """v2's meter readings body: ``serial_number``, ``value``, ``read_at`` per meter."""
    body = only_body(replies) or {}
    readings = [
        {
            "serial_number": serial,
            "value": whole(reading.get("value")),
            "read_at": reading["read_at"],
        }
        for reading in records(body, "meter_readings")
        # A reading names its meter and its time; v4's older name for the serial is serial_num.
        if isinstance(serial := reading.get("serial_number", reading.get("serial_num")), str)
        and type(reading.get("read_at")) is int
    ]
    out = {
        "system_id": system_id(req),
        "meter_readings": readings,
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
    live_system=live_system,
)
