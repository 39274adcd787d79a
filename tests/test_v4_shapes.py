"""A v4 200 body whose items are not of v4's types is no data; what v2 cannot carry is a 503.

The cases of issue 23: each was once answered 200 with the item copied, a 0, an empty list or
the item dropped.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest

from mappings import summary, systems
from mappings.base import V2Error
from mappings.common import iso8601
from proxy.v4 import shapes
from tests.support import request, system

NOW = 1_772_000_000  # 2026-02-25

INTERVAL = {"end_at": 1_700_000_300, "devices_reporting": 2, "powr": 7, "enwh": 5}


@pytest.mark.parametrize(
    ("endpoint", "body"),
    [
        ("energy_lifetime", {"start_date": "2024-01-01", "production": ["a", None, 5]}),
        ("energy_lifetime", orjson.loads(b'{"production":[1.5,-7,99999999999999999999]}')),
        ("energy_lifetime", {"production": [1], "micro_production": [True]}),
        ("energy_lifetime", {"production": [1], "start_date": "2024-02-30"}),
        ("consumption_lifetime", {"consumption": [1.5, "x", {"a": 1}]}),
        ("inverters_summary", [1, 2]),
        ("inverters_summary", [{"signal_strength": "5"}]),
        ("systems", {"systems": [1, 2]}),
        ("systems", {"systems": [{"system_id": 1, "address": {"country": 840}}]}),
        ("devices", {"devices": {"micros": [1, {}]}}),
        ("summary", {"energy_lifetime": "many"}),
        ("summary", {"energy_lifetime": None, "energy_today": 4}),
        ("production_micro", {"intervals": [INTERVAL, {"powr": "lots", "enwh": None}]}),
        ("production_micro", {"intervals": [INTERVAL | {"end_at": 2**64}]}),
        ("consumption_meter", {"intervals": [INTERVAL | {"enwh": 1e3}]}),
        ("rgm_stats", {"intervals": [], "meter_intervals": [{"intervals": [{"wh_del": "1"}]}]}),
        ("production_meter_readings", {"meter_readings": [{"serial_number": 5}]}),
    ],
)
def test_an_item_of_the_wrong_type_makes_the_reply_no_data(endpoint: str, body: Any) -> None:
    assert not shapes.usable(endpoint, body)


@pytest.mark.parametrize(
    ("endpoint", "body"),
    [
        ("energy_lifetime", {"start_date": "2024-01-01", "production": [1, -7, 0]}),
        ("inverters_summary", [{}]),  # v4 declares nothing required: v2's mapping decides
        ("systems", {"systems": [{"system_id": 1, "address": {"postal_code": 95472}}]}),
        ("devices", {"devices": {"micros": [{"serial_number": "1", "future": [1]}]}}),
        ("summary", {"energy_lifetime": 10, "size_w": 5250.7}),
        ("production_micro", {"intervals": [INTERVAL]}),
    ],
)
def test_bodies_of_v4s_types_are_data(endpoint: str, body: Any) -> None:
    assert shapes.usable(endpoint, body)


@pytest.mark.parametrize(("country", "v2"), [("US", "US"), ("de", "DE"), ("USA", None), ("", None)])
def test_a_country_v2_cannot_name_in_iso_alpha_2_is_null(country: str, v2: str | None) -> None:
    v4 = system() | {"address": {"country": country}}
    assert systems.v2_system(v4)["country"] == v2


def test_iso8601_of_an_epoch_no_calendar_date_matches_is_a_503() -> None:
    reply: dict[str, Any] = {
        "current_power": 1,
        "energy_lifetime": 9,
        "energy_today": 2,
        "modules": 1,
    }
    reply |= {"size_w": 300, "source": "meter", "status": "normal", "operational_at": 1}
    reply |= {"last_report_at": 1796013037000, "last_interval_end_at": 1}
    req = request(NOW, datetime_format="iso8601")
    with pytest.raises(V2Error) as refused:
        summary.shape(req, system(), [reply])
    assert refused.value.status == 503
    assert summary.shape(request(NOW), system(), [reply]).body["last_report_at"] == 1796013037000


def test_a_time_in_local_mean_time_is_rendered_with_an_offset_rfc_3339_can_write() -> None:
    before_zones = -2_717_640_001  # 1883-11-18 in Los Angeles: offset -07:52:58
    assert iso8601(before_zones, ZoneInfo("America/Los_Angeles")) == "1883-11-18T19:59:59+00:00"
