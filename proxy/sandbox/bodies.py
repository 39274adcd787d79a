"""Response bodies describing systems: details, meta, summary, devices, inverter summaries."""

from __future__ import annotations

from bisect import bisect_right
from datetime import timedelta
from typing import Any

from . import data
from .localtime import floor, iso, local_date
from .settings import User
from .systems import System

REPORT_LAG = 37
MICRO_PART = {"part_number": "800-01391-r03", "sku": "IQ8PLUS-72-2-US", "model": "IQ8+"}


def last_upload(system: System, now: float) -> int:
    """When the system last uploaded by ``now``: ``REPORT_LAG`` after each of its marks (every
    ``report_every`` seconds, ``upload_phase`` after the epoch's multiples)."""
    phase = system.upload_phase
    return floor(now - REPORT_LAG - phase, system.report_every) + phase + REPORT_LAG


def reported_until(system: System, now: float) -> int:
    """End of the last interval the system has reported by ``now`` (its last upload's)."""
    return floor(last_upload(system, now) - REPORT_LAG, data.MICRO_STEP)


def meta(system: System, now: float) -> dict[str, Any]:
    """The ``meta`` object: status and report times."""
    until = reported_until(system, now)
    return {
        "status": system.status,
        "last_report_at": last_upload(system, now),
        "last_energy_at": until,
        "operational_at": system.operational_at,
    }


def energy_today(system: System, now: float) -> tuple[int, int]:
    """(Wh produced today so far, power of the last reported interval in W)."""
    day = local_date(system.timezone, now)
    ends, running = data.production_running(system, day)
    reported = bisect_right(ends, reported_until(system, now))  # the intervals are in time order
    if not reported:
        return 0, 0
    step = data.METER_STEP if system.meters else data.MICRO_STEP
    last = data.production_day(system, day)[reported - 1][1]
    return running[reported - 1], last * 3600 // step


def energy_lifetime(system: System, now: float) -> int:
    """Wh produced over the system's life, through the last reported interval."""
    yesterday = local_date(system.timezone, now) - timedelta(1)
    before = data.energy_through(system, data.production_source(system), yesterday)
    return before + energy_today(system, now)[0]


def details(system: System, user: User, now: float) -> dict[str, Any]:
    """A SystemDetails object as /systems and /systems/{id} show it."""
    body = {
        "system_id": system.system_id,
        "name": system.name,
        "public_name": system.public_name,
        "timezone": system.timezone,
        "address": {
            "city": system.location.city,
            "state": system.location.state,
            "country": system.location.country,
            "postal_code": system.location.postal_code,
        },
        "connection_type": system.connection_type,
        "energy_lifetime": energy_lifetime(system, now),
        "energy_today": energy_today(system, now)[0],
        "system_size": round(system.size_w / 1000, 2),
        **meta(system, now),
        "attachment_type": system.attachment_type,
        "interconnect_date": system.operational_date.isoformat(),
    }
    if user.company_id is not None and system.reference:
        body["reference"] = system.reference
    if system.other_references:
        body["other_references"] = list(system.other_references)
    return body


def summary(system: System, now: float) -> dict[str, Any]:
    """The /systems/{id}/summary body."""
    today, power = energy_today(system, now)
    report = meta(system, now)
    return {
        "system_id": system.system_id,
        "current_power": power,
        "energy_lifetime": energy_lifetime(system, now),
        "energy_today": today,
        "last_interval_end_at": report["last_energy_at"],
        "last_report_at": report["last_report_at"],
        "modules": system.micro_count,
        "operational_at": system.operational_at,
        "size_w": system.size_w,
        "source": "meter" if system.meters else "microinverters",
        "status": system.status,
        "summary_date": local_date(system.timezone, now).isoformat(),
    }


