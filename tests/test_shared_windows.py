"""Shared v4 windows: every telemetry call is for a canonical window, v2 windows are cut locally."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from mappings import consumption_stats, rgm_stats, stats
from mappings.base import V4Call
from proxy.clock import VirtualClock
from proxy.sandbox import SandboxSettings, sandbox_state
from proxy.simulation import SANDBOX_URL, in_process
from tests import support
from tests.support import SYSTEM_ID, at, request, system

LA = "America/Los_Angeles"
MICRO = f"/systems/{SYSTEM_ID}/telemetry/production_micro"
METER = f"/systems/{SYSTEM_ID}/telemetry/consumption_meter"
NOW = at("2026-06-10T13:02", LA)  # a Wednesday


def calls(mapping: Any, **query: str) -> list[V4Call]:
    planned: list[V4Call] = mapping.plan(request(NOW, **query), system(LA))
    return planned


def test_stats_for_any_start_and_end_within_a_local_day_share_one_call_for_that_day() -> None:
    midnight = at("2026-06-09T00:00", LA)
    expected = [V4Call(MICRO, (("start_at", str(midnight)), ("granularity", "day")))]
    for start, end in ((0, 3600), (3 * 3600 + 300, 5 * 3600), (12 * 3600, 24 * 3600)):
        query = {"start_at": str(midnight + start), "end_at": str(midnight + end)}
        assert calls(stats, **query) == expected


def test_stats_across_midnight_asks_for_both_local_days() -> None:
    start = at("2026-06-08T18:00", LA)
    planned = calls(stats, start_at=str(start))
    days = [at("2026-06-08T00:00", LA), at("2026-06-09T00:00", LA)]
    assert [dict(c.params)["start_at"] for c in planned] == [str(d) for d in days]


def test_meter_data_is_asked_for_whole_local_weeks_from_monday() -> None:
    monday = at("2026-06-08T00:00", LA)
    expected = [V4Call(METER, (("start_at", str(monday)), ("granularity", "week")))]
    assert calls(consumption_stats) == expected  # today
    assert calls(consumption_stats, start_at=str(monday + 3600), end_at=str(NOW)) == expected


def test_rgm_stats_is_asked_for_whole_local_weeks_from_monday() -> None:
    monday = at("2026-06-08T00:00", LA)
    planned = calls(rgm_stats, start_at=str(monday + 7200))
    assert [dict(c.params)["start_at"] for c in planned] == [str(monday)]
    assert calls(rgm_stats) == planned


async def distinct_requests(data_dir: Path, count: int) -> tuple[list[int], int]:
    """``count`` stats requests for different parts of one past day, on a month budget of 12."""
    start = 1_780_272_000 + 9 * 86_400  # 2026-06-10 00:00 UTC
    clock = VirtualClock(start + 3 * 86_400)
    config = support.proxy_config(SANDBOX_URL, data_dir, per_month=12, per_minute=10)
    auth = "key=demo-v2-key&user_id=demo-user"
    statuses = []
    async with in_process(config, SandboxSettings(clock=clock), clock=clock) as stack:
        for i in range(count):
            query = f"start_at={start + 8 * 3600 + 300 * i}&end_at={start + 9 * 3600 + 600 * i}"
            reply = await stack.proxy.get(f"/api/v2/systems/1001/stats?{query}&{auth}")
            statuses.append(reply.status_code)
        calls = sandbox_state(stack.sandbox).stats.api_calls
    return statuses, calls


def test_twenty_distinct_requests_about_one_day_fit_in_a_month_budget_of_12(
    tmp_path: Path,
) -> None:
    # Issue 12: with per_month = 12 the 13th distinct request, and every one after it, got 409.
    statuses, calls = asyncio.run(distinct_requests(tmp_path, 20))
    assert statuses == [200] * 20
    assert calls <= 3  # the system, and one or two local days
