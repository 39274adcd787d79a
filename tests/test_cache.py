"""Reply cache: single-flight within a worker and across processes, stale rules, bounds, purge."""

from __future__ import annotations

import asyncio
import gc
import logging
import multiprocessing
import os
import signal
import sqlite3
import time
import tracemalloc
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, cast

import pytest
import redis
from prometheus_client import REGISTRY
from redis.asyncio import Redis

from proxy.cache import (
    Entry,
    FileReplyStore,
    MemoryReplyStore,
    ReplyCache,
    cache_key,
    freshness,
    open_cache,
)
from proxy.cache.file_locks import KeyLocks
from proxy.cache.file_store import LOCKS_DIR
from proxy.cache.generation import REDIS_KEY as GENERATION_KEY
from proxy.cache.generation import RedisGeneration
from proxy.cache.redis_store import REDIS_LOCK_PREFIX
from proxy.cache.replies import LIVE_DIR
from proxy.config import Cache, Config, Server
from proxy.errors import UpstreamUnavailable
from proxy.observability import metrics
from tests.support import present, results_of

pytestmark = pytest.mark.anyio

SETTINGS = Cache(error_ttl=60, stale_if_error=3600)
SUMMARY = "/systems/1/summary"  # live TTL 300
T0 = 1_700_000_000.0


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Clock:
    """A clock whose epoch the test moves by hand; waits and deadlines take real time."""

    def __init__(self, t: float = T0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def now(self) -> float:
        return self.t

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    def call_at(self, epoch: float, callback: Callable[[], object]) -> asyncio.TimerHandle:
        return asyncio.get_running_loop().call_later(max(0.0, epoch - self.t), callback)


class Upstream:
    """A fake fetch function: counts its calls and answers as told, with freshness TTLs."""

    def __init__(
        self,
        clock: Clock,
        body: bytes = b"{}",
        status: int = 200,
        delay: float = 0.0,
        error: Exception | None = None,
    ) -> None:
        self.clock, self.body, self.status = clock, body, status
        self.delay, self.error = delay, error
        self.calls = 0

    async def __call__(self) -> Entry:
        self.calls += 1
        await asyncio.sleep(self.delay)
        if self.error is not None:
            raise self.error
        now = self.clock()
        ttl = freshness.ttl(SUMMARY, (), now, self.status, SETTINGS)
        return Entry(self.status, self.body, "application/json", now, ttl)


def config_for(backend: str, url: str, data_dir: Path, settings: Cache = SETTINGS) -> Config:
    """A configuration whose cache is on ``backend``, with its files in ``data_dir``."""
    cache = Cache(**{**settings.__dict__, "backend": backend})
    return Config(server=Server(data_dir=str(data_dir)), cache=cache, redis_url=url)


@asynccontextmanager
async def opened(
    backend: str, url: str, data_dir: Path, settings: Cache = SETTINGS
) -> AsyncIterator[ReplyCache]:
    """A cache on ``backend`` holding nothing yet."""
    cache = await open_cache(config_for(backend, url, data_dir, settings))
    await cache.purge()
    try:
        yield cache
    finally:
        await cache.close()


@pytest.fixture(params=["file", "memory", "redis"])
async def cache(
    request: pytest.FixtureRequest, redis_url: str, tmp_path: Path
) -> AsyncIterator[ReplyCache]:
    async with opened(request.param, redis_url, tmp_path) as opened_cache:
        yield opened_cache


def key(tenant: str = "acme", path: str = SUMMARY) -> str:
    return cache_key(tenant, path, ())


async def test_concurrent_identical_calls_fetch_once(cache: ReplyCache) -> None:
    clock = Clock()
    cache.clock = clock
    upstream = Upstream(clock, b'{"n": 1}', delay=0.05)
    lookups = (cache.get_or_fetch(key(), upstream) for _ in range(100))
    replies = await asyncio.gather(*lookups)
    assert upstream.calls == 1
    assert {e.body for e, _, _ in replies} == {b'{"n": 1}'}
    assert {state for _, state, _ in replies} <= {"MISS", "HIT"}  # HIT: looked after the store
    entry, state, _ = await cache.get_or_fetch(key(), upstream)
    assert (entry.body, state, upstream.calls) == (b'{"n": 1}', "HIT", 1)


async def test_through_refetches_a_reply_lacking_the_data_and_keeps_one_holding_it_final() -> None:
    clock = Clock()
    cache = ReplyCache(MemoryReplyStore(100, 1 << 20), SETTINGS, clock=clock)  # nothing on disk
    upstream = Upstream(clock)
    lag = cache.settings.reporting_lag
    await cache.get_or_fetch(key(), upstream)
    clock.t = T0 + 60  # still fresh, but fetched before the data asked for existed
    _, state, _ = await cache.get_or_fetch(key(), upstream, through=T0 + 30)
    assert (state, upstream.calls) == ("MISS", 2)
    clock.t = T0 + 2 * 86_400  # long past its TTL and any stale rule
    entry, state, age = await cache.get_or_fetch(key(), upstream, through=T0 + 60 - lag)
    assert (state, upstream.calls, entry.stored_at, age) == ("HIT", 2, T0 + 60, 2 * 86_400 - 60)
    _, state, _ = await cache.get_or_fetch(key(), upstream, through=T0 + 61 - lag)
    assert (state, upstream.calls) == ("MISS", 3)  # within the lag: the usual rules
    await cache.close()


async def test_through_never_holds_an_error_reply_past_its_ttl() -> None:
    clock = Clock()
    cache = ReplyCache(MemoryReplyStore(100, 1 << 20), SETTINGS, clock=clock)
    upstream = Upstream(clock, status=422)
    await cache.get_or_fetch(key(), upstream)
    clock.t = T0 + 86_400
    _, state, _ = await cache.get_or_fetch(key(), upstream, through=T0 - 86_400)
    assert (state, upstream.calls) == ("MISS", 2)
    await cache.close()


def _process(
    url: str, backend: str, data_dir: Path, cache_key_: str, barrier: Any, results: Any
) -> None:
    """One worker process: its own loop and ReplyCache; 25 concurrent identical lookups."""

    async def main() -> list[tuple[bytes, str]]:
        cache = await open_cache(config_for(backend, url, data_dir, Cache()))
        counter = Redis.from_url(url)

        async def fetch() -> Entry:
            await counter.incr(cache_key_ + ":calls")
            await asyncio.sleep(0.3)
            return Entry(200, b'{"shared": true}', "application/json", time.time(), 60)

        await asyncio.to_thread(barrier.wait)
        replies = await asyncio.gather(*(cache.get_or_fetch(cache_key_, fetch) for _ in range(25)))
        await cache.close()
        await counter.aclose()
        return [(e.body, state) for e, state, _ in replies]

    results.put(asyncio.run(main()))


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["redis", "file"])
def test_processes_share_one_fetch(redis_url: str, backend: str, tmp_path: Path) -> None:
    shared = key(f"procs-{uuid.uuid4().hex}")
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(4), context.Queue()
    args = (redis_url, backend, tmp_path, shared, barrier, results)
    workers = [context.Process(target=_process, args=args) for _ in range(4)]
    replies = results_of(workers, results, timeout=60)
    assert int(cast(bytes, redis.Redis.from_url(redis_url).get(shared + ":calls"))) == 1
    assert len(replies) == 100
    assert {body for body, _ in replies} == {b'{"shared": true}'}
    assert {state for _, state in replies} <= {"MISS", "HIT"}


