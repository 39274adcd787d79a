"""Quota governor: minute and month windows, waiting, 429 blocks, write budget, shared stores."""

from __future__ import annotations

import asyncio
import datetime as dt
import multiprocessing
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal

import pytest
from prometheus_client import REGISTRY

from proxy.config import Config, Limits, Quota, Server, Tenant, parse
from proxy.quota.blocks import PROBE_AFTER
from proxy.quota.governor import (
    QuotaExhausted,
    QuotaGovernor,
    WriteBudgetExhausted,
    open_governor,
    team_spender,
)
from proxy.quota.windows import period_bounds
from tests.support import results_of

pytestmark = pytest.mark.anyio

BACKENDS = ["memory", "file", "redis"]


def at(text: str) -> int:
    """Epoch of an ISO 8601 UTC instant."""
    return int(dt.datetime.fromisoformat(text + "+00:00").timestamp())


T0 = at("2024-06-10T12:00:30")
NEXT_MINUTE = at("2024-06-10T12:01:00")
NEXT_MONTH = at("2024-07-01T00:00:00")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class FakeTime:
    """A clock and a sleep that moves it instead of waiting."""

    def __init__(self, t: float = T0) -> None:
        self.t = t
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.t += seconds


def tenant(
    per_minute: int = 10, per_month: int = 1000, writes: int = 200, name: str = ""
) -> Tenant:
    """A tenant with a fresh name, so Redis counts of other tests never mix in."""
    return Tenant(
        name=name or f"t-{uuid.uuid4().hex[:8]}",
        api_key="k",
        client_id="c",
        client_secret="s",
        plan="watt",
        limits=Limits(per_minute, per_month),
        writes_per_month=writes,
    )


Backend = Literal["file", "memory", "redis"]


def config(backend: Backend, data_dir: Path, redis_url: str, max_wait: float = 0.0) -> Config:
    return Config(
        server=Server(data_dir=str(data_dir)),
        quota=Quota(backend=backend, max_wait=max_wait),
        redis_url=redis_url,
    )


@asynccontextmanager
async def governed(
    backend: Backend,
    data_dir: Path,
    redis_url: str,
    max_wait: float = 0.0,
    sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
) -> AsyncIterator[QuotaGovernor]:
    governor = await open_governor(config(backend, data_dir, redis_url, max_wait), sleep=sleep)
    try:
        yield governor
    finally:
        await governor.close()


async def outcomes(governor: QuotaGovernor, who: Tenant, n: int, now: Any) -> list[Any]:
    """``n`` concurrent acquires: None for each granted call, the exception for each refused."""
    replies = await asyncio.gather(
        *(governor.acquire(who, now=now) for _ in range(n)), return_exceptions=True
    )
    return replies


async def confirmed_429(
    governor: QuotaGovernor, who: Tenant, body: dict[str, Any], clock: FakeTime
) -> None:
    """Observe the 429 ``body``; a month one twice, the second from the probe that confirms it."""
    await governor.observe_429(who, body, now=clock)
    if body["period"] == "month":
        clock.t += PROBE_AFTER
        await governor.observe_429(who, body, now=clock)


def test_period_bounds() -> None:
    assert period_bounds("minute", T0) == (T0 - 30, NEXT_MINUTE)
    assert period_bounds("minute", NEXT_MINUTE) == (NEXT_MINUTE, NEXT_MINUTE + 60)
    assert period_bounds("month", T0) == (at("2024-06-01T00:00:00"), NEXT_MONTH)
    december = at("2024-12-31T23:59:59")
    assert period_bounds("month", december) == (
        at("2024-12-01T00:00:00"),
        at("2025-01-01T00:00:00"),
    )


