"""A poller of production_meter_readings with end_at = now shares one v4 reply per interval."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from proxy.clock import VirtualClock
from proxy.sandbox import SandboxSettings, sandbox_state
from proxy.simulation import SANDBOX_URL, in_process
from tests import support

NOW = 1_780_272_000 + 9 * 86_400 + 18 * 3600  # 2026-06-10 18:00 UTC: Berlin's meters read
AUTH = {"key": "demo-v2-key", "user_id": "demo-user"}
READINGS = "/api/v2/systems/1002/production_meter_readings"
V4_READINGS = "/api/v4/systems/1002/production_meter_readings"


async def poll(
    data_dir: Path, every: int, count: int, lag: int, start: int = NOW
) -> tuple[list[dict[str, Any]], int]:
    """(bodies, upstream readings calls) of ``count`` polls ``every`` s, end_at = now - lag."""
    clock = VirtualClock(start)
    config = support.proxy_config(SANDBOX_URL, data_dir)
    bodies = []
    async with in_process(config, SandboxSettings(clock=clock), clock=clock) as stack:
        for _ in range(count):
            end_at = int(clock.now()) - lag
            reply = await stack.proxy.get(READINGS, params={**AUTH, "end_at": end_at})
            assert reply.status_code == 200, reply.text
            body = reply.json()
            assert all(r["read_at"] <= end_at for r in body["meter_readings"]), (end_at, body)
            bodies.append(body)
            clock.advance(every)
        calls = sandbox_state(stack.sandbox).stats.api_calls_by_path.get(V4_READINGS, 0)
    return bodies, calls


def test_end_at_now_every_5_minutes_costs_one_call_per_15_minutes(tmp_path: Path) -> None:
    bodies, calls = asyncio.run(poll(tmp_path, 300, 24, 0))  # two hours
    assert calls <= 9  # a reply per 15-minute interval, not one per distinct end_at
    assert len({r["read_at"] for b in bodies for r in b["meter_readings"]}) > 1  # it moves on


def test_a_recent_end_at_before_the_latest_reading_still_gets_the_reading_before_it(
    tmp_path: Path,
) -> None:
    # Polls at 18:01, 18:06, 18:11, 18:16 for end_at 14 minutes before: the latest replies,
    # fetched at 18:01 and 18:16, hold the readings of 18:00 and 18:15, both after end_at; the
    # readings v4 has at each end_at are those of 17:45, 17:45, 17:45 and 18:00.
    bodies, _ = asyncio.run(poll(tmp_path, 300, 4, 840, NOW + 60))
    assert [b["meter_readings"][0]["read_at"] for b in bodies] == [NOW - 900] * 3 + [NOW]
