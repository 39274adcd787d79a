"""rgm_stats: a v2 month served from week-long v4 calls, merged, de-duplicated and clipped."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from mappings import rgm_stats
from mappings.base import V2Error, V2Request, V4Call
from mappings.common import WEEK
from tests.support import validate

BERLIN = ZoneInfo("Europe/Berlin")
SYSTEM = {
    "system_id": 1765,
    "timezone": "Europe/Berlin",
    "status": "encharge",
    "last_report_at": 1718445600,  # 2024-06-15 12:00 in Berlin: the tests' latest now
    "last_energy_at": 1718445600,
    "operational_at": 1357023600,
}
STEP = 900
METERS = (("1218676784", "1218347675"), ("1218676791", "1218347675"))


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> int:
    return int(dt.datetime(year, month, day, hour, minute, tzinfo=BERLIN).timestamp())


def request(now: int, **query: int | str) -> V2Request:
    pairs = tuple((key, str(value)) for key, value in query.items())
    return V2Request({"system_id": "1765"}, pairs, now)


def v4_rgm(call: V4Call) -> dict[str, Any]:
    """A v4 rgm_stats reply: 15-minute intervals of the window plus one either side of it."""
    params = dict(call.params)
    start = int(params["start_at"])
    end = int(params.get("end_at", start + WEEK))
    assert end - start <= WEEK
    ends = range(start, end + 2 * STEP, STEP)
    return {
        "system_id": 1765,
        "total_devices": 2,
        "meta": {
            "status": "normal",
            "last_report_at": end,
            "last_energy_at": end,
            "operational_at": 1357023600,
        },
        "intervals": [{"end_at": e, "devices_reporting": 2, "wh_del": e % 97} for e in ends],
        "meter_intervals": [
            {
                "meter_serial_number": meter,
                "envoy_serial_number": envoy,
                "intervals": [
                    {"channel": 1, "end_at": e, "wh_del": (e % 89) / 2, "curr_w": e % 89 * 2}
                    for e in ends
                ],
            }
            for meter, envoy in METERS
        ],
    }


def run(req: V2Request, system: dict[str, Any] | None = SYSTEM) -> tuple[list[V4Call], Any]:
    calls = rgm_stats.plan(req, system)
    body = rgm_stats.shape(req, system, [v4_rgm(call) for call in calls]).body
    return calls, body


def test_month_is_split_into_five_weekly_calls() -> None:
    start, end = at(2024, 5, 1), at(2024, 6, 1)
    calls, body = run(request(at(2024, 6, 15, 12), start_at=start, end_at=end))
    assert [call.path for call in calls] == ["/systems/1765/rgm_stats"] * 5
    monday = at(2024, 4, 29)  # shared windows: whole local weeks from Monday
    assert [dict(c.params) for c in calls] == [
        {"start_at": str(monday + i * WEEK)} for i in range(5)
    ]
    expected = list(range(start + STEP, end + STEP, STEP))
    assert [row["end_at"] for row in body["intervals"]] == expected
    assert len(expected) == 31 * 96
    validate(rgm_stats.ROUTE, 200, body)


def test_meter_intervals_are_merged_per_meter() -> None:
    start, end = at(2024, 5, 1), at(2024, 5, 20)
    _, body = run(request(at(2024, 6, 15), start_at=start, end_at=end))
    expected = list(range(start + STEP, end + STEP, STEP))
    assert [m["meter_serial_number"] for m in body["meter_intervals"]] == [m for m, _ in METERS]
    for meter in body["meter_intervals"]:
        assert meter["envoy_serial_number"] == "1218347675"
        assert [row["end_at"] for row in meter["intervals"]] == expected
        assert set(meter["intervals"][0]) == {"channel", "end_at", "wh_del", "curr_w"}
    assert body["total_devices"] == 2
    assert body["intervals"][0] == {
        "end_at": start + STEP,
        "wh_del": (start + STEP) % 97,
        "devices_reporting": 2,
    }


def test_channels_of_one_meter_are_not_collapsed() -> None:
    req = request(at(2024, 6, 15), start_at=at(2024, 6, 1), end_at=at(2024, 6, 1, 1))
    reply = {
        "total_devices": 1,
        "meter_intervals": [
            {
                "meter_serial_number": "m",
                "envoy_serial_number": "e",
                "intervals": [
                    {"channel": ch, "end_at": at(2024, 6, 1, 0, 15), "wh_del": 1.5, "curr_w": 6}
                    for ch in (1, 2, 1)
                ],
            }
        ],
    }
    body = rgm_stats.shape(req, SYSTEM, [reply]).body
    assert [row["channel"] for row in body["meter_intervals"][0]["intervals"]] == [1, 2]


def test_unaligned_start_is_floored_and_end_clips_from_the_call_for_the_local_week() -> None:
    start, end = at(2024, 6, 1, 8, 11), at(2024, 6, 1, 10, 5)
    calls, body = run(request(at(2024, 6, 15), start_at=start, end_at=end))
    assert dict(calls[0].params)["start_at"] == str(at(2024, 5, 27))
    ends = [row["end_at"] for row in body["intervals"]]
    assert ends[0] == at(2024, 6, 1, 8, 15)
    assert ends[-1] == at(2024, 6, 1, 10)


def test_window_is_capped_at_one_month_and_at_now() -> None:
    now = at(2024, 6, 15, 12)
    calls, body = run(request(now, start_at=at(2024, 5, 1), end_at=at(2024, 7, 1)))
    assert body["intervals"][-1]["end_at"] == at(2024, 6, 1)
    assert dict(calls[-1].params) == {"start_at": str(at(2024, 5, 27))}
    calls, body = run(request(now, start_at=at(2024, 6, 10), end_at=at(2024, 6, 30)))
    assert dict(calls[-1].params) == {"start_at": str(at(2024, 6, 10))}
    assert body["intervals"][-1]["end_at"] == now


def test_start_after_end_is_422() -> None:
    req = request(at(2024, 6, 15), start_at=at(2024, 6, 2), end_at=at(2024, 6, 1))
    with pytest.raises(V2Error) as caught:
        rgm_stats.plan(req, SYSTEM)
    assert caught.value.status == 422
    assert caught.value.body["start_at"] == at(2024, 6, 2)
    assert caught.value.body["end_at"] == at(2024, 6, 1)
    validate(rgm_stats.ROUTE, 422, caught.value.body)


@pytest.mark.parametrize("raw", ["yesterday", "-1", "1.5"])
def test_malformed_start_is_422(raw: str) -> None:
    with pytest.raises(V2Error) as caught:
        rgm_stats.plan(request(at(2024, 6, 15), start_at=raw), SYSTEM)
    assert caught.value.status == 422


def test_start_older_than_two_years_is_empty_without_upstream_call() -> None:
    now = at(2024, 6, 15)
    req = request(now, start_at=at(2022, 6, 1), end_at=at(2022, 6, 8))
    assert rgm_stats.needs_system(req)
    assert rgm_stats.plan(req, SYSTEM) == []
    body = rgm_stats.shape(req, SYSTEM, []).body
    assert body == {
        "system_id": 1765,
        "total_devices": 0,
        "meta": {
            "status": "battery",
            "last_report_at": 1718445600,
            "last_energy_at": 1718445600,
            "operational_at": 1357023600,
        },
        "intervals": [],
        "meter_intervals": [],
    }
    validate(rgm_stats.ROUTE, 200, body)


def test_default_start_is_local_midnight_on_a_dst_day() -> None:
    now = at(2024, 3, 31, 23)  # the 23-hour day clocks go forward in Berlin
    calls, body = run(request(now))
    assert len(calls) == 1  # the 167-hour week from Monday 25 March
    assert dict(calls[0].params) == {
        "start_at": str(at(2024, 3, 25)),
        "end_at": str(at(2024, 4, 1)),
    }
    assert at(2024, 3, 31) == int(dt.datetime(2024, 3, 30, 23, tzinfo=dt.UTC).timestamp())
    assert len(body["intervals"]) == 22 * 4  # 23:00 local is 22 elapsed hours on this day
    assert body["intervals"][0]["end_at"] == at(2024, 3, 31, 0, 15)
    assert body["meta"]["status"] == "normal"


def test_iso8601_renders_interval_ends_across_the_dst_change() -> None:
    req = request(
        at(2024, 4, 1, 12),
        start_at=at(2024, 3, 31),
        end_at=at(2024, 4, 1),
        datetime_format="iso8601",
    )
    _, body = run(req)
    ends = [row["end_at"] for row in body["intervals"]]
    assert ends[0] == "2024-03-31T00:15:00+01:00"
    assert "2024-03-31T01:45:00+01:00" in ends and "2024-03-31T03:00:00+02:00" in ends
    assert ends[-1] == "2024-04-01T00:00:00+02:00"
    assert body["meter_intervals"][0]["intervals"][0]["end_at"] == ends[0]
    assert isinstance(body["meta"]["last_report_at"], str)


def test_a_start_before_the_operational_date_begins_at_it() -> None:
    operational = at(2024, 6, 12, 10)
    known = SYSTEM | {"operational_at": operational}
    _, body = run(request(at(2024, 6, 15, 12), start_at=operational - 8 * 86400), known)
    assert body["intervals"][0]["end_at"] == operational + STEP
