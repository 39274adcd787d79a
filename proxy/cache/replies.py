"""The reply cache: single-flight fetches over a store, the decision applied to each lookup.

``ReplyCache.get_or_fetch`` looks the key up in its store (else among the final replies on
disk), asks ``proxy.cache.decision`` what to do, and does it: serve, refresh in the background,
or fetch once for all concurrent callers (within a worker, across the workers of a host with
the file store, and across replicas with the Redis store). Only replies with a TTL above 0
that are not 429/5xx are stored. A refresh the quota refuses for the minute is made again once
that minute is over. ``open_cache`` builds the cache the configuration describes.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable, Sequence
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from proxy.cache.decision import Decision, Needs, decide, holds, servable, settle, usable
from proxy.cache.entry import Entry, decode, encode
from proxy.cache.file_store import FileReplyStore
from proxy.cache.final_store import FinalStore
from proxy.cache.generation import Checked, Counter
from proxy.cache.keys import purge_pattern
from proxy.cache.purges import PurgeLog
from proxy.cache.redis_store import RedisReplyStore
from proxy.cache.singleflight import SingleFlight
from proxy.cache.stores import MemoryReplyStore, ReplyStore
from proxy.clock import SYSTEM, Clock, Timer
from proxy.config import Cache, Config
from proxy.errors import QuotaRefused, UpstreamUnavailable
from proxy.observability import metrics
from proxy.storage import reachable

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger(__name__)

#: Whether the upstream call being made refreshes a reply the cache holds (else a cold miss).
REFRESHING: ContextVar[bool] = ContextVar("cache_refreshing", default=False)
MAX_DEFERRED = 4096  # refused refreshes a worker holds for a later minute (past that: not made)
DEFERRED_LAG = 5  # seconds into that minute: the cold requests held for it go first
PACED_KEEP = 35 * 86_400  # seconds a shared store keeps a stale entry the pacer may still serve
PURGE_LOG = "cache-purges.log"
LIVE_DIR = "cache"  # the file store's directory inside data_dir


class ReplyCache:
    """Cached upstream replies for every tenant, with single-flight fetches and stale rules."""

    def __init__(
        self,
        store: ReplyStore,
        settings: Cache,
        *,
        lock_seconds: float = 20.0,
        poll: float = 0.02,
        clock: Clock = SYSTEM,
        final: FinalStore | None = None,
        purges: PurgeLog | None = None,
        closes: Sequence[Callable[[], Awaitable[None]]] = (),
        generation: Counter | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self._store = store
        self._final = final
        self._purges = purges  # for a store of this process only: how purges reach the others
        self._closes = closes  # what the cache's opener opened for it alone (a Redis client)
        self._generation = generation  # the store's, when it has one: changes on every write
        self._lock_seconds = lock_seconds  # how long a waiter trusts a live holder's fetch
        self._poll = poll
        self._flight = SingleFlight()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._deferred: dict[str, Timer] = {}  # key: its refresh refused for the minute, made later
        self._counts = {"HIT": 0, "MISS": 0, "STALE": 0}
        self._counters = {result: metrics.CACHE.labels(result.lower()) for result in self._counts}
        self._plain = needs_of(settings, None, None)

    async def get_or_fetch(
        self,
        key: str,
        fetch: Callable[[], Awaitable[Entry]],
        *,
        refresh: Callable[[Entry], Awaitable[bool]] | None = None,
        through: float | None = None,
        every: float | None = None,
    ) -> tuple[Entry, str, int]:
        """The reply under ``key``, fetching it if needed: (entry, HIT|MISS|STALE, age).

        ``refresh`` says whether a stale entry may be refreshed now (the pacer); ``through``, up
        to when the caller needs data; ``every``, how old a 2xx reply it accepts
        (``proxy.cache.decision``).
        """
        await self._apply_purges()
        started = self.clock.now()
        needs = self._needs(through, every)
        stored = await self._stored(key)
        cached = servable(stored, started, needs, paced=refresh is not None)
        allowed = None
        if cached is not None and refresh is not None and not usable(cached, started, needs):
            allowed = await refresh(cached)  # asked only of a stale entry: it notes demand
        action = decide(cached, started, needs, allowed)
        if cached is not None and action in (Decision.HIT, Decision.STALE, Decision.REVALIDATE):
            if action is Decision.REVALIDATE and key not in self._flight:
                self._refresh_in_background(key, fetch)
            return self._answer(cached, "HIT" if action is Decision.HIT else "STALE", started)
        fetched = None
        if action is Decision.WAIT:
            fetched = await self._waited(key, fetch)
        else:
            refreshing = REFRESHING.set(cached is not None)  # a stale reply held is refreshed
            try:
                fetched = await self._flight.run(key, lambda: self._fetch_once(key, fetch, needs))
            except UpstreamUnavailable:
                if cached is None:
                    self._record("MISS")
                    raise
            finally:
                REFRESHING.reset(refreshing)
        answer = settle(cached, fetched)
        assert answer is not None  # settle refuses only when the fetch raised with nothing held
        return self._answer(*answer, self.clock.now())

    def _needs(self, through: float | None, every: float | None) -> Needs:
        """What the caller needs of an entry; a plain lookup's, made once."""
        if through is None and every is None:
            return self._plain
        return needs_of(self.settings, through, every)

    async def fresh_entry(self, key: str, now: float) -> Entry | None:
        """The entry under ``key`` if it is fresh (counted as a hit), without fetching."""
        await self._apply_purges()
        entry = await self._stored_fresh(key, now)
        if entry is not None:
            self._record("HIT")
        return entry

    def still(self, seen: Checked, now: float, count: int) -> bool:
        """Whether ``seen`` (of ``count`` replies) holds as far as is known without a read: if
        so, each reply counts as a hit (``unchanged`` tells in the other cases)."""
        generation = self._generation.held() if self._generation is not None else None
        if seen.holds(generation, now):
            self._record("HIT", count)
            return True
        return False

    async def unchanged(
        self, sources: tuple[tuple[str, float], ...], now: float, seen: Checked | None = None
    ) -> Checked | None:
        """Whether each (key, stored_at) still names a fresh entry, each counted as a hit: what
        was checked, else None. ``seen``, an earlier answer, spares reading the entries again
        while it holds (on the file store, a hit then reads no entry)."""
        generation = await self._generation.leased() if self._generation is not None else None
        if seen is not None and seen.holds(generation, now):
            self._record("HIT", len(sources))
            return seen
        until = math.inf
        for key, stored_at in sources:
            entry = await self.fresh_entry(key, now)
            if entry is None or entry.stored_at != stored_at:
                return None
            until = until if entry.final else min(until, entry.stored_at + entry.ttl)
        return Checked(generation, until)

    async def purge(self, tenant: str | None = None, system_id: str | None = None) -> int:
        """Drop the entries of every tenant, of ``tenant``, or of one of its systems, everywhere.

        Final replies on disk go too (the count is of the store's entries).
        """
        if self._final is not None:  # shared by the host's workers: once is enough
            await self._final.purge(purge_pattern(tenant, system_id))
        if self._purges is None:
            dropped = await self._store.purge(purge_pattern(tenant, system_id))
            self._update_gauges()
            return dropped
        await self._apply_purges()
        self._purges.announce((tenant, system_id))
        return await self._apply_purges()  # this one, here and now (and any made meanwhile)

    async def _apply_purges(self) -> int:
        """Apply the purges announced since the last lookup; how many entries they dropped."""
        dropped = 0
        for tenant, system_id in self._purges.unseen() if self._purges is not None else ():
            dropped += await self._store.purge(purge_pattern(tenant, system_id))
            self._update_gauges()
        return dropped

    async def close(self) -> None:
        """Stop fetches and background refreshes, and release the store."""
        for timer in self._deferred.values():
            timer.cancel()
        self._deferred.clear()
        await self._flight.aclose()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._store.close()
        if self._final is not None:
            await self._final.close()
        if self._purges is not None:
            self._purges.close()
        for close in self._closes:
            await close()

    def stats(self) -> dict[str, int | None]:
        """Entries and bytes held (None for the shared Redis store), and this worker's lookups."""
        entries, size = self._store.usage() or (None, None)
        counts = self._counts
        return {
            "entries": entries,
            "bytes": size,
            "hits": counts["HIT"],
            "misses": counts["MISS"],
            "stale": counts["STALE"],
        }

    async def _fetch_once(
        self, key: str, fetch: Callable[[], Awaitable[Entry]], needs: Needs | None = None
    ) -> Entry:
        """Fetch and store, unless another process first stores a fresh entry (from the
        caller's ``since``)."""
        since = needs.since if needs is not None else -math.inf
        settled = needs.settled if needs is not None else math.inf
        clock = self.clock
        deadline = clock.monotonic() + self._lock_seconds
        while True:
            token = await self._store.lock(key)
            if token is not None or clock.monotonic() >= deadline:
                try:
                    # The lock may have been released by a process that just stored the entry.
                    stored = (
                        await self._stored_fresh(key, clock.now(), since)
                        if token is not None
                        else None
                    )
                    return stored or await self._fetch_and_store(key, fetch, settled)
                finally:
                    if token is not None:
                        await self._store.unlock(key, token)
            await clock.sleep(self._poll)
            stored = await self._stored_fresh(key, clock.now(), since)
            if stored is not None:
                return stored

    async def _stored_fresh(self, key: str, now: float, since: float = -math.inf) -> Entry | None:
        entry = await self._stored(key)
        wanted = entry is not None and entry.fresh(now) and entry.stored_at >= since
        return entry if wanted else None

    async def _stored(self, key: str) -> Entry | None:
        """The entry under ``key`` in the store, else a final one on disk (copied to the store)."""
        entry = await self._store.get(key)
        if entry is None and self._final is not None:
            raw = await self._final.get(key)
            entry = None if raw is None else decode(raw)
            if entry is not None:
                await self._store.set(key, entry)
        return entry

    async def _fetch_and_store(
        self, key: str, fetch: Callable[[], Awaitable[Entry]], settled: float = math.inf
    ) -> Entry:
        """Fetch and store; on disk too when final, or final for the caller (``settled``)."""
        try:
            entry = await fetch()
        except QuotaRefused as refused:
            self._defer(key, fetch, refused)
            raise
        if entry.ttl > 0 and not entry.failed:
            await self._store.set(key, entry)
            lasting = entry.final or holds(entry, settled)
            if lasting and self._final is not None:
                await self._final.set(key, encode(entry))
            self._update_gauges()
        return entry

    async def _waited(self, key: str, fetch: Callable[[], Awaitable[Entry]]) -> Entry | None:
        """The refreshed entry, if the refresh answers within ``refresh_wait`` seconds (real
        time: it bounds a client's wait); else None, the refresh going on in the background."""
        refresh = self._refresh_in_background(key, fetch)
        try:
            async with asyncio.timeout(self.settings.refresh_wait):
                fetched: Entry = await asyncio.shield(refresh)
        except Exception:  # slow or failing: stale-while-revalidate (a failure is logged once)
            return None
        return fetched

    def _refresh_in_background(
        self, key: str, fetch: Callable[[], Awaitable[Entry]]
    ) -> asyncio.Task[Entry]:
        """The refresh of ``key`` as a task of its own, joining one already running."""
        task = asyncio.create_task(self._refreshed(key, fetch))
        self._tasks.add(task)
        task.add_done_callback(self._reap)
        return task

    async def _refreshed(self, key: str, fetch: Callable[[], Awaitable[Entry]]) -> Entry:
        REFRESHING.set(True)  # in this task's context only: the quota weighs it by this
        entry: Entry = await self._flight.run(key, lambda: self._fetch_once(key, fetch))
        return entry

    def _defer(
        self, key: str, fetch: Callable[[], Awaitable[Entry]], refused: QuotaRefused
    ) -> None:
        """Refresh ``key`` again once the minute that refused it is over (in the refused call's
        context: its tenant, client and budgets), so that keys asked at one busy minute (a
        fleet polled in step) are refreshed in the next ones, not at their next busy request."""
        if not refused.minute or not REFRESHING.get() or key in self._deferred:
            return  # a cold miss is its client's to ask again (v2: proxy.v2.deferred)
        if len(self._deferred) >= MAX_DEFERRED:
            return

        def resume() -> None:
            del self._deferred[key]
            self._refresh_in_background(key, fetch)

        moment = self.clock.now() + (refused.retry_after or 0) + DEFERRED_LAG
        self._deferred[key] = self.clock.call_at(moment, resume)

    def _reap(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        failure = None if task.cancelled() else task.exception()
        # An upstream failure was logged where it happened, with its endpoint.
        if failure is not None and not isinstance(failure, UpstreamUnavailable):
            log.warning("background cache refresh failed", exc_info=failure)

    def _answer(self, entry: Entry, result: str, now: float) -> tuple[Entry, str, int]:
        self._record(result)
        return entry, result, entry.age(now)

    def _record(self, result: str, times: int = 1) -> None:
        self._counts[result] += times
        metrics.TALLY.inc(self._counters[result], times)

    def _update_gauges(self) -> None:
        usage = self._store.usage()
        if usage is not None:
            metrics.TALLY.set(metrics.CACHE_ENTRIES, usage[0])
            metrics.TALLY.set(metrics.CACHE_BYTES, usage[1])


def needs_of(settings: Cache, through: float | None, every: float | None) -> Needs:
    """What a caller needing the data up to ``through`` (and ``every``) needs of an entry."""
    since = through if through is not None else -math.inf
    settled = since + settings.reporting_lag if through is not None else math.inf
    return Needs(since, settled, every, settings.stale_if_error, settings.stale_while_revalidate)


async def open_cache(
    config: Config, redis: Redis | None = None, clock: Clock = SYSTEM
) -> ReplyCache:
    """The reply cache ``config`` describes: on disk in ``data_dir`` (shared by the host's
    workers), on Redis (``redis``, else a client of its own), or in this process's memory."""
    settings = config.cache
    keep = max(settings.stale_if_error, PACED_KEEP if config.quota.pacing else 0)
    if settings.backend == "redis":
        client, owned = await reachable(config, redis)
        closes = (client.aclose,) if owned else ()
        shared = RedisReplyStore(client, keep)
        generation = shared.generation
        return ReplyCache(shared, settings, clock=clock, closes=closes, generation=generation)
    final = FinalStore(config.data_path(settings.final_dir), settings.final_max_bytes)
    if settings.backend == "file":
        store = FileReplyStore(config.data_path(LIVE_DIR), settings.max_bytes, keep)
        return ReplyCache(store, settings, clock=clock, final=final, generation=store.generation)
    memory = MemoryReplyStore(settings.max_entries, settings.max_bytes)
    purges = PurgeLog(config.data_path(PURGE_LOG))  # how a purge reaches the other workers
    return ReplyCache(memory, settings, clock=clock, final=final, purges=purges)
