"""v2 inventory from v4 devices: envoys, inverters and meters renamed, meta from the system."""

from __future__ import annotations

import pytest

from mappings import inventory
from mappings.base import V2Error, V4Call
from proxy.v4 import shapes
from tests.support import SYSTEM_ID, meta, request, system, validate

ROUTE = "/api/v2/systems/{system_id}/inventory"
NOW = 1_781_100_000

DEVICES = {
    "system_id": SYSTEM_ID,
    "total_devices": 6,
    "items": "devices",
    "devices": {
        "micros": [
            {
                "id": 1,
                "last_report_at": 1508174262,
                "name": "Microinverter 902167438951",
                "serial_number": "902167438951",
                "part_number": "800-01333-r01",
                "sku": "IQ8A-72-2-US",
                "model": "IQ8A",
                "status": "normal",
                "active": True,
            },
            {"id": 2, "serial_number": "902372021616", "model": "M250", "status": "micro"},
        ],
        "meters": [
            {
                "id": 3,
                "name": "production",
                "serial_number": "901553005272EIM1",
                "part_number": "800-00655-r08",
                "model": "Envoy S",
                "status": "normal",
                "active": True,
                "state": "enabled",
                "config_type": "Net",
            }
        ],
        "gateways": [
            {
                "id": 4,
                "serial_number": "901553005272",
                "part_number": "800-00655-r08",
                "emu_sw_version": "D4.6.11",
                "sku": "ENV-IQ-AM1-240",
                "model": "Envoy-S-Standard-NA",
                "status": "normal",
            }
        ],
        "q_relays": [{"id": 5, "serial_number": "912158973973", "sku": "Q-RELAY-1P-INT"}],
        "encharges": [{"id": 6, "serial_number": "121593621979", "sku": "B03-A01-US00-1-3"}],
    },
}


def test_plan_is_one_devices_call_and_needs_the_system_for_meta() -> None:
    req = request(NOW)
    assert inventory.needs_system(req)
    assert inventory.plan(req, system()) == [V4Call(f"/systems/{SYSTEM_ID}/devices")]


def test_devices_are_renamed_as_v2_listed_them() -> None:
    body = inventory.shape(request(NOW), system(status="encharge"), [DEVICES]).body
    validate(ROUTE, 200, body)
    assert body == {
        "system_id": SYSTEM_ID,
        "envoys": [{"sn": "901553005272", "model": "Envoy-S-Standard-NA", "sku": "ENV-IQ-AM1-240"}],
        "inverters": [
            {"sn": "902167438951", "model": "IQ8A", "sku": "IQ8A-72-2-US"},
            {"sn": "902372021616", "model": "M250", "sku": None},
        ],
        "meters": [
            {
                "sn": "901553005272EIM1",
                "manufacturer": "Enphase",
                "model": "Envoy S",
                "status": "normal",
                "state": "enabled",
            }
        ],
        "meta": meta("battery"),
    }


def test_a_named_meter_manufacturer_is_kept() -> None:
    reply = {
        "devices": {"meters": [{"serial_number": "M1", "manufacturer": "GE", "model": "I-210+"}]}
    }
    body = inventory.shape(request(NOW), system(), [reply]).body
    validate(ROUTE, 200, body)
    assert body["meters"] == [
        {"sn": "M1", "manufacturer": "GE", "model": "I-210+", "status": None, "state": None}
    ]


def test_no_devices_gives_empty_lists() -> None:
    body = inventory.shape(request(NOW), system(), [{"system_id": SYSTEM_ID, "devices": {}}]).body
    validate(ROUTE, 200, body)
    assert (body["envoys"], body["inverters"], body["meters"]) == ([], [], [])


def test_a_malformed_reply_is_an_upstream_failure_not_an_empty_inventory() -> None:
    replies: tuple[object, ...] = (
        {"devices": {"micros": "x"}},
        [],
        {"devices": {"micros": [1, {}]}},
    )
    for reply in replies:
        assert not shapes.usable("devices", reply), reply
    spoiled: tuple[dict[str, object], ...] = ({"micros": [{}]}, {"meters": [{"model": "m"}]})
    for devices in spoiled:
        with pytest.raises(V2Error) as refused:  # no serial number: no device v2 can list
            inventory.shape(request(NOW), system(), [{"devices": devices}])
        assert refused.value.status == 503


def test_iso8601_renders_meta_times_in_the_system_zone() -> None:
    body = inventory.shape(request(NOW, datetime_format="iso8601"), system(), [DEVICES]).body
    validate(ROUTE, 200, body)
    assert body["meta"]["operational_at"] == "2012-12-31T23:00:00-08:00"
    assert body["meta"]["last_report_at"] == "2027-12-31T16:00:00-08:00"
