"""Interval endpoints: system and device telemetry, rgm_stats, lifetime series, meter readings."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from operator import attrgetter
from typing import Any

from starlette.requests import Request

from . import data
from .bodies import REPORT_LAG, meta, reported_until
from .errors import not_found
from .gate import Caller
from .localtime import days, floor, local_date
from .systems import System
from .window import (
    WEEK,
    TelemetryWindow,
    granularity_span,
    lifetime_range,
    parse_epoch,
    telemetry_window,
)


def _aggregate_soc(system: System, until: int) -> dict[str, Any]:
    return {"last_reported_aggregate_soc": f"{data.battery_soc(system, until)}%"}


def _device_soc(system: System, until: int) -> dict[str, Any]:
    return {
        "last_reported_time": until + REPORT_LAG,
        "last_reported_soc": f"{data.battery_soc(system, until)}%",
    }


@dataclass(frozen=True)
class Kind:
    """One telemetry endpoint: interval length, its devices, the day's rows, extra fields."""

    step: int
    serials: Callable[[System], tuple[str, ...]]
    rows: Callable[..., list[dict[str, Any]]]
    meta: bool = False
    extra: Callable[[System, int], dict[str, Any]] | None = None


#: Telemetry kinds by the name of their endpoint in ``proxy.v4.paths``.
KINDS = {
    "production_micro": Kind(
        data.MICRO_STEP, attrgetter("micros"), data.production_micro_day, meta=True
    ),
    "production_meter": Kind(
        data.METER_STEP, attrgetter("production_meters"), data.production_meter_day
    ),
    "consumption_meter": Kind(
        data.METER_STEP, attrgetter("consumption_meters"), data.consumption_meter_day, meta=True
    ),
    "battery": Kind(
        data.METER_STEP,
        lambda s: s.encharges + s.acbs,
        data.battery_day,
        extra=_aggregate_soc,
    ),
    "micro_telemetry": Kind(data.MICRO_STEP, attrgetter("micros"), data.micro_device_day),
    "acb_telemetry": Kind(
        data.METER_STEP, attrgetter("acbs"), data.battery_device_day, extra=_device_soc
    ),
    "encharge_telemetry": Kind(
        data.METER_STEP, attrgetter("encharges"), data.battery_device_day, extra=_device_soc
    ),
    "energy_import_telemetry": Kind(
        data.METER_STEP, attrgetter("consumption_meters"), data.import_day, meta=True
    ),
    "energy_export_telemetry": Kind(
        data.METER_STEP, attrgetter("consumption_meters"), data.export_day, meta=True
    ),
}


def _rows(
    system: System,
    window: TelemetryWindow,
    until: int,
    rows: Callable[..., list[dict[str, Any]]],
    *args: str,
) -> list[dict[str, Any]]:
    """The rows of every local day in the window whose end_at is in (start, min(end, until)]."""
    tz, last = system.timezone, min(window.end, until)
    covered = days(local_date(tz, window.start), local_date(tz, window.end - 1))
    return [
        r for d in covered for r in rows(system, d, *args) if window.start < r["end_at"] <= last
    ]


def telemetry(kind: Kind) -> Callable[[Request, Caller], dict[str, Any]]:
    """The handler of one system (.../telemetry/...) or device (.../{serial_no}/telemetry) kind."""

    def handler(request: Request, caller: Caller) -> dict[str, Any]:
        return _telemetry(request, caller, kind)

    return handler


def _telemetry(request: Request, caller: Caller, kind: Kind) -> dict[str, Any]:
    serial = request.path_params.get("serial_no")
    system = caller.system(request.path_params["system_id"])
    serials = kind.serials(system)
    if serial is not None and serial not in serials:
        raise not_found("Device", serial_no=serial)
    granularity, span = granularity_span(request.query_params)
    until = reported_until(system, caller.now)
    window = telemetry_window(system, request.query_params, caller.now, kind.step, span, until)
    args = () if serial is None else (serial,)
    body: dict[str, Any] = {"system_id": system.system_id}
    if serial is not None:
        body["serial_number"] = serial
    body |= {
        "granularity": granularity,
        "total_devices": len(serials) if serial is None else 1,
        **window.fields(system),
        "items": "intervals",
        "intervals": _rows(system, window, until, kind.rows, *args) if serials else [],
    }
    if kind.meta:
        body["meta"] = meta(system, caller.now)
    if kind.extra and serials:
        body |= kind.extra(system, until)
    return body


