"""What a v4 200 reply must hold to be data: its data member, and every item typed as v4 says.

A 200 that does not (empty, HTML, ``{}``, ``[1,2]``, ``"ok"``, an interval whose ``enwh`` is
``"lots"`` or ``null``, a lifetime series holding ``"a"`` or ``1.5``) is an upstream failure,
never data: the proxy serves the stale reply it holds, or answers that the upstream is
unavailable. The types are the v4 monitoring spec's, written here per endpoint of the v4 table
(``proxy.v4.paths``). Members are optional, as in the spec (its own examples lack some); one
that is present has its type, and ``null`` is no v4 type: the spec declares nothing nullable.
Members the spec does not define are left alone.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import AfterValidator, ConfigDict, Field, TypeAdapter, ValidationError, with_config
from typing_extensions import TypedDict


def _calendar_day(text: str) -> str:
    dt.date.fromisoformat(text)  # a ValueError is a validation error
    return text


#: v4's ``integer`` (int64); a JSON number with a fraction, or a bool, is not one.
Int = Annotated[int, Field(strict=True, ge=-(2**63), le=2**63 - 1)]
#: v4's ``number``: an integer or a finite fraction.
Number = Annotated[float, Field(strict=True, allow_inf_nan=False)]
Text = Annotated[str, Field(strict=True)]
#: v4's ``string`` of ``format: date``: a calendar day as ``YYYY-MM-DD``.
Day = Annotated[
    str, Field(strict=True, pattern=r"^\d{4}-\d{2}-\d{2}$"), AfterValidator(_calendar_day)
]
OPEN = ConfigDict(extra="allow", strict=True)


@with_config(OPEN)
class Meta(TypedDict, total=False):
    status: Text
    last_report_at: Int
    last_energy_at: Int
    operational_at: Int


@with_config(OPEN)
class Address(TypedDict, total=False):
    city: Text
    state: Text
    country: Text
    postal_code: Text | Int  # some v4 replies carry it as a number


@with_config(OPEN)
class SystemBody(TypedDict, total=False):
    system_id: Int
    name: Text
    public_name: Text
    timezone: Text
    address: Address
    connection_type: Text
    energy_lifetime: Int
    energy_today: Int
    system_size: Number  # the spec says integer; its own example is 112.3
    status: Text
    last_report_at: Int
    last_energy_at: Int
    operational_at: Int
    interconnect_date: Day
    reference: Text
    other_references: list[Text]


@with_config(OPEN)
class Systems(TypedDict, total=False):
    total: Int
    current_page: Int
    size: Int
    count: Int
    systems: list[SystemBody]


@with_config(OPEN)
class SystemId(TypedDict, total=False):
    system_id: Int


@with_config(OPEN)
class Summary(TypedDict, total=False):
    system_id: Int
    current_power: Int
    energy_lifetime: Int
    energy_today: Int
    last_interval_end_at: Int
    last_report_at: Int
    modules: Int
    operational_at: Int
    size_w: Number  # v2's integer W: the proxy drops the fraction
    source: Text
    status: Text
    summary_date: Day


@with_config(OPEN)
class Device(TypedDict, total=False):
    id: Int
    last_report_at: Int
    name: Text
    serial_number: Text
    part_number: Text
    sku: Text
    model: Text
    status: Text
    active: Annotated[bool, Field(strict=True)]
    state: Text
    config_type: Text


@with_config(OPEN)
class Devices(TypedDict, total=False):
    system_id: Int
    total_devices: Int
    devices: dict[str, list[Device]]


@with_config(OPEN)
class EnergyLifetime(TypedDict, total=False):
    system_id: Int
    start_date: Day
    meter_start_date: Day
    production: list[Int]
    micro_production: list[Int]
    meter_production: list[Int]
    meta: Meta


@with_config(OPEN)
class ConsumptionLifetime(TypedDict, total=False):
    system_id: Int
    start_date: Day
    consumption: list[Int]
    meta: Meta


@with_config(OPEN)
class Reading(TypedDict, total=False):
    serial_number: Text
    serial_num: Text  # the spec's example names it so
    value: Int
    read_at: Int


@with_config(OPEN)
class MeterReadings(TypedDict, total=False):
    system_id: Int
    meter_readings: list[Reading]
    meta: Meta


@with_config(OPEN)
class Interval(TypedDict, total=False):
    """An interval of a v4 telemetry series or of rgm_stats: the members each has are typed."""

    end_at: Int
    devices_reporting: Int
    powr: Int
    enwh: Int
    wh_del: Int


@with_config(OPEN)
class ChannelInterval(TypedDict, total=False):
    channel: Int
    end_at: Int
    wh_del: Number
    curr_w: Int


@with_config(OPEN)
class MeterIntervals(TypedDict, total=False):
    meter_serial_number: Text
    envoy_serial_number: Text
    intervals: list[ChannelInterval]


@with_config(OPEN)
class RgmStats(TypedDict, total=False):
    system_id: Int
    total_devices: Int
    meta: Meta
    intervals: list[Interval]
    meter_intervals: list[MeterIntervals]


@with_config(OPEN)
class Quantity(TypedDict, total=False):
    value: Int
    units: Text
    precision: Int


@with_config(OPEN)
class Micro(TypedDict, total=False):
    id: Int
    serial_number: Text
    model: Text
    part_number: Text
    sku: Text
    status: Text
    power_produced: Quantity | Int  # the spec's own example has a bare number
    proc_load: Text
    param_table: Text
    envoy_serial_number: Text
    energy: Quantity | Int
    grid_profile: Text
    last_report_date: Text | None  # null: never reported (v2's documented value)


@with_config(OPEN)
class Envoy(TypedDict, total=False):
    signal_strength: Int
    micro_inverters: list[Micro]


@with_config(OPEN)
class TelemetryBody(TypedDict, total=False):
    system_id: Int
    granularity: Text
    total_devices: Int
    start_at: Int
    end_at: Int
    meta: Meta
    intervals: list[Interval]


#: endpoint name (``proxy.cache.freshness.endpoint_name``) -> the members of which one must be
#: present, with their JSON types; ``None`` in place of the members: the reply is a JSON array.
DATA: dict[str, tuple[tuple[str, type], ...] | None] = {
    "systems": (("systems", list),),
    "system": (("system_id", int),),
    "retrieve_system_id": (("system_id", int),),
    "summary": (
        ("energy_lifetime", int),
        ("energy_today", int),
        ("current_power", int),
        ("status", str),
        ("last_report_at", int),
    ),
    "devices": (("devices", dict),),
    "energy_lifetime": (("production", list),),
    "consumption_lifetime": (("consumption", list),),
    "production_meter_readings": (("meter_readings", list),),
    "rgm_stats": (("intervals", list),),
    "inverters_summary": None,
    **dict.fromkeys(
        (
            "production_micro",
            "production_meter",
            "consumption_meter",
            "battery",
            "micro_telemetry",
            "acb_telemetry",
            "encharge_telemetry",
        ),
        (("intervals", list),),
    ),
}

#: endpoint name -> the type of its whole 200 body, item by item.
TYPES: dict[str, TypeAdapter[Any]] = {
    "systems": TypeAdapter(Systems),
    "system": TypeAdapter(SystemBody),
    "retrieve_system_id": TypeAdapter(SystemId),
    "summary": TypeAdapter(Summary),
    "devices": TypeAdapter(Devices),
    "energy_lifetime": TypeAdapter(EnergyLifetime),
    "consumption_lifetime": TypeAdapter(ConsumptionLifetime),
    "production_meter_readings": TypeAdapter(MeterReadings),
    "rgm_stats": TypeAdapter(RgmStats),
    "inverters_summary": TypeAdapter(list[Envoy]),
    **dict.fromkeys(
        ("production_micro", "production_meter", "consumption_meter"), TypeAdapter(TelemetryBody)
    ),
}


def usable(endpoint: str, body: Any) -> bool:
    """Whether ``body`` (parsed JSON, None when it was not JSON) is data for ``endpoint``."""
    if endpoint not in DATA:
        return True
    members = DATA[endpoint]
    if members is None:
        present = isinstance(body, list)
    else:
        present = isinstance(body, dict) and any(
            _typed(body.get(name), kind) for name, kind in members
        )
    return present and typed(endpoint, body)


def typed(endpoint: str, body: Any) -> bool:
    """Whether every member and item of ``body`` that v4 types for ``endpoint`` has its type."""
    adapter = TYPES.get(endpoint)
    if adapter is None:
        return True
    try:
        adapter.validate_python(body)
    except ValidationError:
        return False
    return True


def _typed(value: Any, kind: type) -> bool:
    return isinstance(value, kind) and not isinstance(value, bool)
