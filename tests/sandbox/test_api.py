"""The v4 endpoints over real HTTP: auth, visibility, paging, shapes and date rules."""

from __future__ import annotations

from datetime import date

import httpx2
import orjson
import pytest

from proxy.sandbox import DEMO

from .conftest import NOW, Api, password_token

DAY_1001 = date(2026, 6, 1)


def midnight_la(day: date) -> int:
    """Local midnight of ``day`` in America/Los_Angeles (PDT in June)."""
    return int((day - date(1970, 1, 1)).total_seconds()) + 7 * 3600


@pytest.mark.parametrize(
    ("key", "auth", "details"),
    [
        (None, True, "Invalid or missing API key"),
        ("wrong", True, "Invalid or missing API key"),
        (DEMO.api_key, False, "User is not authorized"),
        (DEMO.watt_api_key, True, "Access token was not issued to this API key's application"),
    ],
)
def test_key_and_bearer_are_both_required(
    http: httpx2.Client, demo_token: str, key: str | None, auth: bool, details: str
) -> None:
    params = {"key": key} if key else {}
    headers = {"Authorization": f"Bearer {demo_token}"} if auth else {}
    response = http.get("/api/v4/systems", params=params, headers=headers)
    assert response.status_code == 401
    assert response.json() == {"message": "Not Authorized", "details": details, "code": 401}


def test_strangers_get_404(api: Api, fleet_token: str) -> None:
    response = api("/systems/1001/summary", token=fleet_token)
    assert response.status_code == 404
    assert response.json() == {
        "message": "Not Found",
        "details": 'System not found for {:id=>"1001"}',
        "code": 404,
    }
    assert api("/systems/abc").status_code == 404


def test_systems_paging_and_fields(api: Api, fleet_token: str) -> None:
    first = api("/systems", params={"size": 100}).json()
    assert [s["system_id"] for s in first["systems"]] == [1004, 1003, 1002, 1001]
    assert {"reference", "energy_lifetime", "energy_today", "system_size"} - set(
        first["systems"][0]
    ) == {"reference"}
    page = api("/systems", token=fleet_token, params={"page": 3, "size": 100}).json()
    assert (page["total"], page["current_page"], page["size"], page["count"]) == (300, 3, 100, 100)
    assert page["items"] == "systems"
    assert page["systems"][0]["name"] == "Fleet Site 0100"
    assert page["systems"][0]["reference"] == "FLEET-0100"
    assert api("/systems", params={"size": 101}).status_code == 422
    by_name = api("/systems", params={"sort_by": "name"}).json()["systems"]
    assert by_name[0]["name"] == "Big Commercial"


def test_search_filters_and_rejects_bad_bodies(api: Api, fleet_token: str) -> None:
    body = {"system": {"statuses": ["retired"], "connection_type": "wifi"}, "sort_by": "id"}
    found = api("/systems/search", token=fleet_token, json=body).json()
    assert found["total"] > 0
    assert all(s["status"] == "retired" for s in found["systems"])
    assert all(s["connection_type"] == "wifi" for s in found["systems"])
    assert api("/systems/search", json={}).status_code == 422
    assert api("/systems/search", json={"system": {"colour": "red"}}).status_code == 422
    named = api("/systems/search", json={"system": {"name": "cabin"}}).json()
    assert [s["system_id"] for s in named["systems"]] == [1003]


def test_devices_shape(api: Api) -> None:
    body = api("/systems/1002/devices").json()
    devices = body["devices"]
    assert set(devices) == {"micros", "meters", "gateways", "encharges", "acbs"}
    assert body["total_devices"] == 20 + 2 + 1 + 2 + 1
    assert devices["gateways"][0]["serial_number"] == "122100001002"
    assert devices["gateways"][0]["emu_sw_version"]
    assert [m["serial_number"] for m in devices["meters"]] == [
        "122100001002EIM1",
        "122100001002EIM2",
    ]
    assert set(api("/systems/1001/devices").json()["devices"]) == {"micros", "gateways"}
    cellular = api("/systems/1003/devices").json()["devices"]["gateways"][0]
    assert "cellular_modem" in cellular


def test_retrieve_system_id(api: Api) -> None:
    assert api("/systems/retrieve_system_id", params={"serial_num": "122100001004"}).json() == {
        "system_id": 1004
    }
    missing = api("/systems/retrieve_system_id", params={"serial_num": "999"})
    assert missing.status_code == 404
    assert missing.json()["details"] == 'System not found for {:serial_num=>"999"}'
    assert api("/systems/retrieve_system_id").status_code == 422


