"""The v4 broker route on a spent month: stale replies still served, cold misses a v4 429."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx2

from proxy.clock import VirtualClock
from proxy.sandbox import SandboxSettings, sandbox_state
from proxy.simulation import SANDBOX_URL, in_process
from tests import support

JUNE_11 = 1_780_272_000 + 10 * 86_400  # 2026-06-11 00:00 UTC
JULY_1 = 1_782_864_000
TEAM = {"Authorization": "Bearer demo-team-key"}
AUTH = "key=demo-v2-key&user_id=demo-user"
V4_429_FIELDS = {"message", "details", "code", "period", "period_start", "period_end", "limit"}


async def spent_month(data_dir: Path, extra: str = "") -> dict[str, Any]:
    """A team client's answers once legacy clients have spent the rest of a month of 4 calls."""
    clock = VirtualClock(JUNE_11)
    config = support.proxy_config(SANDBOX_URL, data_dir, extra, per_month=4, per_minute=10)
    async with in_process(config, SandboxSettings(clock=clock), clock=clock) as stack:
        proxy = stack.proxy
        first = await proxy.get("/api/v4/systems/1001/summary", headers=TEAM)
        for system in ("1002", "1003", "1004"):  # the legacy clients spend the other three
            legacy = await proxy.get(f"/api/v2/systems/{system}/summary?{AUTH}")
            assert legacy.status_code == 200, legacy.text
        clock.advance(3600)  # long past the summary's natural freshness
        calls = sandbox_state(stack.sandbox).stats.api_calls
        stale = await proxy.get("/api/v4/systems/1001/summary", headers=TEAM)
        cold = await proxy.get("/api/v4/systems/1005/summary", headers=TEAM)
        spent = sandbox_state(stack.sandbox).stats.api_calls - calls
    return {"first": first, "stale": stale, "cold": cold, "spent": spent}


def assert_answers_on_a_spent_month(figures: dict[str, Any]) -> None:
    first: httpx2.Response = figures["first"]
    assert first.status_code == 200, first.text
    stale: httpx2.Response = figures["stale"]
    assert stale.status_code == 200, stale.text
    assert stale.headers["X-Cache"] == "STALE"
    assert int(stale.headers["Age"]) >= 3600  # the true age, not 0
    assert stale.content == first.content
    cold: httpx2.Response = figures["cold"]
    assert cold.status_code == 429, cold.text
    body = cold.json()
    assert set(body) == V4_429_FIELDS
    assert (body["code"], body["period"], body["limit"]) == (429, "month", 4)
    assert body["period_end"] == JULY_1
    assert body["details"] == "Usage limit exceeded for plan Kilowatt"  # as v4 writes it
    assert int(cold.headers["Retry-After"]) == JULY_1 - JUNE_11 - 3600
    assert figures["spent"] == 0  # neither answer reached the upstream


def test_a_team_client_gets_stale_replies_and_a_v4_429_once_the_tenants_month_is_spent(
    tmp_path: Path,
) -> None:
    # Issue 12, item 2: only a truly spent month refuses, and v4 clients get v4's 429.
    assert_answers_on_a_spent_month(asyncio.run(spent_month(tmp_path)))


def test_without_pacing_the_stale_reply_still_serves_on_a_spent_month(tmp_path: Path) -> None:
    """With pacing off the refresh is tried, refused by the quota, and the stale reply served."""
    extra = "pacing = false\n[cache]\nstale_if_error = 86400"
    assert_answers_on_a_spent_month(asyncio.run(spent_month(tmp_path, extra)))
