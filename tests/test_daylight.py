"""Daylight-aware refresh: production-only data is refreshed by day, and twice a night."""

from __future__ import annotations

import asyncio
from pathlib import Path

from proxy.clock import VirtualClock
from proxy.sandbox import SandboxSettings, sandbox_state
from proxy.simulation import SANDBOX_URL, in_process
from tests import support

DEC_1_NOON_LA = 1_796_155_200  # 2026-12-01 20:00 UTC, 12:00 in Los Angeles
HOUR = 3600
AUTH = "key=demo-v2-key&user_id=demo-user"
SUMMARY = f"/api/v2/systems/1001/summary?{AUTH}"
STATS = f"/api/v2/systems/1001/stats?{AUTH}"  # its zone lookup tells the proxy 1001's zone
UPSTREAM = "/api/v4/systems/1001/summary"


async def settle() -> None:
    """Let background cache refreshes finish."""
    while pending := asyncio.all_tasks() - {asyncio.current_task()}:
        await asyncio.gather(*pending, return_exceptions=True)


async def summary_fetches(data_dir: Path, hours: int, extra: str = "", **tenant: object) -> dict:
    """Poll 1001's v2 summary every 5 minutes and its stats every 15 for ``hours`` from noon in
    Los Angeles on Dec 1 on a Watt budget: the hours (from noon) of each upstream summary fetch
    and the summary's X-Cache states."""
    clock = VirtualClock(DEC_1_NOON_LA)
    config = support.proxy_config(
        SANDBOX_URL, data_dir, extra, per_month=1000, per_minute=10, plan="watt", **tenant
    )
    fetched: list[float] = []
    states: list[tuple[float, str]] = []
    async with in_process(config, SandboxSettings(clock=clock), clock=clock) as stack:
        stats = sandbox_state(stack.sandbox).stats
        for step in range(hours * 12):
            if step % 3 == 0:
                assert (await stack.proxy.get(STATS)).status_code == 200
            before = stats.api_calls_by_path[UPSTREAM]
            reply = await stack.proxy.get(SUMMARY)
            assert reply.status_code == 200, reply.text
            await settle()
            hours_in = (clock.now() - DEC_1_NOON_LA) / HOUR
            states.append((hours_in, reply.headers["X-Cache"]))
            if stats.api_calls_by_path[UPSTREAM] > before:
                fetched.append(hours_in)
            clock.advance(300)
    return {"fetched": fetched, "states": states}


def test_at_night_a_production_key_is_refreshed_once_after_sunset_and_once_after_midnight(
    tmp_path: Path,
) -> None:
    # From noon to 8 a.m. in Los Angeles: the last production ends ~16:50 (4.8 h in) and uploads
    # within 15 minutes, midnight is 12 h in, the sun rises ~06:50 (18.8 h in)
    figures = asyncio.run(summary_fetches(tmp_path, 20))
    night = [h for h in figures["fetched"] if 5.1 <= h < 18.5]
    assert len(night) == 2, figures["fetched"]
    after_sunset, after_midnight = night
    assert after_sunset < 5.5  # the last production's upload
    assert 12 <= after_midnight < 12.25  # the new day's summary_date
    stale_at_night = [s for h, s in figures["states"] if 7 <= h < 11]
    assert stale_at_night and set(stale_at_night) <= {"STALE", "HIT"}, stale_at_night


def test_by_day_the_same_budget_refreshes_production_data_more_often(tmp_path: Path) -> None:
    with_sun = asyncio.run(summary_fetches(tmp_path / "sun", 24))
    without = asyncio.run(summary_fetches(tmp_path / "flat", 24, daylight=False))
    by_day = [h for h in with_sun["fetched"] if h < 4.5 or h >= 19.5]
    flat_by_day = [h for h in without["fetched"] if h < 4.5 or h >= 19.5]
    assert len(by_day) >= 1.5 * len(flat_by_day), (by_day, flat_by_day)
    assert len(with_sun["fetched"]) <= len(without["fetched"]) + 2  # no more calls in all
