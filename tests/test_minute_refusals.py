"""The plan's minute limit, spent where a client would otherwise get a 409: refreshes leave the
minute's last calls to cold misses, a backfill takes at most half of it, and what a busy minute
refused is fetched once it is over (the client's next request is then answered)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from bench.month import DAY, Poll, Workload, fixed, run
from proxy.cache import Entry, MemoryReplyStore, ReplyCache
from proxy.clock import VirtualClock
from proxy.config import Cache, Limits, Tenant, parse
from proxy.errors import QuotaRefused, SpentWindow
from proxy.quota.governor import MemoryQuotaStore, QuotaExhausted, QuotaGovernor
from proxy.sandbox import SandboxSettings, sandbox_state
from proxy.sandbox.settings import FLEET_SYSTEM_IDS
from proxy.simulation import SANDBOX_URL, in_process
from proxy.v2 import Deferred
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


def test_requests_held_for_later_minutes_are_spread_by_the_calls_they_need() -> None:
    clock = VirtualClock(JUNE_1 + 30)
    deferred = Deferred(clock)
    ran: list[tuple[str, int]] = []

    async def answered(name: str, i: int) -> None:
        ran.append((name, i))

    def hold(name: str, i: int) -> int | None:
        return deferred.later((name, i), f"/{name}", JUNE_1 + 60, 10, lambda: answered(name, i))

    async def scenario() -> None:
        deferred.learn("/summary", 1)  # a summary was answered with one call
        summaries = [hold("summary", i) for i in range(12)]
        inventories = [hold("inventory", i) for i in range(4)]  # nothing told: 3 calls each
        assert summaries == [JUNE_1 + 60] * 10 + [JUNE_1 + 120] * 2
        assert inventories == [JUNE_1 + 120] * 2 + [JUNE_1 + 180] * 2
        assert hold("summary", 0) == JUNE_1 + 60  # waiting already: its minute
        clock.advance(30)
        await asyncio.sleep(0)
        assert ran == [("summary", i) for i in range(10)]
        clock.advance(120)
        await deferred.close()
        assert len(ran) == 16 and len(deferred) == 0

    asyncio.run(scenario())


def entry(clock: VirtualClock) -> Entry:
    return Entry(200, b"{}", "application/json", clock.now(), 300)


def refusal(clock: VirtualClock, period: str) -> QuotaRefused:
    start = int(clock.now()) // 60 * 60
    end = start + 60 if period == "minute" else start + 30 * DAY
    return QuotaRefused(SpentWindow("watt", period, start, end, 10), clock.now())


@pytest.mark.parametrize(("period", "refreshed"), [("minute", True), ("month", False)])
def test_a_refresh_the_minute_refused_is_made_once_it_is_over(period: str, refreshed: bool) -> None:
    # Issue 20: a refresh refused at a busy minute waited for the key's next request, at its
    # next busy minute: an inventory asked daily with 50 summaries was served 27 days old
    clock = VirtualClock(JUNE_1 + 30)
    cache = ReplyCache(MemoryReplyStore(100, 1 << 20), Cache(), clock=clock)
    calls: list[float] = []

    async def fetch() -> Entry:
        calls.append(clock.now())
        if len(calls) == 2:  # the first refresh
            raise refusal(clock, period)
        return entry(clock)

    async def scenario() -> tuple[str, str]:
        await cache.get_or_fetch("k", fetch)
        clock.advance(400)  # stale: served as it is refreshed in the background
        _, stale, _ = await cache.get_or_fetch("k", fetch)
        await asyncio.sleep(0.01)
        clock.advance(60)  # past the refusing minute's end
        await asyncio.sleep(0.01)  # the refresh started at the minute's end runs
        _, state, _ = await cache.get_or_fetch("k", fetch, refresh=never)
        await cache.close()
        return stale, state

    stale, state = asyncio.run(scenario())
    assert stale == "STALE"
    assert len(calls) == (3 if refreshed else 2)
    assert state == ("HIT" if refreshed else "STALE")


async def never(entry: Entry) -> bool:
    """A pacer that affords no refresh: the key is refreshed only by what was deferred."""
    return False


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
            held = REGISTRY.get_sample_value("enphase_proxy_deferred_requests_total") or 0
            refused = await stack.proxy.get(url)
            assert REGISTRY.get_sample_value("enphase_proxy_deferred_requests_total") == held + 1
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


@pytest.mark.parametrize("retries", [False, True])
def test_a_fleet_polled_in_step_is_refused_only_at_its_first_minutes(retries: bool) -> None:
    # Issue 20: 50 systems polled in step got 1,928 minute-limit 409s in a month: the inventory
    # each system was asked for daily, at the same second as every summary, was refused daily;
    # clients that came back after Retry-After were refused again, all at once
    systems = FLEET_SYSTEM_IDS[:20]
    polls = [Poll(fixed(f"/api/v2/systems/{s}/summary"), 600, retries=retries) for s in systems]
    polls += [Poll(fixed(f"/api/v2/systems/{s}/inventory"), DAY, retries=retries) for s in systems]
    workload = Workload("in step", "kilowatt", 50_000, True, polls, days=3)
    figures = asyncio.run(run(workload, pacing=True))
    assert figures.refused > 0  # 40 keys asked in one second, 10 calls a minute
    assert figures.refused_after_first == 0
    assert max(figures.refused_keys.values()) == 1  # each key refused once, then answered
