"""Deterministic energy data for a system and local day: production, consumption, battery.

Every value is a pure function of (system, local date). A day's total is fixed first and
then spread over its intervals by cumulative rounding, so interval sums equal day totals
exactly: production_micro 5-minute ``enwh`` sum to the micro day total, production meter
15-minute ``wh_del`` to the meter day total, consumption 15-minute ``enwh`` to the
consumption day total. Sparse systems drop some 5-minute intervals; their day total is the
sum of what remains.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Sequence
from datetime import date, timedelta
from functools import lru_cache
from itertools import accumulate, islice
from typing import Any

from .localtime import local_date, midnight
from .systems import System

MICRO_STEP = 300
METER_STEP = 900
MICRO = "micro"
METER = "meter"
CONSUMPTION = "consumption"
PERFORMANCE = 0.8
ENCHARGE_WH, ENCHARGE_RATE_W = 3360, 1920
ACB_WH, ACB_RATE_W = 1200, 500
_MASK = (1 << 64) - 1


def mix(*values: int) -> float:
    """A deterministic number in [0, 1) from integers (splitmix64 chain)."""
    x = 0x9E3779B97F4A7C15
    for v in values:
        x = ((x ^ (v & _MASK)) * 0xBF58476D1CE4E5B9) & _MASK
        x = ((x ^ (x >> 31)) * 0x94D049BB133111EB) & _MASK
        x ^= x >> 29
    return x / 2**64


def weather(system: System, day: date) -> float:
    """The day's share of clear-sky production: clear, partly cloudy or overcast."""
    w = mix(system.system_id, day.toordinal(), 1)
    if w < 0.6:
        return 0.9 + 0.1 * w / 0.6
    if w < 0.85:
        return 0.5 + 0.4 * (w - 0.6) / 0.25
    return 0.15 + 0.35 * (w - 0.85) / 0.15


def _day_of_year(day: date) -> int:
    """1 for January 1st."""
    return day.toordinal() - date(day.year, 1, 1).toordinal() + 1


def _sun(system: System, day: date) -> tuple[float, float]:
    """(sin(lat)*sin(decl), cos(lat)*cos(decl)) for the day."""
    lat = math.radians(system.location.latitude)
    decl = math.radians(23.44) * math.sin(2 * math.pi * (_day_of_year(day) - 81) / 365)
    return math.sin(lat) * math.sin(decl), math.cos(lat) * math.cos(decl)


def _micro_target(system: System, day: date) -> int:
    """The micro-measured production of a full day in Wh, before dropped intervals."""
    a, b = _sun(system, day)
    h0 = math.acos(max(-1.0, min(1.0, -a / b)))
    sun_hours = 24 / math.pi * (h0 * a + b * math.sin(h0))
    peak = system.micro_count * system.micro_watts * PERFORMANCE
    return round(peak * sun_hours * weather(system, day))


@lru_cache(maxsize=4096)
def _solar_cum(system: System, day: date) -> tuple[int, array[float]]:
    """(local midnight, cumulative normalised production after each 5-minute interval)."""
    start = midnight(system.timezone, day)
    n = (midnight(system.timezone, day + timedelta(1)) - start) // MICRO_STEP
    a, b = _sun(system, day)
    lon = math.radians(system.location.longitude)
    cloud = 1 - weather(system, day)
    p1, p2 = 6.28 * mix(system.system_id, day.toordinal(), 2), mix(system.system_id, 3) * 6.28
    cum, total = array("d"), 0.0
    for i in range(n):
        mid = start + i * MICRO_STEP + MICRO_STEP // 2
        hour_angle = 2 * math.pi * (mid % 86400 / 86400 - 0.5) + lon
        sin_el = a + b * math.cos(hour_angle)
        if sin_el > 0:
            total += sin_el * (
                1 - 0.6 * cloud * (0.5 + 0.5 * math.sin(i * 0.41 + p1) * math.sin(i * 0.17 + p2))
            )
        cum.append(total)
    return start, array("d", (c / total for c in cum)) if total else cum


def distribute(total: int, cum: Sequence[float]) -> list[int]:
    """Integer parts of ``total`` following cumulative shares ``cum``; they sum to ``total``."""
    out, prev = [], 0
    for c in cum:
        now = round(total * c)
        out.append(now - prev)
        prev = now
    return out


def production_micro_day(system: System, day: date) -> list[dict[str, Any]]:
    """The day's 5-minute production_micro intervals (sparse systems miss some)."""
    start, cum = _solar_cum(system, day)
    n = system.micro_count
    rows, prev = [], 0.0
    lcg = int(mix(system.system_id, day.toordinal(), 4) * 2**32)
    for i, enwh in enumerate(distribute(_micro_target(system, day), cum)):
        devices = n if cum[i] > prev else 0
        prev = cum[i]
        if system.sparse:
            lcg = (1103515245 * lcg + 12345) & 0xFFFFFFFF
            if lcg < 0x4CCCCCCC:
                continue
            devices = max(0, devices - (lcg >> 8) % 3)
        end = start + (i + 1) * MICRO_STEP
        rows.append({"end_at": end, "devices_reporting": devices, "powr": enwh * 12, "enwh": enwh})
    return rows