def test_summary_matches_today_and_lifetime(api: Api) -> None:
    summary = api("/systems/1001/summary").json()
    today = api("/systems/1001/telemetry/production_micro").json()
    assert today["start_at"] == midnight_la(date(2026, 6, 21))
    assert summary["energy_today"] == sum(i["enwh"] for i in today["intervals"]) > 0
    lifetime = api("/systems/1001/energy_lifetime").json()
    assert summary["energy_lifetime"] == sum(lifetime["production"]) + summary["energy_today"]
    assert summary["summary_date"] == "2026-06-21"
    assert summary["source"] == "microinverters"
    listed = {s["system_id"]: s for s in api("/systems").json()["systems"]}
    assert listed[1001]["energy_lifetime"] == summary["energy_lifetime"]


def test_energy_lifetime_day_equals_production_micro_day(api: Api) -> None:
    day = DAY_1001.isoformat()
    lifetime = api("/systems/1001/energy_lifetime", params={"start_date": day, "end_date": day})
    micro = api(
        "/systems/1001/telemetry/production_micro", params={"start_at": midnight_la(DAY_1001)}
    ).json()
    assert len(micro["intervals"]) == 288
    assert lifetime.json()["production"] == [sum(i["enwh"] for i in micro["intervals"])]


def test_meter_system_merged_series_and_readings(api: Api) -> None:
    body = api("/systems/1004/energy_lifetime", params={"production": "all"}).json()
    assert body["production"] == body["meter_production"]
    assert len(body["micro_production"]) == len(body["production"])
    assert body["meter_start_date"] == body["start_date"]
    readings = api("/systems/1004/production_meter_readings").json()["meter_readings"]
    summary = api("/systems/1004/summary").json()
    assert readings[0]["serial_number"] == "122100001004EIM1"
    assert readings[0]["value"] == summary["energy_lifetime"]
    assert summary["source"] == "meter"


def test_week_of_meter_intervals(api: Api) -> None:
    start = NOW - 10 * 86400
    for kind in ("production_meter", "consumption_meter"):
        body = api(
            f"/systems/1004/telemetry/{kind}", params={"start_at": start, "granularity": "week"}
        ).json()
        assert len(body["intervals"]) == 672
        assert all(i["end_at"] % 900 == 0 for i in body["intervals"])
    short = api("/systems/1004/telemetry/production_micro", params={"granularity": "15mins"})
    assert len(short.json()["intervals"]) == 3


def test_consumption_lifetime_matches_meter_intervals(api: Api) -> None:
    day = date(2026, 6, 10)
    series = api(
        "/systems/1002/consumption_lifetime", params={"start_date": str(day), "end_date": str(day)}
    ).json()
    intervals = api(
        "/systems/1002/telemetry/consumption_meter", params={"start_date": str(day)}
    ).json()
    assert intervals["start_date"] == str(day)
    assert series["consumption"] == [sum(i["enwh"] for i in intervals["intervals"])]


def test_battery_and_device_telemetry(api: Api) -> None:
    battery = api("/systems/1002/telemetry/battery").json()
    assert battery["total_devices"] == 3
    assert battery["last_reported_aggregate_soc"].endswith("%")
    assert 0 <= battery["intervals"][-1]["soc"]["percent"] <= 100
    encharge = api("/systems/1002/devices/encharges/120010025001/telemetry").json()
    assert encharge["serial_number"] == "120010025001"
    assert {"last_reported_time", "last_reported_soc"} <= set(encharge)
    assert api("/systems/1002/devices/acbs/120010026001/telemetry").status_code == 200
    micro = api("/systems/1001/devices/micros/480010010001/telemetry").json()
    assert micro["total_devices"] == 1
    missing = api("/systems/1001/devices/micros/000/telemetry")
    assert missing.status_code == 404
    assert missing.json()["details"] == 'Device not found for {:serial_no=>"000"}'


def test_invalid_ranges_answer_422_with_ruby_hash(api: Api) -> None:
    old = NOW - 3 * 365 * 86400
    response = api("/systems/1001/telemetry/production_micro", params={"start_at": old})
    assert response.status_code == 422
    details = response.json()["details"]
    assert details.startswith(
        "Invalid request because of 'Requested date range is invalid for this system'. "
        f"{{:start_at=>{old}, :end_at=>"
    )
    assert ":first_interval=>" in details and ":last_interval=>" in details
    too_long = {"start_at": NOW - 9 * 86400, "end_at": NOW}
    assert api("/systems/1004/telemetry/production_meter", params=too_long).status_code == 422
    assert api("/systems/1004/rgm_stats", params=too_long).status_code == 422
    future = {"start_at": NOW + 3600}
    assert api("/systems/1004/telemetry/consumption_meter", params=future).status_code == 422
    assert api("/systems/1004/telemetry/battery", params={"start_at": "x"}).status_code == 422
    assert api("/systems/1004/telemetry/battery", params={"granularity": "hour"}).status_code == 422