def _device(
    system: System, kind: int, n: int, serial: str, name: str, now: float
) -> dict[str, Any]:
    """Fields every device shares."""
    return {
        "id": system.system_id * 10000 + kind * 1000 + n,
        "last_report_at": meta(system, now)["last_report_at"],
        "name": name,
        "serial_number": serial,
    }


def devices(system: System, now: float) -> dict[str, Any]:
    """The /systems/{id}/devices body; only device types the system has are listed."""
    active = {"status": "normal", "active": True}
    gateway = {
        **_device(system, 1, 1, system.gateway, f"Envoy {system.gateway}", now),
        "part_number": "800-00654-r08",
        "emu_sw_version": "D7.6.175 (f79c8d)",
        "sku": "ENV-IQ-AM1-240" if system.meters else "ENV-IQ-AM3-3P",
        "model": "Envoy-S-Metered-NA" if system.meters else "Envoy-S-Standard-NA",
        **active,
    }
    if system.connection_type == "cellular":
        gateway["cellular_modem"] = {
            "imei": f"35200911{system.system_id:07d}",
            "part_num": "860-00157-r01",
            "sku": "CELLMODEM-M1",
            "plan_start_date": system.operational_at,
            "plan_end_date": system.operational_at + 5 * 365 * 86400,
        }
    meters = [
        {
            **_device(system, 3, n, serial, name, now),
            "part_number": "800-00656-r06",
            "model": "Envoy S",
            **active,
            "state": "enabled",
            "config_type": config,
        }
        for n, (serial, name, config) in enumerate(
            [(s, "production", "Production") for s in system.production_meters]
            + [(s, "consumption", "Net") for s in system.consumption_meters],
            1,
        )
    ]
    groups = {
        "micros": [
            {**_device(system, 2, n, s, f"Microinverter {s}", now), **MICRO_PART, **active}
            for n, s in enumerate(system.micros, 1)
        ],
        "meters": meters,
        "gateways": [gateway],
        "encharges": [
            {
                **_device(system, 4, n, s, f"Encharge {s}", now),
                "part_number": "830-01760-r37",
                "sku": "B03-A01-US00-1-3",
                **active,
            }
            for n, s in enumerate(system.encharges, 1)
        ],
        "acbs": [
            {
                **_device(system, 5, n, s, f"AC Battery {s}", now),
                "part_number": "800-00560-r03",
                "sku": "B1200-LN-I-US00-1",
                **active,
            }
            for n, s in enumerate(system.acbs, 1)
        ],
    }
    listed = {k: v for k, v in groups.items() if v}
    return {
        "system_id": system.system_id,
        "total_devices": sum(len(v) for v in listed.values()),
        "items": "devices",
        "devices": listed,
    }


def inverters_summary(system: System, now: float) -> list[dict[str, Any]]:
    """The inverters_summary_by_envoy_or_site body: one entry per gateway."""
    _, power = energy_today(system, now)
    yesterday = local_date(system.timezone, now) - timedelta(1)
    lifetime = data.energy_through(system, data.MICRO, yesterday)
    reported = iso(system.timezone, meta(system, now)["last_report_at"])
    micros = [
        {
            "id": system.system_id * 10000 + 2000 + n,
            "serial_number": serial,
            **MICRO_PART,
            "status": "normal",
            "power_produced": {"value": round(power * share), "units": "W", "precision": 0},
            "proc_load": "520-00082-r01-v04.27.04",
            "param_table": "540-00242-r01-v04.27.06",
            "envoy_serial_number": system.gateway,
            "energy": {"value": round(lifetime * share), "units": "Wh", "precision": 0},
            "grid_profile": "IEEE 1547:2018 SRD 2.0",
            "last_report_date": reported,
        }
        for n, (serial, share) in enumerate(
            zip(system.micros, data.micro_weights(system), strict=True), 1
        )
    ]
    return [
        {
            "signal_strength": 3 if system.connection_type == "cellular" else 5,
            "micro_inverters": micros,
        }
    ]
