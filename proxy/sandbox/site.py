"""Site-level endpoints beyond production: grid and battery series, latest telemetry, settings.

The numbers come from the same simulated days as production, consumption and the battery
(``data``), so a day's import minus export equals its consumption minus production, plus what
the battery charged, minus what it discharged.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from starlette.requests import Request

from . import data
from .bodies import meta, reported_until
from .errors import not_found
from .gate import Caller
from .localtime import days, local_date
from .systems import System
from .window import lifetime_range

Series = Callable[[System, date], tuple[int, ...]]


def _lifetime(
    series: Series, names: tuple[str, ...], present: Callable[[System], bool]
) -> Callable[[Request, Caller], dict[str, Any]]:
    """A lifetime handler: one daily array per name (empty when the system lacks the device)."""

    def handler(request: Request, caller: Caller) -> dict[str, Any]:
        system = caller.system(request.path_params["system_id"])
        first, last = lifetime_range(system, request.query_params, caller.now)
        covered = days(first, last) if present(system) else []
        daily = [series(system, day) for day in covered]
        arrays = {name: [values[i] for values in daily] for i, name in enumerate(names)}
        body: dict[str, Any] = {"system_id": system.system_id, "start_date": first.isoformat()}
        return body | arrays | {"meta": meta(system, caller.now)}

    return handler


def _has_battery(system: System) -> bool:
    return data.battery_capacity(system) > 0


def _has_consumption_meter(system: System) -> bool:
    return bool(system.consumption_meters)


battery_lifetime = _lifetime(data.day_battery, ("charge", "discharge"), _has_battery)
energy_import_lifetime = _lifetime(
    lambda s, d: data.day_grid(s, d)[:1], ("import",), _has_consumption_meter
)
energy_export_lifetime = _lifetime(
    lambda s, d: data.day_grid(s, d)[1:], ("export",), _has_consumption_meter
)


def latest_telemetry(request: Request, caller: Caller) -> dict[str, Any]:
    """GET /systems/{id}/latest_telemetry: each device's last reported interval."""
    system = caller.system(request.path_params["system_id"])
    until = reported_until(system, caller.now)
    day = local_date(system.timezone, until - 1)
    last = next(
        (r for r in reversed(data.production_micro_day(system, day)) if r["end_at"] <= until), None
    )
    power = last["powr"] if last else 0
    share = power // max(1, len(system.micros))
    devices: dict[str, list[dict[str, Any]]] = {
        "micros": [
            {"serial_number": serial, "last_report_at": until, "power": share}
            for serial in system.micros
        ],
    }
    if _has_battery(system):
        soc = data.battery_soc(system, until)
        devices["encharges"] = [
            {"serial_number": serial, "last_report_at": until, "soc": soc}
            for serial in system.encharges + system.acbs
        ]
    return {"system_id": system.system_id, "last_report_at": until, "devices": devices}


def _battery_system(request: Request, caller: Caller) -> System:
    system = caller.system(request.path_params["system_id"])
    if not _has_battery(system):
        raise not_found("Battery", system_id=system.system_id)
    return system


def battery_settings(request: Request, caller: Caller) -> dict[str, Any]:
    """GET /systems/config/{id}/battery_settings."""
    system = _battery_system(request, caller)
    return {
        "system_id": system.system_id,
        "battery_mode": "Self - Consumption",
        "reserve_soc": 10,
        "energy_independence": "enabled",
        "charge_from_grid": "disabled",
        "battery_shutdown_level": 10,
    }


def storm_guard(request: Request, caller: Caller) -> dict[str, Any]:
    """GET /systems/config/{id}/storm_guard."""
    system = _battery_system(request, caller)
    return {"system_id": system.system_id, "storm_guard_status": "enabled", "storm_alert": False}


def grid_status(request: Request, caller: Caller) -> dict[str, Any]:
    """GET /systems/config/{id}/grid_status."""
    system = _battery_system(request, caller)
    until = reported_until(system, caller.now)
    return {"system_id": system.system_id, "grid_state": "On Grid", "last_report_date": until}


def load_control(request: Request, caller: Caller) -> dict[str, Any]:
    """GET /systems/config/{id}/load_control: the system has no controlled loads."""
    system = _battery_system(request, caller)
    return {"system_id": system.system_id, "load_control_data": []}


#: The handlers of this module by endpoint name in ``proxy.v4.paths``.
HANDLERS: dict[str, Callable[[Request, Caller], dict[str, Any]]] = {
    "battery_lifetime": battery_lifetime,
    "energy_import_lifetime": energy_import_lifetime,
    "energy_export_lifetime": energy_export_lifetime,
    "latest_telemetry": latest_telemetry,
    "battery_settings": battery_settings,
    "storm_guard": storm_guard,
    "grid_status": grid_status,
    "load_control": load_control,
}