def rgm_stats(request: Request, caller: Caller) -> dict[str, Any]:
    """GET /systems/{id}/rgm_stats: production meter intervals, at most one week."""
    system = caller.system(request.path_params["system_id"])
    until = reported_until(system, caller.now)
    window = telemetry_window(
        system, request.query_params, caller.now, data.METER_STEP, WEEK, until
    )
    meters = system.production_meters
    rows = _rows(system, window, until, data.production_meter_day) if meters else []
    return {
        "system_id": system.system_id,
        "total_devices": len(meters),
        "meta": meta(system, caller.now),
        "intervals": [
            {"end_at": r["end_at"], "devices_reporting": len(meters), "wh_del": r["wh_del"]}
            for r in rows
        ],
        "meter_intervals": [
            {
                "meter_serial_number": serial,
                "envoy_serial_number": system.gateway,
                "intervals": [
                    {
                        "channel": 1,
                        "end_at": r["end_at"],
                        "wh_del": float(r["wh_del"]),
                        "curr_w": r["wh_del"] * 4,
                    }
                    for r in rows
                ],
            }
            for serial in meters
        ],
    }


def energy_lifetime(request: Request, caller: Caller) -> dict[str, Any]:
    """GET /systems/{id}/energy_lifetime: daily production, merged from micros and meter."""
    system = caller.system(request.path_params["system_id"])
    first, last = lifetime_range(system, request.query_params, caller.now)
    covered = days(first, last)
    micro = [data.day_energy(system, d, data.MICRO) for d in covered]
    meter = [data.day_energy(system, d, data.METER) if system.meters else 0 for d in covered]
    body: dict[str, Any] = {"system_id": system.system_id, "start_date": first.isoformat()}
    if system.meters:
        body["meter_start_date"] = system.operational_date.isoformat()
    body["production"] = meter if system.meters else micro
    if request.query_params.get("production") == "all":
        body |= {"micro_production": micro, "meter_production": meter}
    body["meta"] = meta(system, caller.now)
    return body


def consumption_lifetime(request: Request, caller: Caller) -> dict[str, Any]:
    """GET /systems/{id}/consumption_lifetime: daily consumption from the consumption meter."""
    system = caller.system(request.path_params["system_id"])
    first, last = lifetime_range(system, request.query_params, caller.now)
    consumption = [
        data.day_energy(system, d, data.CONSUMPTION)
        for d in (days(first, last) if system.consumption_meters else [])
    ]
    return {
        "system_id": system.system_id,
        "start_date": first.isoformat(),
        "consumption": consumption,
        "meta": meta(system, caller.now),
    }


def production_meter_readings(request: Request, caller: Caller) -> dict[str, Any]:
    """GET /systems/{id}/production_meter_readings: lifetime meter Wh as of end_at; no reading
    of a meter before its first (taken at the operational date), as read_at <= end_at always."""
    system = caller.system(request.path_params["system_id"])
    raw_end = request.query_params.get("end_at")
    end = parse_epoch(raw_end) if raw_end is not None else int(caller.now)
    read_at = floor(min(end, reported_until(system, caller.now)), data.METER_STEP)
    meters = system.production_meters if read_at >= system.operational_at else ()
    read_at = max(read_at, system.operational_at)
    day = local_date(system.timezone, read_at - 1)
    value = 0
    if read_at > system.operational_at:
        today = sum(
            r["wh_del"] for r in data.production_meter_day(system, day) if r["end_at"] <= read_at
        )
        value = data.energy_through(system, data.METER, day - timedelta(1)) + today
    return {
        "system_id": system.system_id,
        "meter_readings": [
            {"serial_number": serial, "value": value, "read_at": read_at} for serial in meters
        ],
        "meta": meta(system, caller.now),
    }
