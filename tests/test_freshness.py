"""Freshness rules: endpoint names, live interval boundaries, past windows, lag, statuses."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from proxy.cache.freshness import endpoint_name, ttl
from proxy.config import Cache

SETTINGS = Cache(reporting_lag=3600, past_ttl=86_400, error_ttl=60)
DAY = 86_400


def at(text: str) -> int:
    """Epoch of an ISO 8601 instant with offset."""
    return int(dt.datetime.fromisoformat(text).timestamp())


NOW = at("2024-06-10T12:02:17+00:00")


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/systems", "systems"),
        ("/systems/", "systems"),
        ("/systems/retrieve_system_id", "retrieve_system_id"),
        ("/systems/inverters_summary_by_envoy_or_site", "inverters_summary"),
        ("/systems/42", "system"),
        ("/systems/42/summary", "summary"),
        ("/systems/42/devices", "devices"),
        ("/systems/42/telemetry/production_micro", "production_micro"),
        ("/systems/42/telemetry/production_meter", "production_meter"),
        ("/systems/42/telemetry/consumption_meter", "consumption_meter"),
        ("/systems/42/telemetry/battery", "battery"),
        ("/systems/42/energy_lifetime", "energy_lifetime"),
        ("/systems/42/consumption_lifetime", "consumption_lifetime"),
        ("/systems/42/production_meter_readings", "production_meter_readings"),
        ("/systems/42/rgm_stats", "rgm_stats"),
        ("/systems/42/devices/micros/482100000001/telemetry", "micro_telemetry"),
        ("/systems/42/devices/acbs/AB1/telemetry", "acb_telemetry"),
        ("/systems/42/devices/encharges/EN1/telemetry", "encharge_telemetry"),
        ("/systems/42/summary?key=x", "summary"),
        ("/systems/search", "systems_search"),
        ("/systems/config/42/battery_settings", "battery_settings"),
        ("/systems/42/battery_lifetime", "battery_lifetime"),
        ("/systems/42/live_data", "live_data"),
        ("/systems/42/unknown_endpoint", "other"),
        ("/oauth/token", "other"),
    ],
)
def test_endpoint_name(path: str, name: str) -> None:
    assert endpoint_name(path) == name


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/systems/42/summary", 300),
        ("/systems/42/devices", 3600),
        ("/systems/42", 3600),
        ("/systems/retrieve_system_id", DAY),
        ("/systems", 900),
        ("/systems/inverters_summary_by_envoy_or_site", 900),
        ("/systems/42/live_data", 60),
    ],
)
def test_fixed_defaults(path: str, expected: int) -> None:
    assert ttl(path, (), NOW, 200, SETTINGS) == expected


def test_overrides_replace_defaults_and_live_ttls() -> None:
    settings = Cache(ttl={"summary": 5, "production_micro": 30})
    assert ttl("/systems/1/summary", (), NOW, 200, settings) == 5
    assert ttl("/systems/1/telemetry/production_micro", (), NOW, 200, settings) == 30
    past = [("start_at", str(NOW - 5 * DAY))]
    assert ttl("/systems/1/telemetry/production_micro", past, NOW, 200, settings) == 86_400


@pytest.mark.parametrize(
    ("clock", "micro", "meter"),
    [
        ("2024-06-10T12:00:00+00:00", 300, 900),
        ("2024-06-10T12:00:01+00:00", 299, 899),
        ("2024-06-10T12:04:59+00:00", 1, 601),
        ("2024-06-10T12:14:30+00:00", 30, 30),
    ],
)
def test_live_telemetry_runs_to_the_next_interval(clock: str, micro: int, meter: int) -> None:
    now = at(clock)
    assert ttl("/systems/1/telemetry/production_micro", (), now, 200, SETTINGS) == micro
    assert ttl("/systems/1/devices/micros/S1/telemetry", (), now, 200, SETTINGS) == micro
    for kind in ("production_meter", "consumption_meter", "battery"):
        assert ttl(f"/systems/1/telemetry/{kind}", (), now, 200, SETTINGS) == meter
    assert ttl("/systems/1/rgm_stats", (), now, 200, SETTINGS) == meter


ZONES = [ZoneInfo(z) for z in ("America/New_York", "Europe/Berlin", "Australia/Adelaide")]
ZONES += [ZoneInfo(z) for z in ("Asia/Kathmandu", "Pacific/Chatham", "America/St_Johns")]


@given(st.integers(at("2020-01-01T00:00:00+00:00"), at("2030-01-01T00:00:00+00:00")))
def test_interval_boundaries_are_local_marks_in_every_zone_and_season(now: int) -> None:
    for path, step in (("telemetry/production_micro", 300), ("telemetry/consumption_meter", 900)):
        seconds = ttl(f"/systems/1/{path}", (), now, 200, SETTINGS)
        assert 0 < seconds <= step
        for zone in ZONES:
            local = dt.datetime.fromtimestamp(now + seconds, zone)
            assert local.second == 0
            assert local.minute % (step // 60) == 0


@pytest.mark.parametrize(
    "clock",
    ["2024-03-10T06:58:20+00:00", "2024-11-03T05:59:59+00:00", "2024-10-27T00:58:00+00:00"],
)
def test_dst_transitions_do_not_shift_boundaries(clock: str) -> None:
    now = at(clock)
    seconds = ttl("/systems/1/telemetry/production_meter", (), now, 200, SETTINGS)
    for zone in ZONES[:2]:
        before = dt.datetime.fromtimestamp(now, zone)
        after = dt.datetime.fromtimestamp(now + seconds, zone)
        assert (after.minute, after.second) in ((0, 0), (15, 0), (30, 0), (45, 0))
        assert after.astimezone(dt.UTC) - before.astimezone(dt.UTC) <= dt.timedelta(minutes=15)


@pytest.mark.parametrize(
    ("granularity", "span"), [(None, DAY), ("day", DAY), ("week", 7 * DAY), ("15mins", 900)]
)
def test_window_end_uses_granularity(granularity: str | None, span: int) -> None:
    params = [("granularity", granularity)] if granularity else []
    path = "/systems/1/telemetry/production_micro"
    lag = SETTINGS.reporting_lag
    just_past = [("start_at", str(NOW - lag - span - 1)), *params]
    within_lag = [("start_at", str(NOW - lag - span + 1)), *params]
    assert ttl(path, just_past, NOW, 200, SETTINGS) == SETTINGS.past_ttl
    assert ttl(path, within_lag, NOW, 200, SETTINGS) <= 300


def test_window_including_now_is_live() -> None:
    path = "/systems/1/telemetry/consumption_meter"
    today = [("start_at", str(NOW - 3600)), ("granularity", "day")]
    assert ttl(path, today, NOW, 200, SETTINGS) <= 900
    assert ttl(path, {"start_at": str(NOW - 3600)}, NOW, 200, SETTINGS) <= 900


def test_reporting_lag_keeps_recent_windows_live() -> None:
    path = "/systems/1/telemetry/production_meter"
    params = [("start_at", str(NOW - DAY - 1800))]  # ended 30 minutes ago
    assert ttl(path, params, NOW, 200, Cache(reporting_lag=3600)) <= 900
    assert ttl(path, params, NOW, 200, Cache(reporting_lag=600, past_ttl=7)) == 7


def test_start_date_is_read_as_the_latest_local_midnight() -> None:
    path = "/systems/1/telemetry/production_micro"
    day = dt.datetime.fromtimestamp(NOW, dt.UTC).date()
    two_days_ago = (day - dt.timedelta(days=2)).isoformat()
    yesterday = (day - dt.timedelta(days=1)).isoformat()
    assert ttl(path, [("start_date", two_days_ago)], NOW, 200, SETTINGS) == SETTINGS.past_ttl
    assert ttl(path, [("start_date", yesterday)], NOW, 200, SETTINGS) <= 300


def test_rgm_stats_and_meter_readings_windows() -> None:
    week_ago = NOW - 8 * DAY
    rgm = "/systems/1/rgm_stats"
    assert ttl(rgm, [("start_at", str(week_ago))], NOW, 200, SETTINGS) == SETTINGS.past_ttl
    explicit = [("start_at", str(week_ago)), ("end_at", str(NOW - 60))]
    assert ttl(rgm, explicit, NOW, 200, SETTINGS) <= 900
    readings = "/systems/1/production_meter_readings"
    assert ttl(readings, [("end_at", str(NOW - DAY))], NOW, 200, SETTINGS) == SETTINGS.past_ttl
    assert ttl(readings, (), NOW, 200, SETTINGS) <= 900


def test_lifetimes_live_until_the_next_hour_and_past_end_dates() -> None:
    path = "/systems/1/energy_lifetime"
    now = at("2024-06-10T12:20:00+00:00")
    assert ttl(path, (), now, 200, SETTINGS) == 2400
    assert ttl("/systems/1/consumption_lifetime", (), now, 200, SETTINGS) == 2400
    old = [("start_date", "2024-01-01"), ("end_date", "2024-05-31")]
    assert ttl(path, old, now, 200, SETTINGS) == SETTINGS.past_ttl
    assert ttl(path, [("end_date", "2024-06-09")], now, 200, SETTINGS) == 2400


@pytest.mark.parametrize("status", [404, 422])
def test_not_found_and_unprocessable_keep_error_ttl(status: int) -> None:
    assert ttl("/systems/1/summary", (), NOW, status, SETTINGS) == SETTINGS.error_ttl


@pytest.mark.parametrize("status", [401, 403, 429, 500, 502, 503, 504, 400, 405, 302])
def test_other_failures_are_never_cached(status: int) -> None:
    for path in ("/systems/1/summary", "/systems/1/telemetry/production_micro"):
        past = [("start_at", str(NOW - 30 * DAY))]
        assert ttl(path, past, NOW, status, SETTINGS) == 0


def test_params_may_be_a_mapping_or_pairs_and_bad_values_mean_live() -> None:
    path = "/systems/1/telemetry/production_micro"
    old = str(NOW - 30 * DAY)
    assert ttl(path, {"start_at": old}, NOW, 200, SETTINGS) == SETTINGS.past_ttl
    assert ttl(path, [("start_at", old), ("start_at", "0")], NOW, 200, SETTINGS) == 86_400
    assert ttl(path, [("start_at", "yesterday")], NOW, 200, SETTINGS) <= 300
    assert ttl(path, [("start_date", "2024-13-01")], NOW, 200, SETTINGS) <= 300
