"""v2 ``systems/{id}/envoys`` (retired in v4) from v4 ``devices`` gateways, for legacy clients
configured with ``emulate_retired = true``; the others get the 410 of ``mappings.deprecated``."""

from __future__ import annotations

from typing import Any

from mappings.base import Endpoint, V2Request, V2Response, V4Call
from mappings.common import system_id, wants_iso8601
from mappings.passthrough import respond
from mappings.schema import INTEGER, NULLABLE_EPOCH, STRING, array, nullable, obj
from mappings.shaping import records

ROUTE = "/api/v2/systems/{system_id}/envoys"


def plan(req: V2Request, system: dict[str, Any] | None) -> list[V4Call]:
    """The one v4 devices call."""
    return [V4Call(f"/systems/{system_id(req)}/devices")]


def _text(device: dict[str, Any], name: str) -> str | None:
    value = device.get(name)
    return value if isinstance(value, str) else None


def _envoy(gateway: dict[str, Any]) -> dict[str, Any]:
    reported = gateway.get("last_report_at")
    return {
        "envoy_id": gateway["id"],
        "last_report_at": reported if type(reported) is int else None,
        "name": _text(gateway, "name"),
        "part_number": _text(gateway, "part_number"),
        "serial_number": gateway["serial_number"],
        # v2 knew two states: communicating normally or not.
        "status": "normal" if gateway.get("status") == "normal" else "comm",
    }


def shape(req: V2Request, system: dict[str, Any] | None, replies: list[Any]) -> V2Response:
    """``{system_id, envoys}`` from the v4 gateways that have an id and a serial number."""
    devices = replies[0].get("devices") if isinstance(replies[0], dict) else None
    gateways = [
        g
        for g in records(devices, "gateways")
        if type(g.get("id")) is int and isinstance(g.get("serial_number"), str)
    ]
    body = {"system_id": system_id(req), "envoys": [_envoy(g) for g in gateways]}
    return respond(req, system, body)


RESPONSE = obj(
    {
        "system_id": INTEGER,
        "envoys": array(
            obj(
                {
                    "envoy_id": INTEGER,
                    "last_report_at": NULLABLE_EPOCH,
                    "name": nullable(STRING),
                    "part_number": nullable(STRING),
                    "serial_number": STRING,
                    "status": {"type": "string", "enum": ["normal", "comm"]},
                },
                ("envoy_id", "last_report_at", "name", "part_number", "serial_number", "status"),
                exact=True,
            )
        ),
    },
    ("system_id", "envoys"),
    exact=True,
)
ENDPOINT = Endpoint(
    ROUTE,
    plan,
    shape,
    "Envoys",
    "The system's Envoys (IQ Gateways), from v4 devices (emulate_retired clients only).",
    RESPONSE,
    parameters=("SystemId",),
    needs_system=wants_iso8601,
)