@pytest.mark.parametrize("backend", ["redis", "file"])
async def test_waiter_fetches_itself_when_the_owner_dies(
    redis_url: str, tmp_path: Path, backend: str
) -> None:
    async with opened(backend, redis_url, tmp_path) as cache:
        if backend == "redis":
            client = Redis.from_url(redis_url)
            await client.set(REDIS_LOCK_PREFIX + key(), "dead-owner", px=300)
            await client.aclose()
        else:
            held = KeyLocks(tmp_path / LIVE_DIR / LOCKS_DIR).acquire(key())
            assert held is not None
            # the owner dies in 0.3 s: the kernel closes its lock file, which stays behind
            asyncio.get_running_loop().call_later(0.3, os.close, held.fd)
        upstream = Upstream(Clock(), b"mine")
        started = time.monotonic()
        entry, state, _ = await cache.get_or_fetch(key(), upstream)
        assert (entry.body, state, upstream.calls) == (b"mine", "MISS", 1)
        assert time.monotonic() - started >= 0.25


def _holder(url: str, backend: str, data_dir: Path, cache_key_: str, fetching: Any) -> None:
    """A worker that takes the fetch lock of ``cache_key_`` and fetches until it is killed."""

    async def main() -> None:
        cache = await open_cache(config_for(backend, url, data_dir, Cache()))

        async def fetch() -> Entry:
            fetching.set()
            await asyncio.sleep(3600)
            raise AssertionError("killed long before")

        await cache.get_or_fetch(cache_key_, fetch)

    asyncio.run(main())


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["redis", "file"])
async def test_a_sigkilled_holders_key_answers_within_3_s_of_its_death(
    redis_url: str, tmp_path: Path, backend: str
) -> None:
    """A fetch lock lives as long as its holder: a waiter takes over when the worker dies."""
    context = multiprocessing.get_context("spawn")
    fetching = context.Event()
    async with opened(backend, redis_url, tmp_path) as cache:
        args = (redis_url, backend, tmp_path, key(), fetching)
        holder = context.Process(target=_holder, args=args)
        holder.start()
        try:
            assert await asyncio.to_thread(fetching.wait, 60)
            upstream = Upstream(Clock(), b"mine")
            waiter = asyncio.create_task(cache.get_or_fetch(key(), upstream))
            await asyncio.sleep(0.5)
            assert not waiter.done()  # the holder is alive: its lock holds
            os.kill(holder.pid or 0, signal.SIGKILL)
            killed = time.monotonic()
            entry, state, _ = await asyncio.wait_for(waiter, 30)
            answered = time.monotonic() - killed
        finally:
            holder.kill()
            holder.join()
    assert (entry.body, state, upstream.calls) == (b"mine", "MISS", 1)
    assert answered < 3


