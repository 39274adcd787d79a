"""energy_lifetime, consumption_lifetime, production_meter_readings: v2 from the same v4 paths."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from mappings import consumption_lifetime, energy_lifetime, production_meter_readings
from mappings.base import V2Error, V2Request
from tests.support import at, validate

NOW = int(dt.datetime(2024, 6, 15, 12, tzinfo=dt.UTC).timestamp())
SYSTEM = {
    "system_id": 66,
    "name": "Home",
    "timezone": "America/Los_Angeles",
    "status": "normal",
    "last_report_at": NOW - 600,
    "last_energy_at": NOW - 900,
    "operational_at": 1357023600,
}


def request(path: dict[str, str] | None = None, /, **query: str) -> V2Request:
    return V2Request(path or {"system_id": "66"}, tuple(query.items()), NOW)


def meta(status: str = "normal", last_report_at: int = NOW - 600) -> dict[str, Any]:
    return {
        "status": status,
        "last_report_at": last_report_at,
        "last_energy_at": last_report_at - 300,
        "operational_at": 1357023600,
    }


def energy_reply(start: str = "2024-06-01", days: int = 14, **extra: Any) -> dict[str, Any]:
    """A v4 energy_lifetime body as the v4 spec shows it (production=all adds two series)."""
    return {
        "system_id": 66,
        "start_date": start,
        "meter_start_date": "2024-06-03",
        "production": [1000 + day for day in range(days)],
        "micro_production": [900 + day for day in range(days)],
        "meter_production": [0, 0] + [1000 + day for day in range(2, days)],
        "meta": meta(),
        **extra,
    }


WHOLE = (("production", "all"),)  # every energy_lifetime request shares this one call
YESTERDAY_ENDS = int(dt.datetime(2024, 6, 15, 7, tzinfo=dt.UTC).timestamp())  # midnight in LA


@pytest.mark.parametrize(
    ("query", "through"),
    [
        ({"start_date": "2024-06-01", "end_date": "2024-06-14", "production": "all"}, None),
        ({"start_date": "2024-06-01", "end_date": "2024-06-05"}, "2024-06-06"),
        ({}, None),
        ({"production": "micro"}, None),
        ({"end_date": "2030-01-01"}, None),  # v4 ends at yesterday
    ],
)
def test_every_energy_lifetime_request_plans_the_whole_lifetime(
    query: dict[str, str], through: str | None
) -> None:
    [call] = energy_lifetime.plan(request(**query), SYSTEM)
    assert call.path == "/systems/66/energy_lifetime"
    assert call.params == WHOLE
    ends = at(f"{through}T00:00", "America/Los_Angeles") if through else YESTERDAY_ENDS
    assert call.through == ends


@pytest.mark.parametrize("module", [energy_lifetime, consumption_lifetime])
@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"start_date": "2024-06-16"}, "Requested date is in the future"),
        ({"start_date": "2024-06-15"}, "Requested date range is invalid for this system"),
    ],
)
def test_a_start_v4_would_refuse_is_its_422_without_a_call(
    module: Any, query: dict[str, str], message: str
) -> None:
    with pytest.raises(V2Error) as caught:
        module.plan(request(**query), SYSTEM)
    assert (caught.value.status, caught.value.body["message"]) == (422, message)


@pytest.mark.parametrize("module", [energy_lifetime, consumption_lifetime])
@pytest.mark.parametrize(
    "query",
    [
        {"start_date": "2024-13-01"},
        {"end_date": "yesterday"},
        {"start_date": "2024-06-10", "end_date": "2024-06-01"},
    ],
)
def test_malformed_or_reversed_dates_are_v2_422(module: Any, query: dict[str, str]) -> None:
    with pytest.raises(V2Error) as caught:
        module.plan(request(**query), SYSTEM)
    assert caught.value.status == 422
    assert caught.value.body["reason"] == caught.value.body["message"]  # v2's text in reason
    validate(module.ROUTE, 422, caught.value.body)


def test_bad_system_id_is_v2_401() -> None:
    with pytest.raises(V2Error) as caught:
        energy_lifetime.plan(request({"system_id": "abc"}), SYSTEM)
    assert caught.value.status == 401


def test_energy_lifetime_body_has_v2_shape() -> None:
    req = request(start_date="2024-06-01", end_date="2024-06-14")
    response = energy_lifetime.shape(req, None, [energy_reply()])
    assert response.status == 200
    assert response.body == {
        "system_id": 66,
        "start_date": "2024-06-01",
        "production": [1000 + day for day in range(14)],
        "meter_start_date": "2024-06-03",
        "meta": meta(),
    }
    validate(energy_lifetime.ROUTE, 200, response.body)


def test_energy_lifetime_production_all_keeps_micro_and_meter_series() -> None:
    req = request(end_date="2024-06-14", production="all")
    body = energy_lifetime.shape(req, SYSTEM, [energy_reply()]).body
    assert body["micro_production"] == [900 + day for day in range(14)]
    assert body["meter_production"][:3] == [0, 0, 1002]
    validate(energy_lifetime.ROUTE, 200, body)


def test_default_end_is_the_last_reported_day_when_before_yesterday() -> None:
    silent_since = int(dt.datetime(2024, 6, 10, 20, tzinfo=dt.UTC).timestamp())  # 13:00 in LA
    reply = energy_reply(meta=meta("comm", silent_since))
    assert energy_lifetime.needs_system(request())
    body = energy_lifetime.shape(request(production="all"), SYSTEM, [reply]).body
    assert body["production"] == [1000 + day for day in range(10)]  # 2024-06-01 .. 2024-06-10
    assert len(body["micro_production"]) == len(body["meter_production"]) == 10
    assert body["meta"]["status"] == "comm"


def test_default_end_follows_the_system_zone() -> None:
    late_evening = int(dt.datetime(2024, 6, 11, 3, tzinfo=dt.UTC).timestamp())  # 06-10 in LA
    reply = energy_reply(meta=meta("comm", late_evening))
    assert len(energy_lifetime.shape(request(), SYSTEM, [reply]).body["production"]) == 10
    berlin = {**SYSTEM, "timezone": "Europe/Berlin"}
    assert len(energy_lifetime.shape(request(), berlin, [reply]).body["production"]) == 11


def test_explicit_end_date_is_not_trimmed() -> None:
    reply = energy_reply(meta=meta("comm", NOW - 10 * 86400))
    req = request(end_date="2024-06-14")
    assert energy_lifetime.needs_system(req)  # the zone says which day is yesterday
    assert len(energy_lifetime.shape(req, SYSTEM, [reply]).body["production"]) == 14


@pytest.mark.parametrize(
    ("query", "start", "days"),
    [
        ({"start_date": "2024-05-01", "end_date": "2024-06-03"}, "2024-06-01", 3),
        ({"start_date": "2024-06-05", "end_date": "2024-06-07"}, "2024-06-05", 3),
        ({"start_date": "2024-06-10", "end_date": "2030-01-01"}, "2024-06-10", 5),
    ],
)
def test_the_range_is_cut_from_the_lifetime_as_v4_would_answer_it(
    query: dict[str, str], start: str, days: int
) -> None:
    body = energy_lifetime.shape(request(production="all", **query), SYSTEM, [energy_reply()]).body
    first = dt.date.fromisoformat(start).day - 1  # energy_reply starts on 2024-06-01
    assert body["start_date"] == start
    assert body["production"] == [1000 + day for day in range(first, first + days)]
    assert body["micro_production"] == [900 + day for day in range(first, first + days)]
    assert len(body["meter_production"]) == days
    validate(energy_lifetime.ROUTE, 200, body)


def test_a_range_before_the_lifetime_began_is_v4s_422() -> None:
    req = request(start_date="2024-05-01", end_date="2024-05-31")
    with pytest.raises(V2Error) as caught:
        energy_lifetime.shape(req, SYSTEM, [energy_reply()])
    assert caught.value.body["message"] == "Requested date range is invalid for this system"
    validate(energy_lifetime.ROUTE, 422, caught.value.body)


def test_v4_only_status_maps_onto_v2_enum() -> None:
    reply = energy_reply(meta=meta("encharge_issue"))
    body = energy_lifetime.shape(request(end_date="2024-06-14"), None, [reply]).body
    assert body["meta"]["status"] == "battery"
    validate(energy_lifetime.ROUTE, 200, body)


def test_never_produced_system_keeps_null_start_date_and_empty_series() -> None:
    reply: dict[str, Any] = {"system_id": 66, "start_date": None, "production": [], "meta": meta()}
    body = energy_lifetime.shape(request(), SYSTEM, [reply]).body
    assert body["start_date"] is None
    assert body["production"] == []


def test_iso8601_renders_meta_in_system_zone() -> None:
    req = request(end_date="2024-06-14", datetime_format="iso8601")
    assert energy_lifetime.needs_system(req)
    body = energy_lifetime.shape(req, SYSTEM, [energy_reply()]).body
    assert body["meta"]["operational_at"] == "2012-12-31T23:00:00-08:00"
    assert body["meta"]["last_report_at"].endswith("-07:00")


def consumption_reply(days: int = 6) -> dict[str, Any]:
    return {
        "system_id": 66,
        "start_date": "2024-06-01",
        "consumption": [15000 + day for day in range(days)],
        "meta": meta(),
    }


def test_consumption_lifetime_plan_and_shape() -> None:
    req = request(start_date="2024-06-01", end_date="2024-06-06")
    [call] = consumption_lifetime.plan(req, SYSTEM)
    assert call.path == "/systems/66/consumption_lifetime"
    assert (call.params, call.through) == ((), at("2024-06-07T00:00", "America/Los_Angeles"))
    response = consumption_lifetime.shape(req, SYSTEM, [consumption_reply(days=14)])
    assert response.body == {
        "system_id": 66,
        "start_date": "2024-06-01",
        "consumption": [15000 + day for day in range(6)],
        "meta": meta(),
    }
    validate(consumption_lifetime.ROUTE, 200, response.body)


def test_consumption_lifetime_without_meter_is_204() -> None:
    empties: tuple[object, ...] = (None, "", {})
    for empty in empties:
        response = consumption_lifetime.shape(request(), SYSTEM, [empty])
        assert (response.status, response.body) == (204, None)
        validate(consumption_lifetime.ROUTE, 204, response.body)


def test_meter_readings_pass_end_at_and_validate_it() -> None:
    [call] = production_meter_readings.plan(request(end_at="1473901755"), None)
    assert call.path == "/systems/66/production_meter_readings"
    assert call.params == (("end_at", "1473901755"),)
    assert production_meter_readings.plan(request(), None)[0].params == ()
    for bad in ("soon", "-5", "1e9"):
        with pytest.raises(V2Error) as caught:
            production_meter_readings.plan(request(end_at=bad), None)
        assert caught.value.status == 422


def meter_readings_reply() -> dict[str, Any]:
    return {
        "system_id": 66,
        "meter_readings": [
            {"serial_number": "123123123123EIM1", "value": 6180635, "read_at": 1473901200},
            {"serial_num": "123123123123EIM2", "value": 42, "read_at": 1473900300},
        ],
        "meta": meta("meter"),
    }


def test_meter_readings_body_has_v2_field_names() -> None:
    req = request(end_at="1473901755")
    assert not production_meter_readings.needs_system(req)
    body = production_meter_readings.shape(req, None, [meter_readings_reply()]).body
    assert body == {
        "system_id": 66,
        "meter_readings": [
            {"serial_number": "123123123123EIM1", "value": 6180635, "read_at": 1473901200},
            {"serial_number": "123123123123EIM2", "value": 42, "read_at": 1473900300},
        ],
        "meta": meta("meter"),
    }
    validate(production_meter_readings.ROUTE, 200, body)


def test_meter_readings_iso8601() -> None:
    req = request(datetime_format="iso8601")
    assert production_meter_readings.needs_system(req)
    body = production_meter_readings.shape(req, SYSTEM, [meter_readings_reply()]).body
    assert body["meter_readings"][0]["read_at"] == "2016-09-14T18:00:00-07:00"
