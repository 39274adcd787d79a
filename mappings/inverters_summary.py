"""v2 ``systems/inverters_summary_by_envoy_or_site`` from v4's endpoint of the same name."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from mappings.base import Endpoint, V2Request, V2Response, V4Call
from mappings.common import is_id, wants_iso8601
from mappings.errors import unprocessable
from mappings.passthrough import query
from mappings.schema import INTEGER, NULLABLE_EPOCH, STRING, array, nullable, obj, param

ROUTE = "/api/v2/systems/inverters_summary_by_envoy_or_site"
PATH = "/systems/inverters_summary_by_envoy_or_site"
V2_MICRO_STATUSES = frozenset({"normal", "power", "micro", "retired"})
TEXTS = (
    "model",
    "part_number",
    "serial_number",
    "sku",
    "proc_load",
    "param_table",
    "envoy_serial_number",
    "grid_profile",
)
MICRO_STATUS = {"comm": "micro", "error": "power", "warning": "power", "deactivated": "retired"}


def plan(req: V2Request, system: dict[str, Any] | None) -> list[V4Call]:
    """One v4 call for ``site_id`` (or ``envoy_serial_number``); v2 422 when neither is valid."""
    site = req.get("site_id") or None
    envoy = req.get("envoy_serial_number") or req.get("envoy_serial_no") or None
    if site is None and envoy is None:
        raise unprocessable("Envoy serial number or Site ID mandatory")
    if site is not None and not is_id(site):
        raise unprocessable(f"Couldn't find Site with 'id'={site[:40]}")
    return [V4Call(PATH, query(site_id=site, envoy_serial_number=envoy))]


def shape(req: V2Request, system: dict[str, Any] | None, replies: Sequence[Any]) -> V2Response:
    """v2's list of envoys with their microinverters, report dates as epochs; v2 fields only."""
    body = replies[0] if replies else None
    envoys = body if isinstance(body, list) else []
    iso = wants_iso8601(req)
    return V2Response(
        [
            {
                "signal_strength": _int(envoy.get("signal_strength")),
                "micro_inverters": [
                    _micro(micro, iso)
                    for micro in _list(envoy.get("micro_inverters"))
                    if isinstance(micro, dict)
                ],
            }
            for envoy in envoys
            if isinstance(envoy, dict)
        ]
    )


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _micro(micro: dict[str, Any], iso: bool) -> dict[str, Any]:
    status = str(micro.get("status"))
    ident = micro.get("id")
    return {
        "id": ident if type(ident) is int else None,
        **{name: _text(micro.get(name)) for name in TEXTS},
        "status": status if status in V2_MICRO_STATUSES else MICRO_STATUS.get(status, "normal"),
        "power_produced": _quantity(micro.get("power_produced"), "W"),
        "energy": _quantity(micro.get("energy"), "Wh"),
        "last_report_date": _report_date(micro.get("last_report_date"), iso),
    }


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _quantity(value: Any, units: str) -> dict[str, Any]:
    """v2's ``{value, units, precision}`` from a v4 object or a bare number."""
    if isinstance(value, dict):
        given = value.get("units")
        return {
            "value": _int(value.get("value")),
            "units": given if isinstance(given, str) and given else units,
            "precision": _int(value.get("precision")),
        }
    return {"value": _int(value), "units": units, "precision": 0}


def _int(value: Any) -> int:
    try:
        return round(float(value))
    except (TypeError, ValueError, OverflowError):
        return 0


def _report_date(value: Any, iso: bool) -> int | str | None:
    """An epoch from v4's ISO 8601 report date (kept as v4's ISO text when iso8601 is asked)."""
    if type(value) is int:
        return value
    if not isinstance(value, str):
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.isoformat() if iso else int(parsed.timestamp())


QUANTITY = obj(
    {"value": INTEGER, "units": STRING, "precision": INTEGER},
    ("value", "units", "precision"),
)
RESPONSE = array(
    obj(
        {
            "signal_strength": INTEGER,
            "micro_inverters": array(
                obj(
                    {
                        "id": nullable(INTEGER),
                        "model": nullable(STRING),
                        "part_number": nullable(STRING),
                        "serial_number": nullable(STRING),
                        "sku": nullable(STRING),
                        "status": {
                            "type": "string",
                            "enum": ["normal", "power", "micro", "retired"],
                        },
                        "power_produced": QUANTITY,
                        "proc_load": nullable(STRING),
                        "param_table": nullable(STRING),
                        "envoy_serial_number": nullable(STRING),
                        "energy": QUANTITY,
                        "grid_profile": nullable(STRING),
                        "last_report_date": NULLABLE_EPOCH,
                    },
                    (
                        "id",
                        "model",
                        "part_number",
                        "serial_number",
                        "sku",
                        "status",
                        "power_produced",
                        "proc_load",
                        "param_table",
                        "envoy_serial_number",
                        "energy",
                        "grid_profile",
                        "last_report_date",
                    ),
                )
            ),
        },
        ("signal_strength", "micro_inverters"),
    )
)
ENDPOINT = Endpoint(
    ROUTE,
    plan,
    shape,
    "InvertersSummaryByEnvoyOrSite",
    "Microinverters of a site or Envoy with their power and lifetime energy.",
    RESPONSE,
    parameters=(
        param("site_id", INTEGER, "The system id (or give envoy_serial_number)."),
        param("envoy_serial_number", STRING, "An Envoy serial number (or give site_id)."),
    ),
)