def test_start_before_first_report_moves_to_first_day(api: Api) -> None:
    summary = api("/systems/1003").json()
    early = NOW - 300 * 86400
    body = api("/systems/1003/telemetry/production_micro", params={"start_at": early}).json()
    assert body["start_at"] == summary["operational_at"]
    lifetime = api("/systems/1003/energy_lifetime", params={"start_date": "2020-01-01"}).json()
    assert lifetime["start_date"] == summary["interconnect_date"]


def test_sparse_system_misses_intervals(api: Api) -> None:
    start = NOW - 5 * 86400
    body = api("/systems/1003/telemetry/production_micro", params={"start_at": start}).json()
    assert 150 < len(body["intervals"]) < 260
    reporting = {i["devices_reporting"] for i in body["intervals"] if i["enwh"]}
    assert len(reporting) > 1


def test_rgm_stats_shape(api: Api) -> None:
    body = api("/systems/1002/rgm_stats", params={"start_at": NOW - 86400}).json()
    assert body["total_devices"] == 1
    assert len(body["intervals"]) == len(body["meter_intervals"][0]["intervals"]) > 0
    assert isinstance(body["meter_intervals"][0]["intervals"][0]["wh_del"], float)
    assert api("/systems/1001/rgm_stats").json()["intervals"] == []


def test_lifetime_dates(api: Api) -> None:
    future = api("/systems/1001/energy_lifetime", params={"start_date": "2030-01-01"})
    assert future.json()["details"] == "Requested date is in the future"
    assert (
        api("/systems/1001/energy_lifetime", params={"start_date": "2026-13-01"}).status_code == 422
    )
    capped = api("/systems/1001/energy_lifetime", params={"start_date": "2026-06-19"}).json()
    assert len(capped["production"]) == 2


def test_inverters_summary(api: Api) -> None:
    body = api("/systems/inverters_summary_by_envoy_or_site", params={"site_id": 1001}).json()
    micros = body[0]["micro_inverters"]
    assert len(micros) == 12
    assert micros[0]["envoy_serial_number"] == "122100001001"
    assert micros[0]["last_report_date"].endswith("-07:00")
    by_envoy = api(
        "/systems/inverters_summary_by_envoy_or_site",
        params={"envoy_serial_number": "122100001001"},
    )
    assert by_envoy.json() == body
    assert api("/systems/inverters_summary_by_envoy_or_site").status_code == 422


def test_unknown_v4_path_is_404_json(api: Api) -> None:
    response = api("/systems/1001/nonsense")
    assert response.status_code == 404
    assert response.json()["code"] == 404


def test_stats_count_api_calls(http: httpx2.Client, api: Api) -> None:
    api("/systems/1001")
    api("/systems/1001")
    stats = http.get("/_sandbox/stats").json()
    assert stats["api_calls"] == 2
    assert stats["api_calls_by_path"] == {"/api/v4/systems/1001": 2}
    assert stats["recent_calls"][-1]["status"] == 200


def test_fleet_user_cannot_see_demo_serials(http: httpx2.Client, api: Api) -> None:
    fleet = password_token(http, DEMO.fleet_username, DEMO.fleet_password)["access_token"]
    response = api(
        "/systems/retrieve_system_id", token=fleet, params={"serial_num": "122100001001"}
    )
    assert response.status_code == 404


def test_meter_readings_before_the_first_are_never_after_end_at(api: Api) -> None:
    first = api("/systems/1004").json()["operational_at"]
    for end_at in (first - 86400, first - 1, first, first + 1800):
        body = api("/systems/1004/production_meter_readings", params={"end_at": end_at}).json()
        assert all(r["read_at"] <= end_at for r in body["meter_readings"]), (end_at, body)
    assert body["meter_readings"], "a reading once the meter was in service"


@pytest.mark.parametrize(
    ("system", "battery", "meters"), [(1001, False, False), (1002, True, True), (1004, False, True)]
)
def test_live_data_has_the_figures_of_the_systems_kind(
    http: httpx2.Client, demo_token: str, system: int, battery: bool, meters: bool
) -> None:
    headers = {"Authorization": f"Bearer {demo_token}"}
    url = f"/api/v4/systems/{system}/live_data"
    with http.stream("GET", url, params={"key": DEMO.api_key}, headers=headers) as stream:
        assert stream.status_code == 200
        event = orjson.loads(next(line for line in stream.iter_lines() if line)[len("data: ") :])
    figures = event["data"]["data"]
    assert figures["system_id"] == system and isinstance(figures["pv_power"], int)
    assert ("battery_soc" in figures) is battery and ("battery_power" in figures) is battery
    assert ("consumption_power" in figures) is meters and ("grid_power" in figures) is meters
