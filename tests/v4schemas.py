"""JSON Schemas of the v4 200 bodies the mappings read, written from the v4 monitoring docs.

Loose where v4 is loose: no member is required beyond the one ``proxy.v4shapes`` requires
(where the endpoint keeps its data), every epoch is any int64, numbers may be fractional.
``strategy`` draws bodies from them (only the keywords these schemas use).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import strategies as st

from proxy import freshness
from proxy.v4shapes import DATA

JSON = dict[str, Any]

INT64: JSON = {"type": "integer", "minimum": -(2**63), "maximum": 2**63 - 1}
COUNT: JSON = {"type": "integer", "minimum": 0, "maximum": 10**6}
NUMBER: JSON = {"type": "number"}
TEXT: JSON = {"type": "string", "maxLength": 12}
DAY: JSON = {"type": "string", "format": "date"}
STATUS: JSON = {"enum": ["normal", "comm", "micro", "power", "encharge_issue", "retired", "x"]}
ZONE: JSON = {"enum": ["America/Los_Angeles", "Europe/Berlin", "Australia/Sydney", "Nope/Zone"]}
SERIES: JSON = {"type": "array", "items": COUNT, "maxItems": 8}


def obj(properties: JSON) -> JSON:
    """An object schema with these optional members."""
    return {"type": "object", "properties": properties}


def array(items: JSON, max_items: int = 4) -> JSON:
    """An array schema."""
    return {"type": "array", "items": items, "maxItems": max_items}


META = obj(
    {
        "status": STATUS,
        "last_report_at": INT64,
        "last_energy_at": INT64,
        "operational_at": INT64,
    }
)
SYSTEM = obj(
    {
        "system_id": COUNT,
        "name": TEXT,
        "public_name": TEXT,
        "timezone": ZONE,
        "address": obj({"city": TEXT, "state": TEXT, "country": TEXT, "postal_code": TEXT}),
        "connection_type": {"enum": ["ethernet", "cellular", "wifi"]},
        "status": STATUS,
        "last_report_at": INT64,
        "last_energy_at": INT64,
        "operational_at": INT64,
        "reference": TEXT,
        "other_references": array(TEXT),
        "energy_lifetime": NUMBER,
        "system_size": NUMBER,
    }
)
DEVICE = obj(
    {
        "id": COUNT,
        "last_report_at": INT64,
        "name": TEXT,
        "serial_number": TEXT,
        "part_number": TEXT,
        "sku": TEXT,
        "model": TEXT,
        "status": TEXT,
        "active": {"type": "boolean"},
        "state": TEXT,
    }
)


def telemetry(interval: JSON) -> JSON:
    """A v4 telemetry body with these intervals."""
    return obj(
        {
            "system_id": COUNT,
            "granularity": {"enum": ["15mins", "day", "week"]},
            "total_devices": COUNT,
            "start_at": INT64,
            "end_at": INT64,
            "items": TEXT,
            "intervals": array(interval, 6),
            "meta": META,
        }
    )


QUANTITY = obj({"value": NUMBER, "units": TEXT, "precision": COUNT})

SCHEMAS: dict[str, JSON] = {
    "systems": obj(
        {
            "total": COUNT,
            "current_page": COUNT,
            "size": COUNT,
            "count": COUNT,
            "items": TEXT,
            "systems": array(SYSTEM, 3),
        }
    ),
    "system": SYSTEM,
    "retrieve_system_id": obj({"system_id": COUNT}),
    "summary": obj(
        {
            "system_id": COUNT,
            "current_power": COUNT,
            "energy_lifetime": COUNT,
            "energy_today": COUNT,
            "last_interval_end_at": INT64,
            "last_report_at": INT64,
            "modules": COUNT,
            "operational_at": INT64,
            "size_w": NUMBER,
            "source": {"enum": ["meter", "microinverters", "other"]},
            "status": STATUS,
            "summary_date": DAY,
        }
    ),
    "devices": obj(
        {
            "system_id": COUNT,
            "total_devices": COUNT,
            "items": TEXT,
            "devices": obj({kind: array(DEVICE, 3) for kind in ("micros", "meters", "gateways")}),
        }
    ),
    "energy_lifetime": obj(
        {
            "system_id": COUNT,
            "start_date": DAY,
            "meter_start_date": DAY,
            "production": SERIES,
            "micro_production": SERIES,
            "meter_production": SERIES,
            "meta": META,
        }
    ),
    "consumption_lifetime": obj(
        {"system_id": COUNT, "start_date": DAY, "consumption": SERIES, "meta": META}
    ),
    "production_meter_readings": obj(
        {
            "system_id": COUNT,
            "meter_readings": array(obj({"serial_number": TEXT, "value": COUNT, "read_at": INT64})),
            "meta": META,
        }
    ),
    "rgm_stats": obj(
        {
            "system_id": COUNT,
            "total_devices": COUNT,
            "meta": META,
            "intervals": array(
                obj({"end_at": INT64, "wh_del": NUMBER, "devices_reporting": COUNT})
            ),
            "meter_intervals": array(
                obj(
                    {
                        "meter_serial_number": TEXT,
                        "envoy_serial_number": TEXT,
                        "intervals": array(
                            obj(
                                {
                                    "channel": COUNT,
                                    "end_at": INT64,
                                    "wh_del": NUMBER,
                                    "curr_w": NUMBER,
                                }
                            )
                        ),
                    }
                ),
                2,
            ),
        }
    ),
    "inverters_summary": array(
        obj(
            {
                "signal_strength": COUNT,
                "micro_inverters": array(
                    obj(
                        {
                            "id": COUNT,
                            "model": TEXT,
                            "part_number": TEXT,
                            "serial_number": TEXT,
                            "sku": TEXT,
                            "status": TEXT,
                            "power_produced": {"anyOf": [QUANTITY, NUMBER]},
                            "proc_load": TEXT,
                            "param_table": TEXT,
                            "envoy_serial_number": TEXT,
                            "energy": {"anyOf": [QUANTITY, NUMBER]},
                            "grid_profile": TEXT,
                            "last_report_date": {
                                "enum": ["2024-06-01T10:00:00Z", "2024-06-01 10:00:00", "x"]
                            },
                        }
                    ),
                    3,
                ),
            }
        ),
        2,
    ),
    "production_micro": telemetry(
        obj({"end_at": INT64, "devices_reporting": COUNT, "powr": NUMBER, "enwh": NUMBER})
    ),
    "consumption_meter": telemetry(
        obj({"end_at": INT64, "devices_reporting": COUNT, "enwh": NUMBER})
    ),
}


def schema_for(path: str) -> JSON:
    """The schema of the 200 body of the v4 GET ``path``, its data member required."""
    name = freshness.endpoint_name(path)
    schema = SCHEMAS[name]
    members = DATA[name]
    if members is None:
        return schema
    name_of_data, _ = members[0]
    return schema | {"required": [name_of_data]}


def strategy(schema: JSON) -> st.SearchStrategy[Any]:
    """Values valid against ``schema``: optional members present or not, arrays short."""
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    if "anyOf" in schema:
        return st.one_of([strategy(option) for option in schema["anyOf"]])
    kind = schema["type"]
    if kind == "object":
        members = {name: strategy(sub) for name, sub in schema["properties"].items()}
        required = set(schema.get("required", ()))
        return st.fixed_dictionaries(
            {k: v for k, v in members.items() if k in required},
            optional={k: v for k, v in members.items() if k not in required},
        )
    if kind == "array":
        return st.lists(strategy(schema["items"]), max_size=schema.get("maxItems", 4))
    if kind == "integer":
        return st.integers(schema.get("minimum"), schema.get("maximum"))
    if kind == "number":
        return st.one_of(st.integers(-(10**9), 10**9), st.floats(-1e9, 1e9))
    if kind == "boolean":
        return st.booleans()
    if schema.get("format") == "date":
        return st.dates(dt.date(2000, 1, 1), dt.date(2030, 12, 31)).map(dt.date.isoformat)
    return st.text(max_size=schema.get("maxLength", 12))