@pytest.mark.parametrize(
    "failure",
    [
        {"error": UpstreamUnavailable(retry_after=30)},
        {"status": 503},
        {"status": 500},
        {"status": 429},
    ],
    ids=["unavailable", "503", "500", "429"],
)
async def test_failing_fetch_serves_the_stale_entry(
    cache: ReplyCache, failure: dict[str, Any]
) -> None:
    clock = Clock()
    cache.clock = clock
    await cache.get_or_fetch(key(), Upstream(clock, b"old"))
    clock.t += 1000  # stale, beyond stale-while-revalidate, within stale-if-error
    failing = Upstream(clock, b"broken", **failure)
    entry, state, age = await cache.get_or_fetch(key(), failing)
    assert (entry.body, state, age, failing.calls) == (b"old", "STALE", 1000, 1)
    entry, state, _ = await cache.get_or_fetch(key(), Upstream(clock, b"new"))
    assert (entry.body, state) == (b"new", "MISS")


async def test_failure_without_a_usable_stale_entry(cache: ReplyCache) -> None:
    clock = Clock()
    cache.clock = clock
    with pytest.raises(UpstreamUnavailable) as raised:
        await cache.get_or_fetch(key(), Upstream(clock, error=UpstreamUnavailable(retry_after=7)))
    assert raised.value.retry_after == 7
    entry, state, _ = await cache.get_or_fetch(key(), Upstream(clock, status=503))
    assert (entry.status, state) == (503, "MISS")
    await cache.get_or_fetch(key(), Upstream(clock, b"old"))
    clock.t += 300 + SETTINGS.stale_if_error + 1
    with pytest.raises(UpstreamUnavailable):
        await cache.get_or_fetch(key(), Upstream(clock, error=UpstreamUnavailable()))


async def test_stale_while_revalidate_answers_at_once_and_refreshes_once(
    cache: ReplyCache,
) -> None:
    clock = Clock()
    cache.clock = clock
    await cache.get_or_fetch(key(), Upstream(clock, b"old"))
    clock.t += 400  # past the 300 s TTL, within twice it
    refresh = Upstream(clock, b"new", delay=0.05)
    replies = await asyncio.gather(*(cache.get_or_fetch(key(), refresh) for _ in range(20)))
    assert {(e.body, state, age) for e, state, age in replies} == {(b"old", "STALE", 400)}
    state = "STALE"
    for _ in range(100):
        entry, state, _ = await cache.get_or_fetch(key(), refresh)
        if state == "HIT":
            break
        await asyncio.sleep(0.02)
    assert (entry.body, state, refresh.calls) == (b"new", "HIT", 1)