@pytest.mark.parametrize("backend", BACKENDS)
async def test_burst_without_waiting(backend: Backend, tmp_path: Path, redis_url: str) -> None:
    who = tenant(per_minute=10)
    async with governed(backend, tmp_path, redis_url) as governor:
        replies = await outcomes(governor, who, 50, FakeTime())
        refused = [r for r in replies if r is not None]
        assert replies.count(None) == 10
        assert len(refused) == 40
        for exc in refused:
            assert isinstance(exc, QuotaExhausted)
            assert (exc.tenant, exc.plan, exc.period, exc.limit) == (who.name, "watt", "minute", 10)
            assert (exc.period_start, exc.period_end) == (T0 - 30, NEXT_MINUTE)
        assert await governor.remaining(who, now=FakeTime()) == {
            "month": 990,
            "minute": 0,
            "writes": 200,
        }
        assert await outcomes(governor, who, 5, FakeTime(NEXT_MINUTE)) == [None] * 5


@pytest.mark.parametrize("backend", BACKENDS)
async def test_burst_waits_for_the_next_minute(
    backend: Backend, tmp_path: Path, redis_url: str
) -> None:
    offset = 60 - time.time() % 60 - 0.3  # the real clock, shifted to 0.3 s before a minute ends
    shifted: Callable[[], float] = lambda: time.time() + offset  # noqa: E731
    boundary = int(shifted()) + 1
    who = tenant(per_minute=10)
    async with governed(backend, tmp_path, redis_url, max_wait=2.0) as governor:
        started = time.monotonic()
        replies = await outcomes(governor, who, 50, shifted)
        assert time.monotonic() - started < 2.0
    refused = [r for r in replies if r is not None]
    assert replies.count(None) == 20
    assert {(e.period, e.period_end) for e in refused} == {("minute", boundary + 60)}


