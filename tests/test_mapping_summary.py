"""v2 summary: v4 summary for today, energy_lifetime for a past summary_date, v2 statuses."""

from __future__ import annotations

from typing import Any

import pytest

from mappings import summary
from mappings.base import V2Error, V4Call
from mappings.schema import STATUSES
from mappings.status import v2_status
from tests.support import SYSTEM_ID, at, meta, request, system, validate

ROUTE = "/api/v2/systems/{system_id}/summary"
LA = "America/Los_Angeles"
NOW = at("2026-03-08T12:00", LA)
V4_STATUSES = (
    "deactivated",
    "normal",
    "comm",
    "micro",
    "power",
    "meter",
    "meter_issue",
    "battery",
    "storage_idle",
    "encharge",
    "encharge_issue",
    "enpower",
    "enpower_issue",
    "retired",
    "not_monitored",
    "unused",
    "disabled",
    "debug",
    "info",
    "monitored",
    "muted",
    "warning",
    "error",
    "no_data",
    "rma",
    "unknown",
    "nsr",
    "any",
    "data_upload",
    "on_grid",
    "off_grid",
    "grid_unknown",
)

V4_SUMMARY: dict[str, Any] = {
    "system_id": SYSTEM_ID,
    "current_power": 3322,
    "energy_lifetime": 19050353,
    "energy_today": 25639,
    "last_interval_end_at": 1772989200,
    "last_report_at": 1772989791,
    "modules": 31,
    "operational_at": 1201362300,
    "size_w": 5250.7,
    "source": "microinverters",
    "status": "encharge_issue",
    "summary_date": "2026-03-08",
}

LIFETIME = {
    "system_id": SYSTEM_ID,
    "start_date": "2026-03-01",
    "meter_start_date": "2026-03-04",
    "production": [100, 200, 300, 400, 500],
    "meta": meta("enpower"),
}


def test_current_summary_is_one_v4_call_without_the_system() -> None:
    req = request(NOW)
    assert not summary.needs_system(req)
    assert summary.plan(req, None) == [V4Call(f"/systems/{SYSTEM_ID}/summary")]
    assert summary.follow(req, None, [V4_SUMMARY]) == []
    body = summary.shape(req, None, [V4_SUMMARY]).body
    validate(ROUTE, 200, body)
    lifetime_before_today = V4_SUMMARY["energy_lifetime"] - V4_SUMMARY["energy_today"]
    expected = {"size_w": 5250, "status": "battery", "energy_lifetime": lifetime_before_today}
    assert body == V4_SUMMARY | expected


def test_sparse_v4_summary_takes_the_times_v2_requires_from_the_system_details() -> None:
    req, sparse = request(NOW), {"status": "off_grid", "source": "x", "last_report_at": 17}
    sparse |= {"current_power": 0, "energy_lifetime": 9, "energy_today": 2, "modules": 1}
    sparse |= {"size_w": 300}
    [details_call] = summary.follow(req, None, [sparse])
    assert details_call == V4Call(f"/systems/{SYSTEM_ID}")
    details = system()
    body = summary.shape(req, None, [sparse, details]).body
    validate(ROUTE, 200, body)
    assert body["summary_date"] == "2026-03-08"
    assert body["source"] == "microinverters"
    assert body["current_power"] == 0
    assert body["last_interval_end_at"] == details["last_energy_at"]
    assert body["operational_at"] == details["operational_at"]
    assert body["last_report_at"] == 17


def test_times_known_nowhere_are_a_503_not_nulls() -> None:
    with pytest.raises(V2Error) as refused:
        summary.shape(request(NOW), None, [{"status": "normal"}, {"system_id": SYSTEM_ID}])
    assert refused.value.status == 503


def test_every_v4_status_maps_onto_v2s_enum() -> None:
    assert {v2_status(status) for status in V4_STATUSES} <= set(STATUSES)
    assert all(v2_status(status) == status for status in STATUSES)
    assert v2_status("something_new") in STATUSES


