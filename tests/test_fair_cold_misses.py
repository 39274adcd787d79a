"""Each legacy client has its own share of the calls on past data: a scanner cannot take the
reserve from the others."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from proxy.clock import VirtualClock
from proxy.config import Limits, Tenant, parse
from proxy.quota.governor import MemoryQuotaStore, QuotaExhausted, QuotaGovernor
from proxy.sandbox import SandboxSettings, sandbox_state
from proxy.simulation import SANDBOX_URL, in_process
from tests import support

JUNE_1 = 1_780_272_000  # 2026-06-01 00:00 UTC
DAY = 86_400
SCANNER = "key=demo-v2-key&user_id=demo-user"
OTHER = "key=other-v2-key&user_id=demo-user"
OTHER_CLIENT = '\n[[legacy_clients]]\nname = "other"\nkey = "other-v2-key"\ntenants = ["demo"]\n'


def past_day(auth: str, days_ago: int, now: int) -> str:
    """The v2 stats of one whole past day of system 1001."""
    start = now - now % DAY - days_ago * DAY
    return f"/api/v2/systems/1001/stats?{auth}&start_at={start}&end_at={start + DAY}"


def test_a_scanner_of_100_past_days_leaves_the_reserve_to_the_other_clients(
    tmp_path: Path,
) -> None:
    # Issue 20: one client asking 26 distinct past days spent 27 of a 30-call month.
    now = JUNE_1 + 10 * DAY + 12 * 3600
    clock = VirtualClock(now)
    text = support.config_text(SANDBOX_URL, tmp_path, OTHER_CLIENT, **support.WATT_APP)
    config = parse(text, str(tmp_path / "proxy.toml"))

    async def scan() -> tuple[int, int, list[int], list[str], int]:
        async with in_process(config, SandboxSettings(clock=clock), clock=clock) as stack:
            stats = sandbox_state(stack.sandbox).stats
            warm = await stack.proxy.get(f"/api/v2/systems/1001/stats?{OTHER}")
            assert warm.status_code == 200  # the system lookup both clients share
            reserve = (await stack.services.pacer.snapshot(config.tenants["demo"])).reserve
            before = stats.api_calls
            statuses, retry_after = [], []
            for days_ago in range(1, 101):  # a script: one request every 10 s
                reply = await stack.proxy.get(past_day(SCANNER, days_ago, now))
                statuses.append(reply.status_code)
                retry_after.append(reply.headers.get("Retry-After", ""))
                clock.advance(10)
            scanned = stats.api_calls - before
            other = await stack.proxy.get(past_day(OTHER, 101, now))
            start = now - now % DAY - 102 * DAY  # a team script's past day: its own budget
            team = await stack.proxy.get(
                f"/api/v4/systems/1001/telemetry/production_micro?start_at={start}",
                headers={"Authorization": "Bearer demo-team-key"},
            )
            assert team.status_code == 200, team.text
            return reserve, scanned, statuses, retry_after, other.status_code

    reserve, scanned, statuses, retry_after, other = asyncio.run(scan())
    assert reserve >= 60  # Watt's 100, two thirds of the month left
    assert scanned <= 0.1 * reserve
    refused = statuses.index(409)  # each UTC day asked spans two local days: 1 or 2 calls
    assert statuses == [200] * refused + [409] * (100 - refused) and refused >= scanned // 2
    assert 0 < int(retry_after[refused]) <= DAY  # the client learns when its share comes back
    assert other == 200  # a second client's cold key is answered


def test_a_legacy_client_over_its_share_waits_within_max_wait_for_the_next_day() -> None:
    clock = VirtualClock(JUNE_1 + 5 * DAY - 2)  # two seconds before a UTC midnight
    governor = QuotaGovernor(MemoryQuotaStore(), 5.0, clock=clock, reserve=0.1, cold_share=0.1)
    tenant = Tenant("t", "k", "c", "s", limits=Limits(100, 1000), writes_per_month=1)

    async def spend() -> float:
        for _ in range(8):  # 10% of the reserve held on day 5: floor(8.3)
            await governor.acquire(tenant, cold="scanner")
        started = clock.now()
        await governor.acquire(tenant, cold="scanner")  # waits for the next day's share
        await governor.acquire(tenant, cold="another")  # another client has its own
        return clock.now() - started

    assert asyncio.run(spend()) == 2


def test_a_legacy_client_over_its_share_is_refused_until_the_next_day() -> None:
    clock = VirtualClock(JUNE_1 + 5 * DAY + 3600)
    governor = QuotaGovernor(MemoryQuotaStore(), 5.0, clock=clock, reserve=0.1, cold_share=0.1)
    tenant = Tenant("t", "k", "c", "s", limits=Limits(100, 1000), writes_per_month=1)

    async def spend() -> QuotaExhausted:
        for _ in range(8):
            await governor.acquire(tenant, cold="scanner")
        with pytest.raises(QuotaExhausted) as refused:
            await governor.acquire(tenant, cold="scanner")
        await governor.acquire(tenant)  # calls on live data are not counted in the share
        return refused.value

    refused = asyncio.run(spend())
    assert (refused.period, refused.period_end, refused.limit) == ("day", JUNE_1 + 6 * DAY, 8)