async def test_a_refresh_the_pacer_allows_is_waited_for_within_refresh_wait(
    redis_url: str, tmp_path: Path
) -> None:
    """Stale only when it must be: a refresh affordable now answers the request that asked."""
    settings = Cache(stale_if_error=3600, refresh_wait=0.5)

    async def allowed(entry: Entry) -> bool:
        return True

    async with opened("memory", redis_url, tmp_path, settings) as cache:
        clock = Clock()
        cache.clock = clock
        await cache.get_or_fetch(key(), Upstream(clock, b"old"), refresh=allowed)
        clock.t += 301  # just past freshness
        quick = Upstream(clock, b"new", delay=0.05)
        entry, state, age = await cache.get_or_fetch(key(), quick, refresh=allowed)
        assert (entry.body, state, age, quick.calls) == (b"new", "MISS", 0, 1)
        clock.t += 301
        slow = Upstream(clock, b"late", delay=1.0)  # slower than refresh_wait: served stale
        started = time.monotonic()
        entry, state, _ = await cache.get_or_fetch(key(), slow, refresh=allowed)
        assert (entry.body, state) == (b"new", "STALE")
        assert time.monotonic() - started < 0.9
        await asyncio.sleep(1.0)  # the refresh went on in the background
        entry, state, _ = await cache.get_or_fetch(key(), slow, refresh=allowed)
        assert (entry.body, state, slow.calls) == (b"late", "HIT", 1)


async def test_without_stale_while_revalidate_a_stale_entry_is_refetched(
    redis_url: str, tmp_path: Path
) -> None:
    settings = Cache(stale_while_revalidate=False)
    async with opened("memory", redis_url, tmp_path, settings) as cache:
        clock = Clock()
        cache.clock = clock
        await cache.get_or_fetch(key(), Upstream(clock, b"old"))
        clock.t += 301
        entry, state, _ = await cache.get_or_fetch(key(), Upstream(clock, b"new"))
        assert (entry.body, state) == (b"new", "MISS")