def test_past_summary_date_is_answered_from_energy_lifetime() -> None:
    req = request(NOW, summary_date="2026-03-04")
    assert summary.needs_system(req)
    whole_lifetime = (("production", "all"),)  # shared by every lifetime request
    through = at("2026-03-05T00:00", LA)  # the answer needs the day up to its end
    assert summary.plan(req, system()) == [
        V4Call(f"/systems/{SYSTEM_ID}/energy_lifetime", whole_lifetime, through)
    ]
    body = summary.shape(req, system(), [LIFETIME]).body
    validate(ROUTE, 200, body)
    expected_meta = meta("enpower")
    assert body == {
        "current_power": 0,
        "energy_lifetime": 100 + 200 + 300,
        "energy_today": 400,
        "last_interval_end_at": expected_meta["last_energy_at"],
        "last_report_at": expected_meta["last_report_at"],
        "modules": 0,
        "operational_at": expected_meta["operational_at"],
        "size_w": 0,
        "source": "meter",
        "status": v2_status("enpower"),
        "summary_date": "2026-03-04",
        "system_id": SYSTEM_ID,
    }


@pytest.mark.parametrize(
    ("day", "today", "lifetime", "source"),
    [
        ("2026-03-01", 100, 0, "microinverters"),
        ("2026-03-03", 300, 300, "microinverters"),
        ("2026-03-05", 500, 1000, "meter"),
        ("2026-03-07", 0, 1500, "meter"),  # a day the reply does not hold yet
    ],
)
def test_past_day_index_in_the_lifetime_series(
    day: str, today: int, lifetime: int, source: str
) -> None:
    body = summary.shape(request(NOW, summary_date=day), system(), [LIFETIME]).body
    validate(ROUTE, 200, body)
    assert (body["energy_today"], body["energy_lifetime"], body["source"]) == (
        today,
        lifetime,
        source,
    )


def test_a_day_before_the_lifetime_began_is_v4s_422() -> None:
    with pytest.raises(V2Error) as refused:
        summary.shape(request(NOW, summary_date="2026-02-01"), system(), [LIFETIME])
    assert refused.value.status == 422
    assert refused.value.body["message"] == "Requested date range is invalid for this system"
    validate(ROUTE, 422, refused.value.body)


def test_a_system_that_never_produced_has_nothing_on_any_day() -> None:
    reply: dict[str, Any] = {
        "production": [],
        "start_date": None,
    }  # v4: start_date null, no production
    body = summary.shape(request(NOW, summary_date="2026-01-02"), system(), [reply]).body
    validate(ROUTE, 200, body)
    assert (body["energy_today"], body["energy_lifetime"]) == (0, 0)
    assert body["status"] == "normal"


def test_today_is_a_current_request() -> None:
    req = request(NOW, summary_date="2026-03-08")
    assert summary.plan(req, system()) == [V4Call(f"/systems/{SYSTEM_ID}/summary")]


@pytest.mark.parametrize(
    "day", ["2026-03-09", "2030-01-01", "yesterday", "2026-02-30", "03/01/2026"]
)
def test_future_or_unparseable_summary_date_is_v2_422(day: str) -> None:
    with pytest.raises(V2Error) as raised:
        summary.plan(request(NOW, summary_date=day), system())
    assert raised.value.status == 422
    validate(ROUTE, 422, raised.value.body)


def test_today_is_the_system_zones_day() -> None:
    late_evening = at("2026-03-07T23:30", LA)
    with pytest.raises(V2Error):
        summary.plan(request(late_evening, summary_date="2026-03-08"), system())
    berlin = summary.plan(request(late_evening, summary_date="2026-03-08"), system("Europe/Berlin"))
    assert berlin == [V4Call(f"/systems/{SYSTEM_ID}/summary")]


def test_iso8601_renders_times_in_the_system_zone() -> None:
    req = request(NOW, datetime_format="iso8601")
    assert summary.needs_system(req)
    body = summary.shape(req, system(), [V4_SUMMARY]).body
    validate(ROUTE, 200, body)
    assert body["operational_at"] == "2008-01-26T07:45:00-08:00"
    assert body["last_report_at"] == "2026-03-08T10:09:51-07:00"
    assert body["summary_date"] == "2026-03-08"