def micro_weights(system: System) -> list[float]:
    """Each micro's share of the system's production."""
    raw = [0.9 + 0.2 * mix(system.system_id, k, 6) for k in range(system.micro_count)]
    return [r / sum(raw) for r in raw]


def micro_device_day(system: System, day: date, serial: str) -> list[dict[str, Any]]:
    """One micro's 5-minute intervals for the day."""
    share = micro_weights(system)[system.micros.index(serial)]
    return [
        {"end_at": r["end_at"], "powr": round(r["powr"] * share), "enwh": round(r["enwh"] * share)}
        for r in production_micro_day(system, day)
    ]


def _meter_target(system: System, day: date) -> int:
    """The production meter's day total in Wh."""
    return round(_micro_target(system, day) * (0.96 + 0.03 * mix(system.system_id, 7)))


def _meter_wh(system: System, day: date) -> tuple[int, list[int]]:
    """(local midnight, production meter Wh per 15-minute interval)."""
    start, cum = _solar_cum(system, day)
    return start, distribute(_meter_target(system, day), cum[2::3])


def production_meter_day(system: System, day: date) -> list[dict[str, Any]]:
    """The day's 15-minute production meter intervals."""
    start, wh = _meter_wh(system, day)
    return [
        {"end_at": start + (j + 1) * METER_STEP, "devices_reporting": 1, "wh_del": w}
        for j, w in enumerate(wh)
    ]


@lru_cache(maxsize=8)
def _consumption_cum(n: int) -> tuple[float, ...]:
    """Cumulative household load shape over ``n`` 15-minute intervals from midnight."""
    shape = []
    for j in range(n):
        hour = (j + 0.5) * METER_STEP / 3600
        load = 0.6 + 0.9 * math.exp(-(((hour - 7.5) / 1.2) ** 2))
        shape.append(load + 1.4 * math.exp(-(((hour - 19) / 2) ** 2)))
    total = sum(shape)
    return tuple(sum(shape[: j + 1]) / total for j in range(n))


def _consumption_target(system: System, day: date) -> int:
    """The day's consumption in Wh: a seasonal household or business load."""
    season = math.cos(2 * math.pi * (_day_of_year(day) - 15) / 365)
    season *= 1 if system.location.latitude > 0 else -1
    base = 9000 + 450 * system.micro_count
    return round(
        base * (1 + 0.2 * season) * (0.85 + 0.3 * mix(system.system_id, day.toordinal(), 8))
    )


def _consumption_wh(system: System, day: date) -> tuple[int, list[int]]:
    """(local midnight, consumption Wh per 15-minute interval)."""
    start = midnight(system.timezone, day)
    n = (midnight(system.timezone, day + timedelta(1)) - start) // METER_STEP
    return start, distribute(_consumption_target(system, day), _consumption_cum(n))


def consumption_meter_day(system: System, day: date) -> list[dict[str, Any]]:
    """The day's 15-minute consumption meter intervals."""
    start, wh = _consumption_wh(system, day)
    return [
        {"end_at": start + (j + 1) * METER_STEP, "devices_reporting": 1, "enwh": w}
        for j, w in enumerate(wh)
    ]


def battery_capacity(system: System) -> int:
    """Usable battery capacity in Wh."""
    return ENCHARGE_WH * system.encharge_count + ACB_WH * system.acb_count


@lru_cache(maxsize=1024)
def _battery(system: System, day: date) -> tuple[tuple[int, int, int, int], ...]:
    """(end_at, charge Wh, discharge Wh, soc %) per 15 minutes: surplus charges, deficit drains."""
    capacity = battery_capacity(system)
    rate = (ENCHARGE_RATE_W * system.encharge_count + ACB_RATE_W * system.acb_count) // 4
    stored = capacity * (0.2 + 0.5 * mix(system.system_id, day.toordinal(), 9))
    start, produced = _meter_wh(system, day)
    _, consumed = _consumption_wh(system, day)
    rows = []
    for j, (p, c) in enumerate(zip(produced, consumed, strict=True)):
        charge = max(0, min(p - c, rate, int(capacity - stored)))
        discharge = max(0, min(c - p, rate, int(stored - 0.1 * capacity)))
        stored += charge - discharge
        rows.append(
            (start + (j + 1) * METER_STEP, charge, discharge, round(100 * stored / capacity))
        )
    return tuple(rows)


def battery_day(system: System, day: date) -> list[dict[str, Any]]:
    """The day's 15-minute aggregate battery intervals."""
    n = system.encharge_count + system.acb_count
    return [
        {
            "end_at": end,
            "charge": {"enwh": charge, "devices_reporting": n},
            "discharge": {"enwh": discharge, "devices_reporting": n},
            "soc": {"percent": soc, "devices_reporting": n},
        }
        for end, charge, discharge, soc in _battery(system, day)
    ]


