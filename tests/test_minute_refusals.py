"""The plan's minute limit, spent where a client would otherwise get a 409: refreshes leave the
minute's last calls to cold misses, a backfill takes at most half of it, and what a busy minute
refused is fetched once it is over (the client's next request is then answered)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bench.month import DAY, Poll, Workload, fixed, run
from proxy.cache import Entry, MemoryReplyStore, ReplyCache
from proxy.clock import VirtualClock
from proxy.config import Cache, Limits, Tenant, parse
from proxy.errors import QuotaRefused, SpentWindow
from proxy.quota.governor import MemoryQuotaStore, QuotaExhausted, QuotaGovernor
from proxy.sandbox import SandboxSettings, sandbox_state
from proxy.sandbox.settings import FLEET_SYSTEM_IDS
from proxy.simulation import SANDBOX_URL, in_process
from tests import support

JUNE_1 = 1_780_272_000  # 2026-06-01 00:00 UTC, a minute's start
AUTH = "key=demo-v2-key&user_id=demo-user"
WATT = Tenant("t", "k", "c", "s", limits=Limits(10, 1000), writes_per_month=1)


def test_refreshes_leave_the_minutes_last_calls_to_cold_misses() -> None:
    clock = VirtualClock(JUNE_1)
    governor = QuotaGovernor(MemoryQuotaStore(), 0.0, clock=clock)

    async def spend() -> QuotaExhausted:
        for _ in range(8):
            await governor.acquire(WATT, refresh=True)
        with pytest.raises(QuotaExhausted):  # a refused refresh serves a reply a little older
            await governor.acquire(WATT, refresh=True)
        await governor.acquire(WATT)  # a cold miss, which a client would get a 409 for
        await governor.acquire(WATT)
        with pytest.raises(QuotaExhausted) as refused:
            await governor.acquire(WATT)
        return refused.value

    refused = asyncio.run(spend())
    assert (refused.period, refused.limit) == ("minute", 10)  # the plan's own limit is named


def test_a_legacy_clients_calls_on_past_data_take_at_most_half_of_each_minute() -> None:
    clock = VirtualClock(JUNE_1 + 3 * DAY)
    governor = QuotaGovernor(MemoryQuotaStore(), 0.0, clock=clock, reserve=0.1, cold_share=0.5)

    async def spend() -> None:
        for _ in range(5):
            await governor.acquire(WATT, cold="backfill")
        with pytest.raises(QuotaExhausted) as refused:
            await governor.acquire(WATT, cold="backfill")
        assert refused.value.period == "minute"
        for _ in range(5):  # everyone else's calls still have the other half
            await governor.acquire(WATT, cold="dashboard")

    asyncio.run(spend())


def entry(clock: VirtualClock) -> Entry:
    return Entry(200, b"{}", "application/json", clock.now(), 300)


def refusal(clock: VirtualClock, period: str) -> QuotaRefused:
    start = int(clock.now()) // 60 * 60
    end = start + 60 if period == "minute" else start + 30 * DAY
    return QuotaRefused(SpentWindow("watt", period, start, end, 10), clock.now())


@pytest.mark.parametrize(("period", "fetched"), [("minute", 2), ("month", 1)])
def test_a_fetch_the_minute_refused_is_made_once_it_is_over(period: str, fetched: int) -> None:
    clock = VirtualClock(JUNE_1 + 30)
    cache = ReplyCache(MemoryReplyStore(100, 1 << 20), Cache(), clock=clock)
    calls: list[float] = []

    async def fetch() -> Entry:
        calls.append(clock.now())
        if len(calls) == 1:
            raise refusal(clock, period)
        return entry(clock)

    async def scenario() -> str:
        with pytest.raises(QuotaRefused):
            await cache.get_or_fetch("k", fetch)
        clock.advance(40)  # past the minute's end
        await asyncio.sleep(0.01)  # the refresh started at the minute's end runs
        if period == "month":  # not made again before the month's end: the next request asks
            assert len(calls) == 1
            return ""
        _, state, _ = await cache.get_or_fetch("k", fetch)
        await cache.close()
        return state

    state = asyncio.run(scenario())
    assert len(calls) == fetched
    if period == "minute":
        assert calls[1] >= JUNE_1 + 60 and state == "HIT"


def test_a_v2_request_the_minute_refused_has_every_reply_cached_for_its_next_request(
    tmp_path: Path,
) -> None:
    # Issue 20: a refused inventory (system lookup, then devices) was refused again the next
    # day: only the lookup was ever fetched
    clock = VirtualClock(JUNE_1 + 3 * DAY)
    config = parse(support.config_text(SANDBOX_URL, tmp_path), str(tmp_path / "proxy.toml"))
    url = f"/api/v2/systems/1001/inventory?{AUTH}"

    async def scenario() -> tuple[int, int, str]:
        async with in_process(config, SandboxSettings(clock=clock), clock=clock) as stack:
            stats = sandbox_state(stack.sandbox).stats
            tenant = config.tenants["demo"]
            for _ in range(tenant.limits.per_minute - 1):  # other requests spent the minute
                await stack.services.governor.acquire(tenant)
            refused = await stack.proxy.get(url)
            before = stats.api_calls
            clock.advance(60)  # the minute is over: the request is answered again
            await asyncio.sleep(0.1)
            answered = await stack.proxy.get(url)
            assert answered.status_code == 200, answered.text
            return refused.status_code, stats.api_calls - before, answered.headers["X-Cache"]

    status, made_later, cache = asyncio.run(scenario())
    assert status == 409
    assert made_later == 1  # the devices call the refusal had stopped before
    assert cache == "HIT"


def test_a_fleet_polled_in_step_is_refused_only_at_its_first_minutes() -> None:
    # Issue 20: 50 systems polled in step got 1,928 minute-limit 409s in a month: the inventory
    # each system was asked for daily, at the same second as every summary, was refused daily
    systems = FLEET_SYSTEM_IDS[:20]
    polls = [Poll(fixed(f"/api/v2/systems/{s}/summary"), 600) for s in systems]
    polls += [Poll(fixed(f"/api/v2/systems/{s}/inventory"), DAY) for s in systems]
    workload = Workload("in step", "kilowatt", 50_000, True, polls, days=3)
    figures = asyncio.run(run(workload, pacing=True))
    assert figures.refused > 0  # 40 keys asked in one second, 10 calls a minute
    assert figures.refused_after_first == 0
    assert max(figures.refused_keys.values()) == 1  # each key refused once, then answered
