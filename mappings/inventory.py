"""v2 ``systems/{id}/inventory`` from v4 ``devices``, with ``meta`` from the v4 system body.

v4 lists gateways, micros and meters (plus batteries and relays, which v2 never listed).
v4 has no meter ``manufacturer``: its meters are the gateway's integrated meters, made by
Enphase, so that is what v2 clients are told unless v4 names one.
"""

from __future__ import annotations

from typing import Any

from mappings.base import Endpoint, V2Request, V2Response, V4Call, always_live
from mappings.common import system_id
from mappings.passthrough import respond, v2_meta
from mappings.schema import INTEGER, META, STRING, array, nullable, obj
from mappings.shaping import records, required

METER_MANUFACTURER = "Enphase"


def needs_system(req: V2Request) -> bool:
    """Always: v2's inventory carries the system ``meta``."""
    return True


def plan(req: V2Request, system: dict[str, Any] | None) -> list[V4Call]:
    """The one v4 devices call."""
    return [V4Call(f"/systems/{system_id(req)}/devices")]


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _unit(device: dict[str, Any]) -> dict[str, Any]:
    return {
        "sn": required(device, "serial_number"),
        "model": device.get("model"),
        "sku": device.get("sku"),
    }


def _meter(device: dict[str, Any]) -> dict[str, Any]:
    return {
        "sn": required(device, "serial_number"),
        # the v4 spec names no manufacturer: its meters are Enphase's
        "manufacturer": _text(device.get("manufacturer")) or METER_MANUFACTURER,
        "model": device.get("model"),
        "status": device.get("status"),
        "state": device.get("state"),
    }


def shape(req: V2Request, system: dict[str, Any] | None, replies: list[Any]) -> V2Response:
    """``{system_id, envoys, inverters, meters, meta}`` from v4 gateways, micros and meters."""
    devices = required(replies[0], "devices")
    body = {
        "system_id": system_id(req),
        "envoys": [_unit(device) for device in records(devices, "gateways")],
        "inverters": [_unit(device) for device in records(devices, "micros")],
        "meters": [_meter(device) for device in records(devices, "meters")],
        "meta": v2_meta(None, system),
    }
    return respond(req, system, body)


DEVICE = obj(
    {"sn": STRING, "model": nullable(STRING), "sku": nullable(STRING)},
    ("sn", "model", "sku"),
)
RESPONSE = obj(
    {
        "system_id": INTEGER,
        "envoys": array(DEVICE, "Active Envoys (IQ Gateways)."),
        "inverters": array(DEVICE, "Active microinverters."),
        "meters": array(
            obj(
                {
                    "sn": STRING,
                    "manufacturer": STRING,
                    "model": nullable(STRING),
                    "status": nullable(STRING),
                    "state": nullable(STRING),
                },
                ("sn", "manufacturer", "model"),
            ),
            "Active meters.",
        ),
        "meta": META,
    },
    ("system_id", "inverters", "meters", "meta"),
)
ENDPOINT = Endpoint(
    "/api/v2/systems/{system_id}/inventory",
    plan,
    shape,
    "Inventory",
    "Active Envoys, microinverters and meters of the system.",
    RESPONSE,
    parameters=("SystemId",),
    needs_system=needs_system,
    live_system=always_live,  # v4 devices carry no meta
)
