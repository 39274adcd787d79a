"""v2 stats from v4 production_micro: windows, DST days, clipping, too-old starts, iso8601."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from mappings import stats
from mappings.base import V2Error, V4Call
from proxy.v4 import shapes
from tests import support
from tests.support import SYSTEM_ID, at, ends, meta, request, shaped, system, validate, value

ROUTE = "/api/v2/systems/{system_id}/stats"
FIELDS = ("powr", "enwh", "devices_reporting")
LA = "America/Los_Angeles"
PATH = f"/systems/{SYSTEM_ID}/telemetry/production_micro"


def answer(tz: str, now: int, **query: str) -> tuple[list[V4Call], dict[str, Any]]:
    """The stats body for ``query`` at ``now``, each call answered as v4 would."""
    return shaped(stats, ROUTE, now, tz, 300, ("powr", "enwh"), **query)


def test_needs_the_system_for_its_zone() -> None:
    assert stats.needs_system(request(0))


def test_default_window_is_local_midnight_today_until_now() -> None:
    now = at("2026-06-10T13:02", LA)
    midnight = at("2026-06-10T00:00", LA)
    calls, body = answer(LA, now)
    assert calls == [V4Call(PATH, (("start_at", str(midnight)), ("granularity", "day")))]
    assert ends(body) == list(range(midnight + 300, at("2026-06-10T13:00", LA) + 1, 300))
    assert body["intervals"][0] == {
        "end_at": midnight + 300,
        "powr": value(midnight + 300),
        "enwh": value(midnight + 300),
        "devices_reporting": 3,
    }
    assert body["system_id"] == SYSTEM_ID
    assert body["total_devices"] == 3
    assert body["meta"] == meta()


def test_start_is_floored_to_five_minutes_and_the_call_is_for_the_whole_local_day() -> None:
    start = at("2026-06-10T08:00", LA)
    calls, body = answer(LA, start + 7200, start_at=str(start + 299), end_at=str(start + 1800))
    assert dict(calls[0].params)["start_at"] == str(at("2026-06-10T00:00", LA))
    assert ends(body) == list(range(start + 300, start + 1801, 300))


def test_interval_at_start_is_excluded_and_at_end_included() -> None:
    start, end = at("2026-06-10T08:00", LA), at("2026-06-10T09:00", LA)
    req = request(end + 86400, start_at=str(start), end_at=str(end))
    edges = [start - 300, start, start + 300, end - 300, end, end + 300]
    intervals = [{"end_at": t, "powr": 1, "enwh": 0, "devices_reporting": 1} for t in edges]
    body = stats.shape(req, system(), [{"total_devices": 1, "intervals": intervals}]).body
    validate(ROUTE, 200, body)
    assert ends(body) == [start + 300, end - 300, end]
    assert body["intervals"][0] == {
        "end_at": start + 300,
        "powr": 1,
        "enwh": 0,
        "devices_reporting": 1,
    }


def test_end_is_capped_one_day_after_start() -> None:
    start = at("2026-06-10T06:00", LA)
    calls, body = answer(LA, start + 5 * 86400, start_at=str(start), end_at=str(start + 3 * 86400))
    assert len(calls) == 2  # the local days of June 10 and June 11
    assert ends(body)[-1] == start + 86400
    assert len(body["intervals"]) == 288


@pytest.mark.parametrize(
    ("tz", "day", "next_day", "hours", "calls"),
    [
        (LA, "2026-03-08", "2026-03-09", 23, 1),
        (LA, "2026-11-01", "2026-11-02", 25, 2),
        ("Europe/Berlin", "2026-03-29", "2026-03-30", 23, 1),
        ("Europe/Berlin", "2026-10-25", "2026-10-26", 25, 2),
    ],
)
def test_dst_days_start_at_local_midnight_and_last_23_or_25_hours(
    tz: str, day: str, next_day: str, hours: int, calls: int
) -> None:
    midnight, next_midnight = at(f"{day}T00:00", tz), at(f"{next_day}T00:00", tz)
    assert next_midnight - midnight == hours * 3600
    planned, body = answer(tz, at(f"{day}T23:59", tz) + 7200 * 2, start_at=str(midnight + 1))
    assert [dict(c.params)["start_at"] for c in planned] == [
        str(midnight + 86400 * i) for i in range(calls)
    ]
    assert ends(body) == list(range(midnight + 300, next_midnight + 1, 300))


@pytest.mark.parametrize(
    ("tz", "now", "midnight_utc"),
    [
        (LA, "2026-03-08T18:00", "2026-03-08T08:00"),
        (LA, "2026-11-01T18:00", "2026-11-01T07:00"),
        ("Europe/Berlin", "2026-03-29T18:00", "2026-03-28T23:00"),
    ],
)
def test_default_start_is_local_midnight_on_dst_days(tz: str, now: str, midnight_utc: str) -> None:
    calls, body = answer(tz, at(now, tz))
    assert dict(calls[0].params)["start_at"] == str(at(midnight_utc, "UTC"))
    assert ends(body)[-1] == at(now, tz)


def test_empty_day_has_no_intervals() -> None:
    now = at("2026-06-10T12:00", LA)
    reply = {"system_id": SYSTEM_ID, "total_devices": 9, "intervals": [], "meta": meta("comm")}
    body = stats.shape(request(now), system(), [reply]).body
    validate(ROUTE, 200, body)
    assert body["intervals"] == []
    assert body["total_devices"] == 9
    assert body["meta"]["status"] == "comm"


def test_start_older_than_two_years_answers_empty_without_calls() -> None:
    now = at("2026-06-10T12:00", LA)
    req = request(now, start_at=str(now - 731 * 86400))
    assert stats.plan(req, system()) == []
    body = stats.shape(req, system(status="micro"), []).body
    validate(ROUTE, 200, body)
    assert body == {
        "system_id": SYSTEM_ID,
        "total_devices": 0,
        "meta": meta("micro"),
        "intervals": [],
    }


@pytest.mark.parametrize(
    "query",
    [
        {"start_at": "abc"},
        {"start_at": "1.5"},
        {"end_at": "tomorrow"},
        {"start_at": "-5"},
        {"start_at": "99999999999999999999"},
        {"start_at": "1781100000", "end_at": "1781000000"},
        {"start_at": "1900000000"},
    ],
)
def test_malformed_reversed_or_future_windows_are_v2_422(query: dict[str, str]) -> None:
    with pytest.raises(V2Error) as raised:
        stats.plan(request(1_781_100_000, **query), system())
    assert raised.value.status == 422
    validate(ROUTE, 422, raised.value.body)


def test_reversed_window_names_the_dates() -> None:
    with pytest.raises(V2Error) as raised:
        stats.plan(request(1_781_100_000, start_at="1781000600", end_at="1781000000"), system())
    assert raised.value.body["start_at"] == 1_781_000_400  # as used: floored to 5 minutes
    assert raised.value.body["end_at"] == 1_781_000_000


def test_unknown_system_id_is_v2_401() -> None:
    with pytest.raises(V2Error) as raised:
        stats.plan(request(1_781_100_000, system_id="abc"), system())
    assert raised.value.status == 401
    validate(ROUTE, 401, raised.value.body)


def test_malformed_upstream_intervals_are_an_upstream_failure_not_zeros() -> None:
    now = at("2026-06-10T12:00", LA)
    start = at("2026-06-10T00:00", LA)
    good = {"end_at": start + 300, "powr": 7, "enwh": 5, "devices_reporting": 2}
    for bad in (
        None,
        3,
        {"end_at": "x"},
        {"end_at": True},
        good | {"powr": "lots", "enwh": None},
        good | {"devices_reporting": "2"},
        good | {"enwh": 1.5},
    ):
        reply = {"total_devices": 2, "meta": meta(), "intervals": [good, bad]}
        assert not shapes.usable("production_micro", reply), bad
    for sparse in ({"end_at": start + 300}, {"powr": 1, "enwh": 1, "devices_reporting": 1}):
        reply = {"total_devices": 2, "intervals": [sparse]}
        with pytest.raises(V2Error) as refused:
            stats.shape(request(now), system(), [reply])
        assert refused.value.status == 503
    body = stats.shape(request(now), system(), [{"total_devices": 2, "intervals": [good]}]).body
    assert body["intervals"] == [good]


@pytest.mark.parametrize(
    ("tz", "offset"), [(LA, "-07:00"), ("Europe/Berlin", "+02:00"), ("Asia/Kathmandu", "+05:45")]
)
def test_iso8601_renders_every_time_in_the_system_zone(tz: str, offset: str) -> None:
    now = at("2026-06-10T01:00", tz)
    _, body = answer(tz, now, datetime_format="iso8601")
    assert [i["end_at"] for i in body["intervals"]] == [
        f"2026-06-10T00:{m:02d}:00{offset}" for m in range(5, 60, 5)
    ] + [f"2026-06-10T01:00:00{offset}"]
    assert body["meta"] == {
        key: dt.datetime.fromtimestamp(v, ZoneInfo(tz)).isoformat() if key.endswith("_at") else v
        for key, v in meta().items()
    }


def test_intervals_nothing_reported_in_are_left_out_as_v2_did() -> None:
    start = at("2026-06-10T00:00", LA)
    req = request(start + 86400, start_at=str(start), end_at=str(start + 900))
    dark = {"end_at": start + 300, "powr": 0, "enwh": 0, "devices_reporting": 0}
    lit = {"end_at": start + 600, "powr": 0, "enwh": 0, "devices_reporting": 2}
    body = stats.shape(req, system(), [{"total_devices": 2, "intervals": [dark, lit]}]).body
    validate(ROUTE, 200, body)
    assert ends(body) == [start + 600]


def test_a_start_before_the_operational_date_begins_at_it() -> None:
    operational = at("2026-06-10T09:00", LA)
    now, start = operational + 6 * 3600, operational - 8 * 86400
    req, known = request(now, start_at=str(start)), system() | {"operational_at": operational}
    calls = stats.plan(req, known)
    assert [dict(call.params)["start_at"] for call in calls] == [str(at("2026-06-10T00:00", LA))]
    replies = [support.telemetry(call, now, 300, ("powr", "enwh")) for call in calls]
    body = stats.shape(req, known, replies).body
    assert ends(body) == list(range(operational + 300, now + 1, 300))