@pytest.mark.parametrize("backend", BACKENDS)
async def test_waits_spread_calls_over_minutes(
    backend: Backend, tmp_path: Path, redis_url: str
) -> None:
    clock, who = FakeTime(), tenant(per_minute=10)
    granted: Counter[int] = Counter()
    async with governed(backend, tmp_path, redis_url, 45.0, clock.sleep) as governor:
        for _ in range(20):
            await governor.acquire(who, now=clock)
            granted[int(clock()) // 60 * 60] += 1
        with pytest.raises(QuotaExhausted) as raised:
            await governor.acquire(who, now=clock)
    assert granted == {T0 - 30: 10, NEXT_MINUTE: 10}
    assert clock.slept == [30]  # the wait of a full minute would exceed max_wait
    assert (raised.value.period, raised.value.period_end) == ("minute", NEXT_MINUTE + 60)


@pytest.mark.parametrize("backend", BACKENDS)
async def test_month_exhaustion_raises_at_once(
    backend: Backend, tmp_path: Path, redis_url: str
) -> None:
    clock, who = FakeTime(), tenant(per_minute=10, per_month=5)
    async with governed(backend, tmp_path, redis_url, 3600.0, clock.sleep) as governor:
        assert await outcomes(governor, who, 5, clock) == [None] * 5
        with pytest.raises(QuotaExhausted) as raised:
            await governor.acquire(who, now=clock)
    assert clock.slept == []
    exc = raised.value
    assert (exc.period, exc.period_end, exc.limit) == ("month", NEXT_MONTH, 5)


@pytest.mark.parametrize("backend", BACKENDS)
async def test_observed_429_blocks_until_period_end(
    backend: Backend, tmp_path: Path, redis_url: str
) -> None:
    clock, who = FakeTime(), tenant(per_minute=10)
    body = {"period": "minute", "period_start": T0 - 30, "period_end": T0 + 45, "limit": 10}
    async with governed(backend, tmp_path, redis_url) as governor:
        await governor.observe_429(who, body, now=clock)
        with pytest.raises(QuotaExhausted) as raised:
            await governor.acquire(who, now=clock)
        assert (raised.value.period, raised.value.period_end) == ("minute", T0 + 45)
        assert (await governor.remaining(who, now=clock))["minute"] == 0
        clock.t = NEXT_MINUTE + 5  # a new clock minute, still before the 429's period_end
        with pytest.raises(QuotaExhausted):
            await governor.acquire(who, now=clock)
        clock.t = T0 + 45
        await governor.acquire(who, now=clock)


@pytest.mark.parametrize("backend", BACKENDS)
async def test_observed_429_is_waited_out_within_max_wait(
    backend: Backend, tmp_path: Path, redis_url: str
) -> None:
    clock, who = FakeTime(), tenant()
    async with governed(backend, tmp_path, redis_url, 60.0, clock.sleep) as governor:
        await governor.observe_429(who, {"period": "minute", "period_end": T0 + 20}, now=clock)
        await governor.acquire(who, now=clock)
        assert clock.slept == [20]
        month = {"period": "month", "period_end": T0 + 86_400, "limit": 1000}
        await confirmed_429(governor, who, month, clock)
        with pytest.raises(QuotaExhausted) as raised:
            await governor.acquire(who, now=clock)
        # the proxy's own month, as its own month refusal names it (issue 23)
        assert (raised.value.period, raised.value.period_end) == ("month", NEXT_MONTH)
        assert clock.slept == [20]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("period", ["minute", "month"])
async def test_a_429_from_an_upstream_clock_25_hours_ahead_blocks_only_its_period(
    backend: Backend, period: str, tmp_path: Path, redis_url: str
) -> None:
    """period_end is clamped to the period the 429 names, also once stored (issue 15, 7)."""
    clock, who = FakeTime(), tenant()
    ends = {"minute": T0 + 60, "month": NEXT_MONTH}  # the latest each period can end
    ahead = {"period": period, "period_end": ends[period] + 90_000}
    async with governed(backend, tmp_path, redis_url) as governor:
        await confirmed_429(governor, who, ahead, clock)
        with pytest.raises(QuotaExhausted) as raised:
            await governor.acquire(who, now=clock)
    assert (raised.value.period, raised.value.period_end) == (period, ends[period])
    clock.t = ends[period]
    async with governed(backend, tmp_path, redis_url) as governor:  # the stored block too
        await governor.acquire(who, now=clock)


@pytest.mark.parametrize("backend", BACKENDS)
async def test_a_refusal_after_an_upstream_429_names_the_configured_plan_limit_and_month(
    backend: Backend, tmp_path: Path, redis_url: str
) -> None:
    clock = FakeTime()
    upstream = {"period": "month", "period_start": T0 - 99, "period_end": NEXT_MONTH - 1}
    async with governed(backend, tmp_path, redis_url) as governor:
        spent, blocked = tenant(per_month=1), tenant(per_month=50_000)
        await governor.acquire(spent, now=clock)
        with pytest.raises(QuotaExhausted) as own:
            await governor.acquire(spent, now=clock)
        await confirmed_429(governor, blocked, upstream | {"limit": 1000}, clock)
        with pytest.raises(QuotaExhausted) as learned:
            await governor.acquire(blocked, now=clock)
    fields = ("plan", "period", "period_start", "period_end")
    assert [getattr(learned.value, f) for f in fields] == [getattr(own.value, f) for f in fields]
    assert learned.value.limit == 50_000


async def test_observed_429_defaults_and_stale_bodies(tmp_path: Path, redis_url: str) -> None:
    clock, who = FakeTime(), tenant()
    async with governed("memory", tmp_path, redis_url) as governor:
        await governor.observe_429(who, {"period": "minute", "period_end": T0 - 1}, now=clock)
        await governor.acquire(who, now=clock)
        await governor.observe_429(who, {"message": "Too Many Requests"}, now=clock)
        with pytest.raises(QuotaExhausted) as raised:
            await governor.acquire(who, now=clock)
        assert (raised.value.period, raised.value.period_end) == ("minute", NEXT_MINUTE)


@pytest.mark.parametrize("backend", ["file", "redis"])
async def test_write_budget_survives_a_restart(
    backend: Backend, tmp_path: Path, redis_url: str
) -> None:
    clock, who = FakeTime(), tenant(writes=3)
    async with governed(backend, tmp_path, redis_url) as governor:
        for _ in range(2):
            await governor.acquire_write(who, now=clock)
    async with governed(backend, tmp_path, redis_url) as governor:
        await governor.acquire_write(who, now=clock)
        with pytest.raises(WriteBudgetExhausted) as raised:
            await governor.acquire_write(who, now=clock)
        left = await governor.remaining(who, now=clock)
    exc = raised.value
    assert isinstance(exc, QuotaExhausted)
    assert (exc.period, exc.period_end, exc.limit) == ("month", NEXT_MONTH, 3)
    assert left == {"month": 1000, "minute": 10, "writes": 0}


async def test_remaining_is_published(tmp_path: Path, redis_url: str) -> None:
    clock, who = FakeTime(), tenant()
    async with governed("memory", tmp_path, redis_url) as governor:
        await outcomes(governor, who, 3, clock)
        await governor.acquire_write(who, now=clock)
        assert await governor.remaining(who, now=clock) == {
            "month": 997,
            "minute": 7,
            "writes": 199,
        }
    labels = {"tenant": who.name, "period": "minute"}
    assert REGISTRY.get_sample_value("enphase_proxy_quota_remaining", labels) == 7


def _burst(
    backend: Backend, data_dir: str, url: str, name: str, barrier: Any, results: Any
) -> None:
    """One process: its own governor on the shared store; 10 concurrent acquires at T0."""

    async def main() -> int:
        governor = await open_governor(config(backend, Path(data_dir), url))
        await asyncio.to_thread(barrier.wait)
        replies = await outcomes(governor, tenant(name=name), 10, lambda: T0)
        await governor.close()
        assert all(r is None or isinstance(r, QuotaExhausted) for r in replies)
        return replies.count(None)

    results.put(asyncio.run(main()))


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["file", "redis"])
async def test_processes_sharing_a_store_never_over_grant(
    backend: Backend, tmp_path: Path, redis_url: str
) -> None:
    name = f"shared-{uuid.uuid4().hex[:8]}"
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(4), context.Queue()
    args = (backend, str(tmp_path), redis_url, name, barrier, results)
    workers = [context.Process(target=_burst, args=args) for _ in range(4)]
    for worker in workers:
        worker.start()
    granted = [await asyncio.to_thread(results.get, timeout=60) for _ in workers]
    for worker in workers:
        await asyncio.to_thread(worker.join, 10)
        assert worker.exitcode == 0
    assert sum(granted) == 10
    async with governed(backend, tmp_path, redis_url) as governor:
        left = await governor.remaining(tenant(name=name), now=lambda: T0)
    assert left == {"month": 990, "minute": 0, "writes": 200}


