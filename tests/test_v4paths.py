"""The broker route's allow-list and local v4 date rules (pure)."""

from __future__ import annotations

import pytest

from proxy.v4.paths import allowed_methods, date_problem
from tests.support import present

NOW = 1_764_000_000
DAY = 86400


@pytest.mark.parametrize(
    ("path", "methods"),
    [
        ("/systems", {"GET"}),
        ("/systems/1001/summary", {"GET"}),
        ("/systems/1001/telemetry/production_micro", {"GET"}),
        ("/systems/1001/devices/micros/ABC123/telemetry", {"GET"}),
        ("/systems/search", {"POST"}),
        ("/users/search", {"GET"}),
        ("/systems/config/1001/storm_guard", {"GET", "PUT"}),
        ("/partner/activations/55", {"GET", "PUT", "DELETE"}),
        ("/users", {"POST"}),
    ],
)
def test_published_paths_are_allowed_with_their_methods(path: str, methods: set[str]) -> None:
    assert set(allowed_methods(path)) == methods


@pytest.mark.parametrize(
    "path",
    [
        "",
        "/",
        "/systems/",
        "/systems/1001/../1002/summary",
        "/systems/..",
        "/systems/1001/summary/..",
        "/systems/%2e%2e/summary",
        "/systems/1001%2Fsummary",
        "/systems/1001%2fsummary",
        "//systems/1001/summary",
        "/systems//1001/summary",
        "/systems/1001/summary%00",
        "/systems/1001/summary?x=1",
        "/systems/1001\\summary",
        "/oauth/token",
        "/_sandbox/stats",
        "/systems/1001/unknown_endpoint",
        "/systems/1001/summary/extra",
        "/SYSTEMS/1001/summary",
        "http://evil.example/systems",
        "/systems/@evil.example/summary",
        "/systems/" + "1" * 100 + "/summary",
    ],
)
def test_unpublished_or_unsafe_paths_are_refused(path: str) -> None:
    assert allowed_methods(path) == ()


def test_start_older_than_two_years_is_refused_locally() -> None:
    old = [("start_at", str(NOW - 731 * DAY))]
    assert "2 years" in present(date_problem("/systems/1/telemetry/production_micro", old, NOW))
    assert "2 years" in present(date_problem("/systems/1/rgm_stats", old, NOW))
    assert date_problem("/systems/1/summary", old, NOW) is None


def test_span_over_a_week_is_refused_for_telemetry_only() -> None:
    span = [("start_at", str(NOW - 10 * DAY)), ("end_at", str(NOW - 2 * DAY))]
    assert "one week" in present(date_problem("/systems/1/telemetry/consumption_meter", span, NOW))
    assert "one week" in present(date_problem("/systems/1/devices/acbs/X1/telemetry", span, NOW))
    assert date_problem("/systems/1/rgm_stats", span, NOW) is None


def test_dates_as_strings_and_reversed_windows() -> None:
    dates = [("start_date", "2025-11-01"), ("end_date", "2025-11-20")]
    assert "one week" in present(date_problem("/systems/1/telemetry/battery", dates, NOW))
    reversed_window = [("start_at", str(NOW - DAY)), ("end_at", str(NOW - 2 * DAY))]
    assert "before start" in present(date_problem("/systems/1/rgm_stats", reversed_window, NOW))
    fine = [("start_at", str(NOW - DAY)), ("end_at", str(NOW))]
    assert date_problem("/systems/1/telemetry/production_micro", fine, NOW) is None
