"""v2 ``systems/inverters_summary_by_envoy_or_site`` from v4's endpoint of the same name."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from mappings.base import Endpoint, V2Request, V2Response, V4Call
from mappings.common import is_id, wants_iso8601
from mappings.errors import unprocessable
from mappings.passthrough import query
from mappings.schema import INTEGER, JSON, NULLABLE_EPOCH, STRING, array, nullable, obj, param
from mappings.shaping import missing, records, required

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
#: v4 microinverter statuses beyond v2's, and the v2 status each becomes.
MICRO_STATUS = {"comm": "micro", "error": "power", "warning": "power", "deactivated": "retired"}
#: v2's enums of units; a bare v4 number is in the first.
POWER_UNITS = ("W",)
ENERGY_UNITS = ("Wh", "kJ")


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
    iso = wants_iso8601(req)
    return V2Response(
        [
            {
                "signal_strength": required(envoy, "signal_strength"),
                "micro_inverters": [
                    _micro(micro, iso) for micro in records(envoy, "micro_inverters")
                ],
            }
            for envoy in replies[0]
        ]
    )


def _micro(micro: dict[str, Any], iso: bool) -> dict[str, Any]:
    status = required(micro, "status")
    if status not in V2_MICRO_STATUSES and status not in MICRO_STATUS:
        raise missing(f"microinverter status v2 knows (Enphase sent {status[:20]!r})")
    return {
        "id": micro.get("id"),
        **{name: micro.get(name) for name in TEXTS},
        "status": MICRO_STATUS.get(status, status),
        "power_produced": _quantity(required(micro, "power_produced"), POWER_UNITS),
        "energy": _quantity(required(micro, "energy"), ENERGY_UNITS),
        "last_report_date": _report_date(micro.get("last_report_date"), iso),
    }


def _quantity(value: dict[str, Any] | int, units: tuple[str, ...]) -> dict[str, Any]:
    """v2's ``{value, units, precision}`` from v4's, or from a bare number in v2's first unit;
    v2 503 for a unit v2 does not have. A value without a precision is a whole number: 0."""
    if isinstance(value, int):
        return {"value": value, "units": units[0], "precision": 0}
    unit = required(value, "units")
    if unit not in units:
        raise missing(f"{'/'.join(units)} value v2 knows (Enphase sent {unit[:20]!r})")
    return {
        "value": required(value, "value"),
        "units": unit,
        "precision": value.get("precision", 0),
    }


def _report_date(value: str | None, iso: bool) -> int | str | None:
    """An epoch from v4's ISO 8601 report date (kept as v4's ISO text when iso8601 is asked);
    null when v4 sent none, as v2's was for a device that never reported."""
    if value is None:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise missing(f"microinverter report date (Enphase sent {value[:40]!r})") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.isoformat() if iso else int(parsed.timestamp())


def quantity(units: tuple[str, ...]) -> JSON:
    """The v2 schema of a ``{value, units, precision}`` in ``units``."""
    unit = {"type": "string", "enum": list(units)}
    return obj(
        {"value": INTEGER, "units": unit, "precision": INTEGER}, ("value", "units", "precision")
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
                        "power_produced": quantity(POWER_UNITS),
                        "proc_load": nullable(STRING),
                        "param_table": nullable(STRING),
                        "envoy_serial_number": nullable(STRING),
                        "energy": quantity(ENERGY_UNITS),
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