def _first_start(data_dir: str, barrier: Any, results: Any) -> None:
    """One worker opening the file store at the same moment as another."""

    async def main() -> str:
        await asyncio.to_thread(barrier.wait)
        try:
            governor = await open_governor(config("file", Path(data_dir), ""))
        except Exception as exc:
            return repr(exc)
        await governor.close()
        return "opened"

    results.put([asyncio.run(main())])


@pytest.mark.slow
def test_fifty_first_starts_of_two_workers_on_an_empty_data_dir(tmp_path: Path) -> None:
    """Two workers creating quota.sqlite3 at once both open it, 50 times (issue 15, finding 5).

    Before the fix about one start in ten failed with "database is locked" (WAL switch).
    """
    context = multiprocessing.get_context("fork")
    outcomes: Counter[str] = Counter()
    for start in range(50):
        barrier, results = context.Barrier(2), context.Queue()
        args = (str(tmp_path / str(start)), barrier, results)
        workers = [context.Process(target=_first_start, args=args) for _ in range(2)]
        outcomes.update(results_of(workers, results, timeout=60))
    assert outcomes == {"opened": 100}


def test_team_budgets_default_to_a_share_of_the_tenant_and_can_be_set() -> None:
    """Each team client's own limits: ``[quota] team_share`` of the tenant's, or its own keys."""
    who = tenant(per_minute=10, per_month=1000)
    text = """
[quota]
team_share = 0.25

[[tenants]]
name = "t"
api_key = "k"
client_id = "c"
client_secret = "s"

[[team_clients]]
name = "shared"
key = "k1"
tenants = ["t"]

[[team_clients]]
name = "own"
key = "k2"
tenants = ["t"]
per_minute = 2
per_month = 30
"""
    config = parse(text)
    shared, own = config.team_clients
    assert team_spender(shared, who, config.quota.team_share).limits == Limits(2, 250)
    assert team_spender(own, who, config.quota.team_share).limits == Limits(2, 30)
