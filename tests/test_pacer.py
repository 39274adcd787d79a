"""The pacer on each quota backend: shared demand and month count, snapshot figures."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Literal

import pytest

from proxy.clock import VirtualClock
from proxy.config import Config, Limits, Quota, Server, Tenant
from proxy.quota import pacing
from proxy.quota.demand import MemoryDemandStore
from proxy.quota.governor import open_governor
from proxy.quota.pacer import BudgetSnapshot, Pacer, open_pacer
from proxy.quota.pacing import MonthBudget

JUNE_1 = 1_780_272_000  # 2026-06-01 00:00 UTC
JULY_1 = JUNE_1 + 30 * 86_400
DAY = 86_400


def tenant(per_month: int) -> Tenant:
    """A tenant with a fresh name, so Redis state of other tests never mixes in."""
    return Tenant(
        name=f"t-{uuid.uuid4().hex[:8]}",
        api_key="k",
        client_id="c",
        client_secret="s",
        plan="watt",
        limits=Limits(100, per_month),
    )


Backend = Literal["file", "memory", "redis"]


def config(backend: Backend, data_dir: Path, redis_url: str) -> Config:
    quota = Quota(backend=backend, reserve=0.1, demand_window=3600)
    return Config(server=Server(data_dir=str(data_dir)), quota=quota, redis_url=redis_url)


async def open_two(cfg: Config, clock: VirtualClock) -> list[Pacer]:
    """Two pacers (two workers or replicas) on the same backend."""
    pacers = []
    for _ in range(2):
        governor = await open_governor(cfg, clock=clock)
        pacers.append(await open_pacer(cfg, governor, clock))
    return pacers


async def close(pacers: list[Pacer]) -> None:
    for pacer in pacers:
        await pacer.close()
        await pacer.governor.close()


@pytest.mark.parametrize("backend", ["file", "redis"])
def test_two_workers_pace_against_one_budget_and_one_demand(
    backend: Backend, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    redis_url = request.getfixturevalue("redis_url") if backend == "redis" else ""
    who = tenant(per_month=1000)
    clock = VirtualClock(JUNE_1 + 10 * DAY)

    async def scenario() -> tuple[float, float, int, int]:
        first, second = await open_two(config(backend, tmp_path, redis_url), clock)
        try:
            for _ in range(100):  # the first worker spends 100 calls
                await first.governor.acquire(who)
            await first.allows_refresh(who, "summary-1", 300, 0, age=400)
            await second.allows_refresh(who, "summary-2", 300, 0, age=400)
            await second.allows_refresh(who, "stats-2", 300, DAY, age=400)
            snapshot = await first.snapshot(who)
            return (
                await first.interval(who),
                (await second.snapshot(who)).interval or 0.0,
                snapshot.used,
                snapshot.keys_in_demand,
            )
        finally:
            await close([first, second])

    first_interval, second_interval, used, keys = asyncio.run(scenario())
    assert used == 100 and keys == 3
    budget = MonthBudget(1000, 100, JUNE_1, JULY_1)
    keys_in_demand = [(300, 0), (300, 0), (300, DAY)]
    expected = pacing.refresh_interval(budget, 0.1, clock.now(), keys_in_demand)
    assert first_interval == pytest.approx(expected)
    assert second_interval == pytest.approx(expected)


@pytest.mark.parametrize("backend", ["memory", "file", "redis"])
def test_keys_nobody_asked_for_within_the_demand_window_drop_out(
    backend: Backend, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    redis_url = request.getfixturevalue("redis_url") if backend == "redis" else ""
    who = tenant(per_month=1000)
    clock = VirtualClock(JUNE_1 + DAY)

    async def scenario() -> list[int]:
        cfg = config(backend, tmp_path, redis_url)
        pacer = await open_pacer(cfg, await open_governor(cfg, clock=clock), clock)
        try:
            await pacer.allows_refresh(who, "old", 300, 0, age=400)
            clock.advance(1800)
            await pacer.allows_refresh(who, "new", 300, 0, age=400)
            counts = [(await pacer.snapshot(who)).keys_in_demand]
            clock.advance(1801)
            counts.append((await pacer.snapshot(who)).keys_in_demand)
            return counts
        finally:
            await close([pacer])

    assert asyncio.run(scenario()) == [2, 1]


def test_a_stale_key_is_refreshed_only_once_its_paced_interval_has_passed(tmp_path: Path) -> None:
    who = tenant(per_month=1000)
    clock = VirtualClock(JUNE_1)

    async def scenario() -> tuple[float, bool, bool]:
        cfg = config("memory", tmp_path, "")
        pacer = await open_pacer(cfg, await open_governor(cfg, clock=clock), clock)
        try:
            interval = await pacer.interval(who)
            await pacer.allows_refresh(who, "a", 300, 0, age=0)
            await pacer.allows_refresh(who, "b", 300, 0, age=0)
            clock.advance(120)  # past REPACE: the two keys are in demand now
            interval = await pacer.interval(who)
            early = await pacer.allows_refresh(who, "a", 300, 0, age=interval - 1)
            due = await pacer.allows_refresh(who, "a", 300, 0, age=interval + 1)
            return interval, early, due
        finally:
            await close([pacer])

    interval, early, due = asyncio.run(scenario())
    assert interval == pytest.approx((JULY_1 - JUNE_1 - 120) * 2 / 900)
    assert not early and due


def test_the_snapshot_tells_forecast_reserve_calls_per_day_and_costliest_keys(
    tmp_path: Path,
) -> None:
    who = tenant(per_month=1000)
    clock = VirtualClock(JUNE_1 + 10 * DAY)

    async def scenario() -> BudgetSnapshot:
        cfg = config("memory", tmp_path, "")
        pacer = await open_pacer(cfg, await open_governor(cfg, clock=clock), clock)
        try:
            for key, calls in (("a", 3), ("b", 5), ("c", 1)):
                for _ in range(calls):
                    await pacer.governor.acquire(who)
                    await pacer.spent(who, key)
            return await pacer.snapshot(who)
        finally:
            await close([pacer])

    snapshot = asyncio.run(scenario())
    assert snapshot.used == 9 and snapshot.remaining == 991
    assert snapshot.reserve == 67  # 10% of 1000 with 20 of 30 days left
    assert snapshot.calls_per_day == pytest.approx(0.9)
    assert snapshot.forecast is None  # lasts past the month
    assert snapshot.top_keys == (("b", 5), ("a", 3), ("c", 1))


def test_a_worker_remembers_a_bounded_number_of_noted_keys(tmp_path: Path) -> None:
    """Distinct keys (an attacker's, or a month of date ranges) do not grow a worker's memory.

    A key this worker forgot is only noted in the shared demand again: none drops out of it.
    """
    who = tenant(per_month=1000)
    clock = VirtualClock(JUNE_1)

    async def scenario() -> tuple[int, int, int]:
        cfg = config("memory", tmp_path, "")  # demand window 3600 s: a key is noted every 450 s
        governor = await open_governor(cfg, clock=clock)
        pacer = Pacer(governor, MemoryDemandStore(), cfg.quota, clock, max_noted=100)
        try:
            for index in range(1000):  # all at once: bounded by count
                await pacer.allows_refresh(who, f"burst-{index}", 300, 0, age=0)
            burst = len(pacer.noted)
            in_demand = (await pacer.snapshot(who)).keys_in_demand
            for index in range(1000):  # one every 10 s: bounded by age as well
                await pacer.allows_refresh(who, f"steady-{index}", 300, 0, age=0)
                clock.advance(10)
            return burst, in_demand, len(pacer.noted)
        finally:
            await close([pacer])

    burst, in_demand, steady = asyncio.run(scenario())
    assert burst == 100
    assert in_demand == 1000
    assert steady <= 450 // 10 + 1


def test_a_key_asked_again_soon_is_noted_in_the_shared_demand_once(tmp_path: Path) -> None:
    who = tenant(per_month=1000)
    clock = VirtualClock(JUNE_1)

    async def scenario() -> list[int]:
        cfg = config("memory", tmp_path, "")
        store = MemoryDemandStore()
        pacer = Pacer(await open_governor(cfg, clock=clock), store, cfg.quota, clock)
        noted = []
        try:
            for step in (0, 100, 400):  # at 0, 100 and 500 s; a key is noted every 450 s
                clock.advance(step)
                await pacer.allows_refresh(who, "a", 300, 0, age=0)
                noted.append(len(await store.demand(who.name, JUNE_1 + 1)))
            return noted
        finally:
            await close([pacer])

    assert asyncio.run(scenario()) == [0, 0, 1]


def test_with_only_the_reserve_left_a_scrape_with_nobody_asking_lets_no_refresh_through(
    tmp_path: Path,
) -> None:
    """A snapshot (each /metrics scrape) with no key in demand said "natural freshness" and
    kept that for a minute: the next stale key asked was refreshed from the reserve."""
    who = tenant(per_month=1000)
    clock = VirtualClock(JUNE_1)

    async def scenario() -> tuple[BudgetSnapshot, bool]:
        cfg = config("memory", tmp_path, "")
        pacer = await open_pacer(cfg, await open_governor(cfg, clock=clock), clock)
        try:
            for _ in range(900):  # the reserve (100) is all that is left
                await pacer.governor.acquire(who)
                clock.advance(1)  # within the per-minute limit
            snapshot = await pacer.snapshot(who)
            return snapshot, await pacer.allows_refresh(who, "a", 300, 0, age=DAY)
        finally:
            await close([pacer])

    snapshot, refreshed = asyncio.run(scenario())
    assert (snapshot.remaining, snapshot.reserve, snapshot.interval) == (100, 100, None)
    assert not refreshed
