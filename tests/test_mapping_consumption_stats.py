"""v2 consumption_stats from week-long v4 consumption_meter calls, merged over up to a month."""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mappings import consumption_stats
from mappings.base import V2Error, V4Call
from mappings.telemetry import merge
from tests.support import (
    SYSTEM_ID,
    at,
    ends,
    meta,
    request,
    shaped,
    system,
    telemetry,
    validate,
    value,
)

ROUTE = "/api/v2/systems/{system_id}/consumption_stats"
LA = "America/Los_Angeles"
PATH = f"/systems/{SYSTEM_ID}/telemetry/consumption_meter"
WEEK = 7 * 86400


def answer(now: int, tz: str = LA, **query: str) -> tuple[list[V4Call], dict[str, Any]]:
    """The consumption_stats body for ``query`` at ``now``, each call answered as v4 would."""
    return shaped(consumption_stats, ROUTE, now, tz, 900, ("enwh",), 1, **query)


def test_a_month_is_five_local_week_calls_merged_in_order_without_duplicates() -> None:
    start, month_later = at("2026-01-01T00:00", LA), at("2026-02-01T00:00", LA)
    monday = at("2025-12-29T00:00", LA)  # weeks are shared: each starts on a local Monday
    calls, body = answer(at("2026-03-01T00:00", LA), start_at=str(start))
    assert calls == [
        V4Call(PATH, (("start_at", str(monday + i * WEEK)), ("granularity", "week")))
        for i in range(5)
    ]
    assert ends(body) == list(range(start + 900, month_later + 1, 900))
    assert body["intervals"][-1] == {
        "end_at": month_later,
        "enwh": value(month_later),
        "devices_reporting": 1,
    }
    assert body["total_devices"] == 1
    assert body["meta"] == meta()


def test_boundary_duplicates_keep_the_earlier_window_and_order_is_restored() -> None:
    start = at("2026-01-01T00:00", LA)
    req = request(at("2026-03-01T00:00", LA), start_at=str(start))
    calls = consumption_stats.plan(req, system())
    replies = [telemetry(call, req.now, 900, ("enwh",)) for call in calls]
    for reply, call in zip(replies, calls, strict=True):
        first = int(dict(call.params)["start_at"])
        reply["intervals"].append({"end_at": first, "enwh": -1, "devices_reporting": 0})
        random.Random(first).shuffle(reply["intervals"])
    body = consumption_stats.shape(req, system(), replies).body
    validate(ROUTE, 200, body)
    assert ends(body) == list(range(start + 900, at("2026-02-01T00:00", LA) + 1, 900))
    assert all(interval["enwh"] == value(interval["end_at"]) for interval in body["intervals"])


def test_start_is_floored_to_fifteen_minutes_and_the_call_is_for_the_local_week() -> None:
    start = at("2026-06-10T08:00", LA)
    calls, body = answer(start + 7200, start_at=str(start + 899))
    assert dict(calls[0].params)["start_at"] == str(at("2026-06-08T00:00", LA))
    assert ends(body) == list(range(start + 900, start + 7201, 900))


def test_default_window_is_local_midnight_today_until_now_from_this_weeks_call() -> None:
    now = at("2026-06-10T13:07", LA)
    calls, body = answer(now)
    assert dict(calls[0].params)["start_at"] == str(at("2026-06-08T00:00", LA))
    assert ends(body)[0] == at("2026-06-10T00:15", LA)
    assert ends(body)[-1] == at("2026-06-10T13:00", LA)


@pytest.mark.parametrize(
    ("start", "capped", "calls"),
    [
        ("2026-02-01T00:00", "2026-03-01T00:00", 5),  # local weeks from Monday 26 January
        ("2026-01-31T06:00", "2026-02-28T06:00", 5),
        ("2026-03-01T00:00", "2026-04-01T00:00", 6),
        ("2026-10-15T00:00", "2026-11-15T00:00", 6),  # the 169-hour week takes two calls
    ],
)
def test_end_is_capped_one_local_calendar_month_after_start(
    start: str, capped: str, calls: int
) -> None:
    begin, end = at(start, LA), at(capped, LA)
    planned, body = answer(at("2027-01-01T00:00", LA), start_at=str(begin), end_at=str(end + WEEK))
    assert len(planned) == calls
    assert ends(body) == list(range(begin + 900, end + 1, 900))


def test_explicit_end_within_the_month_limits_calls() -> None:
    start = at("2026-01-01T00:00", LA)
    calls, body = answer(start + 90 * 86400, start_at=str(start), end_at=str(start + WEEK + 900))
    assert len(calls) == 2
    assert ends(body)[-1] == start + WEEK + 900


def test_start_older_than_two_years_answers_empty_without_calls() -> None:
    now = at("2026-06-10T12:00", LA)
    req = request(now, start_at=str(now - 800 * 86400), end_at=str(now))
    assert consumption_stats.plan(req, system()) == []
    body = consumption_stats.shape(req, system(), []).body
    validate(ROUTE, 200, body)
    assert body["intervals"] == []
    assert body["total_devices"] == 0


def test_reversed_window_is_v2_422() -> None:
    with pytest.raises(V2Error) as raised:
        consumption_stats.plan(request(2_000_000, start_at="1000000", end_at="999"), system())
    assert raised.value.status == 422
    validate(ROUTE, 422, raised.value.body)


def test_iso8601_renders_interval_ends_in_the_system_zone() -> None:
    now = at("2026-01-10T01:00", "Europe/Berlin")
    _, body = answer(now, "Europe/Berlin", datetime_format="iso8601")
    assert ends(body) == [
        "2026-01-10T00:15:00+01:00",
        "2026-01-10T00:30:00+01:00",
        "2026-01-10T00:45:00+01:00",
        "2026-01-10T01:00:00+01:00",
    ]


windows = st.tuples(st.integers(0, 400), st.integers(0, 400)).map(sorted)
replies = st.lists(
    st.fixed_dictionaries(
        {"intervals": st.lists(st.fixed_dictionaries({"end_at": st.integers(-5, 405)}))}
    ),
    max_size=6,
)


@given(windows, replies)
def test_merge_never_duplicates_reorders_or_leaks(
    window: list[int], bodies: list[dict[str, Any]]
) -> None:
    start, end = window
    merged = [item["end_at"] for item in merge(bodies, start, end)]
    expected = {i["end_at"] for b in bodies for i in b["intervals"] if start < i["end_at"] <= end}
    assert merged == sorted(expected)
