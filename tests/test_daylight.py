"""Daylight-aware refresh: production-only data is refreshed by day, and twice a night."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from proxy.clock import VirtualClock
from proxy.quota import daylight, uploads
from proxy.quota.sightings import DAY, Sighting
from proxy.sandbox import SandboxSettings, sandbox_state
from proxy.sandbox import create_app as create_sandbox
from proxy.simulation import SANDBOX_URL, in_process
from tests import support

DEC_1_NOON_LA = 1_796_155_200  # 2026-12-01 20:00 UTC, 12:00 in Los Angeles
HOUR = 3600
AUTH = "key=demo-v2-key&user_id=demo-user"
SUMMARY_1001 = f"/api/v2/systems/1001/summary?{AUTH}"
STATS_1001 = f"/api/v2/systems/1001/stats?{AUTH}"


async def settle() -> None:
    """Let background cache refreshes finish."""
    while pending := asyncio.all_tasks() - {asyncio.current_task()}:
        await asyncio.gather(*pending, return_exceptions=True)


async def summary_fetches(
    data_dir: Path, hours: int, extra: str = "", system: int = 1001, **tenant: object
) -> dict[str, Any]:
    """Poll ``system``'s v2 summary every 5 minutes and its stats every 15 (whose zone lookup
    tells the proxy the system's zone) for ``hours`` from noon in Los Angeles on Dec 1 on a Watt
    budget: the hours (from noon) of each upstream summary fetch and the X-Cache states."""
    summary = f"/api/v2/systems/{system}/summary?{AUTH}"
    upstream = f"/api/v4/systems/{system}/summary"
    clock = VirtualClock(DEC_1_NOON_LA)
    config = support.proxy_config(
        SANDBOX_URL, data_dir, extra, per_month=1000, per_minute=10, plan="watt", **tenant
    )
    fetched: list[float] = []
    states: list[tuple[float, str]] = []
    async with in_process(config, SandboxSettings(clock=clock), clock=clock) as stack:
        counts = sandbox_state(stack.sandbox).stats
        for step in range(hours * 12):
            if step % 3 == 0:
                stats = f"/api/v2/systems/{system}/stats?{AUTH}"
                assert (await stack.proxy.get(stats)).status_code == 200
            before = counts.api_calls_by_path[upstream]
            reply = await stack.proxy.get(summary)
            assert reply.status_code == 200, reply.text
            await settle()
            hours_in = (clock.now() - DEC_1_NOON_LA) / HOUR
            states.append((hours_in, reply.headers["X-Cache"]))
            if counts.api_calls_by_path[upstream] > before:
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


@pytest.mark.slow  # two simulated days (~2.5 s)
def test_by_day_the_same_budget_refreshes_production_data_more_often(tmp_path: Path) -> None:
    with_sun = asyncio.run(summary_fetches(tmp_path / "sun", 24))
    without = asyncio.run(summary_fetches(tmp_path / "flat", 24, daylight=False))
    by_day = [h for h in with_sun["fetched"] if h < 4.5 or h >= 19.5]
    flat_by_day = [h for h in without["fetched"] if h < 4.5 or h >= 19.5]
    assert len(by_day) >= 1.5 * len(flat_by_day), (by_day, flat_by_day)
    assert len(with_sun["fetched"]) <= len(without["fetched"]) + 2  # no more calls in all
    assert len([h for h in without["fetched"] if 5.1 <= h < 18.5]) > 2  # opted out: all night


def test_a_system_uploading_every_3_hours_is_refreshed_after_its_uploads_only(
    tmp_path: Path,
) -> None:
    # 1003 (cellular) uploads every 3 hours: a summary fetched in between holds nothing new.
    figures = asyncio.run(summary_fetches(tmp_path, 24, system=1003))
    learned = [h for h in figures["fetched"] if h >= 12]
    assert 3 <= len(learned) <= 5, figures["fetched"]
    # uploads at each 3-hour mark of UTC (noon in Los Angeles is 20:00 UTC: 1 h before one);
    # besides, 1003's summary_date changes at midnight in Sydney, 13:00 UTC (17 h in)
    since_upload = [(h * HOUR + 20 * HOUR) % (3 * HOUR) for h in learned if not 17 <= h < 17.25]
    assert all(s <= 15 * 60 for s in since_upload), (learned, since_upload)
    assert len(since_upload) >= len(learned) - 1


def test_an_offline_system_is_not_taken_for_a_slow_uploader() -> None:
    # a body fetched now whose last report is 3 years old: nothing known of when it uploads next
    now = float(DEC_1_NOON_LA)
    sighting = Sighting(reports={now - 3 * 365 * 86_400: 3 * 365 * 86_400})
    assert not uploads.slow(sighting)
    assert uploads.next_upload(sighting, now) is None
    cellular = Sighting(reports={now - 2 * HOUR: 2 * HOUR + 58 * 60, now - 5 * HOUR: 600})
    assert uploads.cadence(cellular) == 3 * HOUR
    assert uploads.next_upload(cellular, now) == now + HOUR + uploads.SETTLE


def test_the_window_is_learned_from_the_systems_own_intervals() -> None:
    # a shaded system in Los Angeles produces from 10:00 to 14:00 (PST: 18:00 to 22:00 UTC)
    sighting = Sighting(zone="America/Los_Angeles")
    guess = daylight.window(sighting, DEC_1_NOON_LA)
    assert guess is not None
    sighting.see(DEC_1_NOON_LA - 2 * HOUR, DEC_1_NOON_LA + 2 * HOUR, producing=True)
    sighting.see(DEC_1_NOON_LA - 2 * HOUR, DEC_1_NOON_LA + 2 * HOUR, producing=True)
    half_learned = daylight.window(sighting, DEC_1_NOON_LA)
    assert half_learned == guess  # no dark seen beyond either side: the sun still decides
    sighting.see(DEC_1_NOON_LA - 4 * HOUR, DEC_1_NOON_LA - 2 * HOUR, producing=False)
    sighting.see(DEC_1_NOON_LA + 2 * HOUR, DEC_1_NOON_LA + 3 * HOUR, producing=False)
    learned = daylight.window(sighting, DEC_1_NOON_LA + DAY)  # the next day: learned from this
    assert learned is not None
    assert learned.start == DEC_1_NOON_LA + DAY - 2 * HOUR
    assert learned.end == DEC_1_NOON_LA + DAY + 2 * HOUR + daylight.GRACE
    assert learned.start > guess.start + DAY and learned.end < guess.end + DAY


async def night_after_restart(data_dir: Path) -> list[float]:
    """A proxy polls 1001 from noon to 16:00 in Los Angeles on Dec 1, then a new process on the
    same file cache polls it until 23:00: the hours (from noon) of the second one's summary
    fetches."""
    clock = VirtualClock(DEC_1_NOON_LA)
    config = support.proxy_config(SANDBOX_URL, data_dir, per_month=1000, per_minute=10, plan="watt")
    sandbox = create_sandbox(SandboxSettings(clock=clock))
    counts = sandbox_state(sandbox).stats.api_calls_by_path
    fetched = []
    for hours in (range(0, 4 * 12), range(4 * 12, 11 * 12)):
        async with in_process(config, sandbox, clock=clock) as stack:
            for step in hours:
                before = counts["/api/v4/systems/1001/summary"]
                for url in (SUMMARY_1001, STATS_1001) if step % 3 == 0 else (SUMMARY_1001,):
                    assert (await stack.proxy.get(url)).status_code == 200
                await settle()
                if counts["/api/v4/systems/1001/summary"] > before and step >= 4 * 12:
                    fetched.append(step / 12)
                clock.advance(300)
    return fetched


def test_a_worker_learns_a_system_from_replies_another_one_fetched(tmp_path: Path) -> None:
    # The first process fetched 1001's zone and its day's intervals into the shared cache; the
    # second serves them from there and keeps to the night's one refresh after sunset (~5.1 h)
    fetched = asyncio.run(night_after_restart(tmp_path))
    assert len([h for h in fetched if h >= 5.1]) == 1, fetched