async def test_background_refresh_failure_is_logged_not_raised(
    cache: ReplyCache, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    cache.clock = clock
    await cache.get_or_fetch(key(), Upstream(clock, b"old"))
    clock.t += 400
    broken = Upstream(clock, error=RuntimeError("boom"))
    with caplog.at_level(logging.WARNING, logger="proxy.cache"):
        entry, state, _ = await cache.get_or_fetch(key(), broken)
        for _ in range(50):
            if caplog.records:
                break
            await asyncio.sleep(0.02)
    assert (entry.body, state, broken.calls) == (b"old", "STALE", 1)
    assert "background cache refresh failed" in caplog.text


@pytest.mark.parametrize("status", [500, 503, 429, 401, 403])
async def test_failures_are_never_stored(cache: ReplyCache, status: int) -> None:
    upstream = Upstream(Clock(), status=status)
    for _ in range(2):
        entry, state, _ = await cache.get_or_fetch(key(), upstream)
        assert (entry.status, state) == (status, "MISS")
    assert upstream.calls == 2


async def test_retry_after_ttl_on_a_5xx_does_not_store_it(cache: ReplyCache) -> None:
    clock = Clock()
    cache.clock = clock

    async def unavailable() -> Entry:
        return Entry(503, b"{}", "application/json", clock(), 30)

    await cache.get_or_fetch(key(), unavailable)
    upstream = Upstream(clock, b"ok")
    assert (await cache.get_or_fetch(key(), upstream))[1] == "MISS"


@pytest.mark.parametrize("status", [404, 422])
async def test_not_found_and_unprocessable_are_stored_for_error_ttl(
    cache: ReplyCache, status: int
) -> None:
    clock = Clock()
    cache.clock = clock
    upstream = Upstream(clock, status=status)
    states = [(await cache.get_or_fetch(key(), upstream))[1] for _ in range(2)]
    assert states == ["MISS", "HIT"]
    clock.t += 2 * SETTINGS.error_ttl + 1
    assert (await cache.get_or_fetch(key(), upstream))[1] == "MISS"
    assert upstream.calls == 2


async def test_memory_stays_within_its_byte_bound(redis_url: str, tmp_path: Path) -> None:
    # 2,500 replies of 1 KB through a 500 KB bound: ~330 fit, 7 in 8 are evicted. The proportions
    # of 10,000 through 2 MB (4x the time): a per-entry miscount or a leak per eviction moves the
    # ratio below just as far.
    settings = Cache(max_entries=1_000_000, max_bytes=500_000)
    tracemalloc.start()
    try:
        async with opened("memory", redis_url, tmp_path, settings) as cache:
            gc.collect()
            baseline = tracemalloc.get_traced_memory()[0]
            clock = Clock()
            for n in range(2_500):
                body = b"x" * 1000 + str(n).encode()
                await cache.get_or_fetch(key(path=f"/systems/{n}/summary"), Upstream(clock, body))
                assert present(cache.stats()["bytes"]) <= settings.max_bytes
            gc.collect()
            actual = tracemalloc.get_traced_memory()[0] - baseline
            stats = cache.stats()
    finally:
        tracemalloc.stop()
    held, entries = present(stats["bytes"]), present(stats["entries"])
    assert held <= settings.max_bytes
    assert 250 < entries < 2_500
    assert 0.7 < actual / held < 1.3


async def test_memory_entry_bound_and_oversized_replies(redis_url: str, tmp_path: Path) -> None:
    settings = Cache(max_entries=100, max_bytes=100_000)
    async with opened("memory", redis_url, tmp_path, settings) as cache:
        for n in range(300):
            await cache.get_or_fetch(key(path=f"/systems/{n}"), Upstream(Clock()))
        assert cache.stats()["entries"] == 100
        huge = Upstream(Clock(), b"x" * 200_000)
        for _ in range(2):
            entry, state, _ = await cache.get_or_fetch(key(path="/systems/huge"), huge)
            assert (len(entry.body), state) == (200_000, "MISS")
        metrics.TALLY.flush()  # as /metrics does before it renders
        assert REGISTRY.get_sample_value("enphase_proxy_cache_entries") == 100


async def test_purge_by_tenant_system_and_all(cache: ReplyCache) -> None:
    tenants, paths = ("a", "a:1", "b"), ("/systems/1/summary", "/systems/2/devices", "/systems")
    for tenant in tenants:
        for path in paths:
            await cache.get_or_fetch(key(tenant, path), Upstream(Clock()))
    assert await cache.purge("a", "1") == 1
    assert await cache.purge("a") == 2
    assert await cache.purge("a:1", "2") == 1
    assert await cache.purge() == 5
    assert await cache.purge() == 0
    assert (await cache.get_or_fetch(key("b"), Upstream(Clock())))[1] == "MISS"


async def test_tenants_never_share_entries(cache: ReplyCache) -> None:
    assert key("a") != key("b")
    clock = Clock()
    cache.clock = clock
    for tenant in ("a", "b"):
        upstream = Upstream(clock, tenant.encode())
        entry, state, _ = await cache.get_or_fetch(key(tenant), upstream)
        assert (entry.body, state) == (tenant.encode(), "MISS")
    for tenant in ("a", "b"):
        entry, state, _ = await cache.get_or_fetch(key(tenant), Upstream(clock, b"?"))
        assert (entry.body, state) == (tenant.encode(), "HIT")


def test_cache_key_is_normalised_and_free_of_credentials() -> None:
    path = "/systems/42/telemetry/production_micro"
    params = [("start_at", "1"), ("key", "secret"), ("granularity", "day")]
    expected = "v4:acme:42:/systems/42/telemetry/production_micro?granularity=day&start_at=1"
    assert cache_key("acme", path, params) == expected
    assert cache_key("acme", path + "/", {"granularity": "day", "start_at": "1"}) == expected
    assert "secret" not in cache_key("acme", "/systems", [("access_token", "secret")])
    assert cache_key("a:b", "/systems", ()) == "v4:a%3Ab:-:/systems?"
    assert cache_key("a", "/systems/config/7/storm_guard", ()).startswith("v4:a:7:")


def cache_hits() -> float:
    """The hits counter as /metrics shows it (the worker's held counts flushed first)."""
    metrics.TALLY.flush()
    return REGISTRY.get_sample_value("enphase_proxy_cache_total", {"result": "hit"}) or 0


async def test_stats_and_metrics_count_lookups(cache: ReplyCache) -> None:
    before = cache_hits()
    clock = Clock()
    cache.clock = clock
    for _ in range(3):
        await cache.get_or_fetch(key(), Upstream(clock))
    stats = cache.stats()
    assert (stats["hits"], stats["misses"], stats["stale"]) == (2, 1, 0)
    assert cache_hits() == before + 2


async def test_close_cancels_a_pending_refresh(redis_url: str, tmp_path: Path) -> None:
    async with opened("memory", redis_url, tmp_path) as cache:
        clock = Clock()
        cache.clock = clock
        await cache.get_or_fetch(key(), Upstream(clock, b"old"))
        clock.t += 400
        slow = Upstream(clock, b"new", delay=30)
        assert (await cache.get_or_fetch(key(), slow))[1] == "STALE"
        await asyncio.sleep(0.01)
        started = time.monotonic()
    assert time.monotonic() - started < 1
    assert slow.calls == 1


def entry(body: bytes = b"{}", ttl: int = 300) -> Entry:
    return Entry(200, body, "application/json", T0, ttl)


async def test_file_stores_of_two_workers_share_entries_locks_and_purges(tmp_path: Path) -> None:
    first, second = (FileReplyStore(tmp_path, 1 << 20, keep_stale=3600) for _ in range(2))
    try:
        await first.set(key(), entry(b"old"))
        assert await second.get(key()) == entry(b"old")  # now in the second's front
        await first.set(key(), entry(b"shared"))
        assert await second.get(key()) == entry(b"shared")
        token = await first.lock(key())
        assert token is not None
        assert await second.lock(key()) is None
        await second.unlock(key(), "not-its-token")  # a lock is released only by its owner
        assert await second.lock(key()) is None
        await first.unlock(key(), token)
        assert await second.lock(key()) is not None
        await second.set(key("other"), entry())
        assert await first.purge(f"v4:{'acme'}:*") == 1
        assert (await second.get(key()), await second.get(key("other"))) == (None, entry())
        assert first.usage()[1] > 0
    finally:
        await first.close()
        await second.close()


async def test_a_file_cache_hit_runs_no_sqlite_statement(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Hits are answered from the worker's memory: no SQLite statement, not even one asking
    whether another worker wrote (a query per hit took a quarter of the worker's CPU)."""
    statements: list[str] = []
    connect = sqlite3.connect

    def traced(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        connection: sqlite3.Connection = connect(*args, **kwargs)
        connection.set_trace_callback(statements.append)
        return connection

    monkeypatch.setattr(sqlite3, "connect", traced)
    clock = Clock()
    async with opened("file", "", tmp_path) as cache:
        cache.clock = clock
        upstream = Upstream(clock)
        await cache.get_or_fetch(key(), upstream)
        await cache.get_or_fetch(key(), upstream)  # read once after the write
        assert statements  # every statement of every connection is seen
        statements.clear()
        hits = [(await cache.get_or_fetch(key(), upstream))[1] for _ in range(10)]
        fresh = await cache.fresh_entry(key(), clock.now())
    assert hits == ["HIT"] * 10 and fresh is not None and upstream.calls == 1
    assert statements == []


@pytest.mark.parametrize("backend", ["file", "redis"])
async def test_a_check_is_reused_until_any_worker_writes_or_purges_or_a_reply_goes_stale(
    backend: str, redis_url: str, tmp_path: Path
) -> None:
    """A memoized v2 answer is checked against its replies once; the check holds, still
    counting a hit per reply, until another worker (or replica) writes or purges or a reply
    turns stale."""
    clock = Clock()
    async with (
        opened(backend, redis_url, tmp_path) as first,
        opened(backend, redis_url, tmp_path) as second,
    ):
        first.clock = second.clock = clock
        old, _, _ = await first.get_or_fetch(key(), Upstream(clock, b"old"))
        await first.get_or_fetch(key("other"), Upstream(clock))
        sources = ((key(), old.stored_at), (key("other"), old.stored_at))
        seen = await second.unchanged(sources, clock.now())
        hits = present(second.stats()["hits"])
        assert seen is not None
        assert await second.unchanged(sources, clock.now() + 299, seen) is seen
        assert second.stats()["hits"] == hits + 2
        assert await second.unchanged(sources, clock.now() + 300, seen) is None  # TTL 300
        await first.purge("acme")
        assert await second.unchanged(sources, clock.now(), seen) is None
        clock.t += 1
        new, _, _ = await first.get_or_fetch(key(), Upstream(clock, b"new"))
        await first.get_or_fetch(key("other"), Upstream(clock))
        renewed = ((key(), new.stored_at),)
        seen = await second.unchanged(renewed, clock.now())
        await first.get_or_fetch(key("third"), Upstream(clock))  # any write: read them again
        again = await second.unchanged(renewed, clock.now(), seen)
        assert again is not None and again is not seen


async def test_concurrent_hits_share_generation_reads_sent_after_they_came(redis_url: str) -> None:
    """On Redis, 200 concurrent hits read the change counter in a few GETs, not 200; and a
    hit that comes after a write has finished sees it even while an older GET is in flight."""
    client = Redis.from_url(redis_url)
    generation = RedisGeneration(client)
    try:
        await client.delete(GENERATION_KEY)
        assert await generation.current() is None
        before = (await client.info("commandstats"))["cmdstat_get"]["calls"]
        values = await asyncio.gather(*(generation.current() for _ in range(200)))
        gets = (await client.info("commandstats"))["cmdstat_get"]["calls"] - before
        assert values == [None] * 200 and gets <= 2
        in_flight = asyncio.ensure_future(generation.current())
        await asyncio.sleep(0)  # its GET is sent
        await client.incr(GENERATION_KEY)
        assert await generation.current() == 1
        assert await in_flight in (None, 1)
    finally:
        await client.aclose()


async def test_hits_that_come_while_a_generation_read_is_in_flight_share_the_next(
    redis_url: str,
) -> None:
    """On Redis, one GET of the change counter at a time: hits that come over many turns of the
    event loop while it is in flight share the next GET (one GET per turn cost a fifth of a
    hit's CPU), and each still sees a value read after it came."""
    client, admin = Redis.from_url(redis_url), Redis.from_url(redis_url)
    generation = RedisGeneration(client)
    try:
        await client.delete(GENERATION_KEY)
        assert await generation.current() is None
        before = (await admin.info("commandstats"))["cmdstat_get"]["calls"]
        await admin.client_pause(300)  # a slow round trip
        hits = []
        for _ in range(20):
            hits.append(asyncio.ensure_future(generation.current()))
            await asyncio.sleep(0.005)  # turns of the loop while the first GET waits
        await admin.incr(GENERATION_KEY)  # sent during the pause: runs before the second GET
        values = await asyncio.gather(*hits)
        gets = (await admin.info("commandstats"))["cmdstat_get"]["calls"] - before
        assert gets == 2 and values[0] in (None, 1) and values[1:] == [1] * 19
    finally:
        await client.aclose()
        await admin.aclose()


async def test_hits_within_a_lease_of_a_generation_read_in_flight_share_it(
    redis_url: str,
) -> None:
    """A hit whose held value ran out joins a GET of the change counter sent less than a
    lease ago (each change waits the lease out), not the next one; a strict read does not."""
    client, admin = Redis.from_url(redis_url), Redis.from_url(redis_url)
    generation = RedisGeneration(client, lease=5.0)
    try:
        await client.set(GENERATION_KEY, 7)
        before = (await admin.info("commandstats")).get("cmdstat_get", {"calls": 0})["calls"]
        await admin.client_pause(200)  # a slow round trip
        first = asyncio.ensure_future(generation.leased())
        await asyncio.sleep(0.02)  # its GET is sent and waits
        joined = [asyncio.ensure_future(generation.leased()) for _ in range(10)]
        strict = asyncio.ensure_future(generation.current())
        await asyncio.sleep(0)  # both sent
        await admin.incr(GENERATION_KEY)  # during the pause: runs after the first GET
        values = await asyncio.gather(first, *joined, strict)
        gets = (await admin.info("commandstats")).get("cmdstat_get", {"calls": 0})["calls"] - before
        assert values == [7] * 11 + [8] and gets == 2
        assert generation.held() == 8
    finally:
        await client.aclose()
        await admin.aclose()


async def test_file_store_evicts_the_oldest_beyond_its_byte_bound(tmp_path: Path) -> None:
    store = FileReplyStore(tmp_path, 1 << 20, keep_stale=3600)
    try:
        for n in range(200):  # 2 MB of bodies into a 1 MB store
            await store.set(key(path=f"/systems/{n}"), entry(b"x" * 10_000 + str(n).encode()))
        entries, size = store.usage()
        assert size <= 1.2 * (1 << 20)
        assert 40 < entries < 200
        assert await store.get(key(path="/systems/199")) is not None
        assert await store.get(key(path="/systems/0")) is None
    finally:
        await store.close()


async def test_two_workers_on_the_file_store_make_one_call(redis_url: str, tmp_path: Path) -> None:
    clock = Clock()
    upstream = Upstream(clock, b'{"n": 1}', delay=0.2)
    async with opened("file", redis_url, tmp_path) as first:
        async with opened("file", redis_url, tmp_path) as second:
            first.clock = second.clock = clock
            lookups = [c.get_or_fetch(key(), upstream) for c in (first, second) * 5]
            replies = await asyncio.gather(*lookups)
            assert upstream.calls == 1
            assert {e.body for e, _, _ in replies} == {b'{"n": 1}'}
            clock.t += 400  # stale: each worker answers STALE, one of them refreshes
            refresh = Upstream(clock, b'{"n": 2}', delay=0.05)
            states = [(await c.get_or_fetch(key(), refresh))[1] for c in (first, second)]
            assert states == ["STALE", "STALE"]
            for _ in range(100):
                if (await second.get_or_fetch(key(), refresh))[1] == "HIT":
                    break
                await asyncio.sleep(0.02)
            assert refresh.calls == 1
            assert (await first.get_or_fetch(key(), refresh))[:2] == (
                await second.get_or_fetch(key(), refresh)
            )[:2]


async def test_a_purged_final_reply_is_fetched_again(cache: ReplyCache) -> None:
    """An operator purges a bad final reply to have it fetched again, not read back from disk."""
    clock = Clock()
    cache.clock = clock
    calls = 0

    async def fetch() -> Entry:
        nonlocal calls
        calls += 1
        body = b'{"n": %d}' % calls
        return Entry(200, body, "application/json", clock.now(), 86_400, final=True)

    await cache.get_or_fetch(key(), fetch)
    assert await cache.purge("acme") == 1
    entry, state, _ = await cache.get_or_fetch(key(), fetch)
    assert (state, calls, entry.body) == ("MISS", 2, b'{"n": 2}')


async def test_a_change_finished_on_one_replica_ends_the_lease_of_the_others(
    redis_url: str, tmp_path: Path
) -> None:
    """A replica holding the change counter under its lease still sees a write or a purge
    another replica has finished: each waits the lease out before it returns."""
    async with (
        opened("redis", redis_url, tmp_path) as first,
        opened("redis", redis_url, tmp_path) as second,
    ):
        clock = Clock()
        first.clock = second.clock = clock
        upstream = Upstream(clock)
        entry, _, _ = await first.get_or_fetch(cache_key("acme", "/s", ()), upstream)
        sources = ((cache_key("acme", "/s", ()), entry.stored_at),)
        now = clock.now()
        for change in ("write", "purge"):
            seen = await second.unchanged(sources, now)
            assert seen is not None and second.still(seen, now, 1)  # held: no read
            if change == "write":
                await first.get_or_fetch(cache_key("acme", "/other", ()), upstream)
            else:
                await first.purge("acme")
            assert not second.still(seen, now, 1), change
            if change == "write":
                assert await second.unchanged(sources, now, seen) not in (None, seen)
