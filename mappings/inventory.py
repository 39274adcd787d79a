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
from mappings.shaping import records

METER_MANUFACTURER = "Enphase"


def needs_system(req: V2Request) -> bool:
    """Always: v2's inventory carries the system ``meta``."""
    return True


def plan(req: V2Request, system: dict[str, Any] | None) -> list[V4Call]:
    """The one v4 devices call."""
    return [V4Call(f"/systems/{system_id(req)}/devices")]


def _text(device: dict[str, Any], name: str) -> str | None:
    value = device.get(name)
    return value if isinstance(value, str) else None


def _unit(device: dict[str, Any]) -> dict[str, Any]:
    return {
        "sn": device["serial_number"],
        "model": _text(device, "model"),
        "sku": _text(device, "sku"),
    }


def _meter(device: dict[str, Any]) -> dict[str, Any]:
    return {
        "sn": device["serial_number"],
        "manufacturer": _text(device, "manufacturer") or METER_MANUFACTURER,
        "model": _text(device, "model"),
        "status": _text(device, "status"),
        "state": _text(device, "state"),
    }


def _listed(devices: Any, kind: str) -> list[dict[str, Any]]:
    """The devices of ``kind`` with a serial number (v2 listed every device by it)."""
    return [d for d in records(devices, kind) if isinstance(d.get("serial_number"), str)]


def shape(req: V2Request, system: dict[str, Any] | None, replies: list[Any]) -> V2Response:
    """``{system_id, envoys, inverters, meters, meta}`` from v4 gateways, micros and meters."""
    devices = replies[0].get("devices") if isinstance(replies[0], dict) else None
    body = {
        "system_id": system_id(req),
        "envoys": [_unit(device) for device in _listed(devices, "gateways")],
        "inverters": [_unit(device) for device in _listed(devices, "micros")],
        "meters": [_meter(device) for device in _listed(devices, "meters")],
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