def battery_device_day(system: System, day: date, serial: str) -> list[dict[str, Any]]:
    """One encharge's or acb's 15-minute intervals for the day."""
    share = (ENCHARGE_WH if serial in system.encharges else ACB_WH) / battery_capacity(system)
    return [
        {
            "end_at": end,
            "charge": {"enwh": round(charge * share)},
            "discharge": {"enwh": round(discharge * share)},
            "soc": {"percent": soc},
        }
        for end, charge, discharge, soc in _battery(system, day)
    ]


def battery_power(system: System, at: int) -> int:
    """The battery's W over the interval holding ``at``: discharge positive, charge negative."""
    rows = _battery(system, local_date(system.timezone, at - 1))
    _, charge, discharge, _ = next((row for row in rows if row[0] >= at), rows[-1])
    return (discharge - charge) * 3600 // METER_STEP


def battery_soc(system: System, at: int) -> int:
    """The aggregate state of charge (%) of the last interval ending at or before ``at``."""
    rows = _battery(system, local_date(system.timezone, at - 1))
    return next((soc for end, _, _, soc in reversed(rows) if end <= at), rows[0][3])


@lru_cache(maxsize=16384)
def _sparse_micro_total(system: System, day: date) -> int:
    """The micro day total of a sparse system: the sum of the intervals it reported."""
    return sum(r["enwh"] for r in production_micro_day(system, day))


def day_energy(system: System, day: date, source: str) -> int:
    """A day's total Wh by source: micro production, meter production or consumption."""
    if source == METER:
        return _meter_target(system, day)
    if source == CONSUMPTION:
        return _consumption_target(system, day)
    if system.sparse:
        return _sparse_micro_total(system, day)
    return _micro_target(system, day)


@lru_cache(maxsize=1024)
def _running_totals(system: System, source: str) -> array[int]:
    """Total Wh by source through each day from the operational date (extended as asked)."""
    return array("q")


def energy_through(system: System, source: str, last: date) -> int:
    """Total Wh by source from the operational date through ``last`` inclusive."""
    first = system.operational_date
    count = (last - first).days + 1
    if count <= 0:
        return 0
    totals = _running_totals(system, source)
    # each new day adds to the day before: a month of summaries costs a day's sum, not a lifetime's
    if len(totals) < count:
        new = (first + timedelta(n) for n in range(len(totals), count))
        added = (day_energy(system, day, source) for day in new)
        totals.extend(islice(accumulate(added, initial=totals[-1] if totals else 0), 1, None))
    return totals[count - 1]


def production_source(system: System) -> str:
    """The source of the merged production series: the meter when there is one."""
    return METER if system.meters else MICRO


@lru_cache(maxsize=1024)
def production_day(system: System, day: date) -> tuple[tuple[int, int], ...]:
    """(end_at, Wh) intervals of the merged production series for the day."""
    if system.meters:
        return tuple((r["end_at"], r["wh_del"]) for r in production_meter_day(system, day))
    return tuple((r["end_at"], r["enwh"]) for r in production_micro_day(system, day))


@lru_cache(maxsize=1024)
def production_running(system: System, day: date) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The merged production series of the day as (end_at of each interval, Wh through it)."""
    rows = production_day(system, day)
    return tuple(end for end, _ in rows), tuple(accumulate(wh for _, wh in rows))


@lru_cache(maxsize=1024)
def _grid(system: System, day: date) -> tuple[tuple[int, int, int], ...]:
    """(end_at, Wh imported, Wh exported) per 15 minutes: the load the production and the
    battery do not meet comes from the grid, the surplus they do not store goes to it."""
    start, produced = _meter_wh(system, day)
    _, consumed = _consumption_wh(system, day)
    stored = _battery(system, day) if battery_capacity(system) else None
    rows = []
    for j, (p, c) in enumerate(zip(produced, consumed, strict=True)):
        charge, discharge = (stored[j][1], stored[j][2]) if stored else (0, 0)
        net = c + charge - p - discharge
        rows.append((start + (j + 1) * METER_STEP, max(0, net), max(0, -net)))
    return tuple(rows)


def import_day(system: System, day: date) -> list[dict[str, Any]]:
    """The day's 15-minute intervals of energy imported from the grid."""
    return [{"end_at": end, "wh_imported": wh} for end, wh, _ in _grid(system, day)]


def export_day(system: System, day: date) -> list[dict[str, Any]]:
    """The day's 15-minute intervals of energy exported to the grid."""
    return [{"end_at": end, "wh_exported": wh} for end, _, wh in _grid(system, day)]


def day_grid(system: System, day: date) -> tuple[int, int]:
    """The day's (imported, exported) Wh."""
    rows = _grid(system, day)
    return sum(row[1] for row in rows), sum(row[2] for row in rows)


def day_battery(system: System, day: date) -> tuple[int, int]:
    """The day's (charged, discharged) Wh."""
    rows = _battery(system, day)
    return sum(row[1] for row in rows), sum(row[2] for row in rows)
