"""Upstream reply cache: a file, memory or Redis store, single-flight fetches and stale rules.

Rules of ``ReplyCache.get_or_fetch``:

- a fresh entry is a HIT;
- a stale entry no older than twice its TTL is served at once as STALE while one background
  refresh runs (when ``Cache.stale_while_revalidate``);
- otherwise the reply is fetched once for all concurrent callers (within a worker, across the
  workers of a host with the file store, and across replicas with the Redis store) and is a
  MISS; when that fetch raises
  ``UpstreamUnavailable`` or answers 429/5xx, a stale entry no older than its TTL plus
  ``Cache.stale_if_error`` is served as STALE instead;
- with a ``refresh`` judge (the budget pacer), a stale entry of any age that the judge will
  not refresh yet is served as STALE without an upstream call.
- with ``through`` (the answer needs the data up to that epoch): an entry stored before it
  lacks some and counts as absent; a 2xx one stored ``Cache.reporting_lag`` or more after it
  holds that data final and is a HIT at any age (and is kept on disk like a final reply, so a
  restart does not buy it again); in between, the rules above apply.
- with ``every`` (the caller needs the reply refreshed only that often): a 2xx entry younger
  than ``every`` seconds is a HIT whatever its TTL; an older one follows the rules above.

Only replies with a TTL above 0 that are not 429/5xx are stored.
"""

from __future__ import annotations

import asyncio
import fnmatch
import json
import logging
import math
import os
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass
from itertools import count
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, cast
from urllib.parse import quote, urlencode

import cachetools
import diskcache

from proxy.cache.final_store import FinalStore, purge_matching
from proxy.cache.freshness import Params, pairs
from proxy.cache.generation import REDIS_KEY, Checked, Counter, Generation, RedisGeneration
from proxy.cache.purges import PurgeLog
from proxy.cache.singleflight import SingleFlight
from proxy.clock import SYSTEM, Clock
from proxy.config import Cache, Config
from proxy.errors import UpstreamUnavailable
from proxy.observability.metrics import CACHE, CACHE_BYTES, CACHE_ENTRIES, TALLY
from proxy.storage.redis_client import reachable
from proxy.v4 import paths

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.asyncio.lock import Lock

log = logging.getLogger(__name__)

CREDENTIALS = frozenset(
    {"key", "api_key", "access_token", "refresh_token", "token", "client_secret", "password"}
)
REDIS_PREFIX = "enphase-proxy:cache:"
REDIS_LOCK_PREFIX = "enphase-proxy:cache-lock:"
FINAL_KEEP = 730 * 86_400  # seconds Redis keeps a final reply (v4 serves two years back)
PACED_KEEP = 35 * 86_400  # seconds Redis keeps a stale entry the pacer may still serve
PURGE_LOG = "cache-purges.log"
LIVE_DIR = "cache"  # the file store's directory inside data_dir
LOCKS_DIR = "locks"  # its fetch locks, inside LIVE_DIR: apart, they count as no entry
GENERATION_FILE = "generation"  # its change counter, inside LIVE_DIR (proxy.cache.generation)
FRONT_BYTES = 16 * 1024 * 1024  # decoded file store entries a worker keeps between writes
ENTRY_OVERHEAD = 480  # bytes of bookkeeping per memory entry besides its key and body


@dataclass(frozen=True, slots=True)
class Entry:
    """One cached upstream reply."""

    status: int
    body: bytes
    content_type: str
    stored_at: float
    ttl: int
    final: bool = False  # its window can no longer change: fresh for ever

    def fresh(self, now: float) -> bool:
        """Whether the entry is final or within its TTL at ``now``."""
        return self.final or now < self.stored_at + self.ttl

    def age(self, now: float) -> int:
        """Whole seconds since the entry was stored."""
        return max(0, int(now - self.stored_at))


def cache_key(tenant: str, path: str, params: Params) -> str:
    """The key of a v4 GET for ``tenant``: ``v4:{tenant}:{system_id or -}:{path}?{query}``.

    The query is sorted and never holds credentials.
    """
    path = paths.clean(path)
    found = paths.TABLE.find(path)
    system_id = found.path_params.get("system_id", "-") if found else "-"
    query = sorted((k, v) for k, v in pairs(params) if k.lower() not in CREDENTIALS)
    return f"v4:{_part(tenant)}:{system_id}:{path}?{urlencode(query)}"


def purge_pattern(tenant: str | None = None, system_id: str | None = None) -> str:
    """The glob matching the keys of ``tenant`` (and ``system_id``); all keys when both are None."""
    tenant_part = "*" if tenant is None else _part(tenant)
    system_part = "*" if system_id is None else _part(system_id)
    return f"v4:{tenant_part}:{system_part}:*"


def _part(value: str) -> str:
    """``value`` with every character that could split or glob a key percent-encoded."""
    return quote(str(value), safe="")


def _holds(entry: Entry, settled: float) -> bool:
    """Whether ``entry`` is a 2xx reply stored at or after ``settled`` (final for its caller)."""
    return entry.status < 300 and entry.stored_at >= settled


def _failed(entry: Entry) -> bool:
    return entry.status >= 500 or entry.status == 429


def _young(entry: Entry, now: float, every: float | None) -> bool:
    """Whether ``entry`` is a 2xx reply younger than ``every`` seconds."""
    return every is not None and entry.status < 300 and entry.age(now) < every


class Store(Protocol):
    """Where entries live; ``lock`` returns a token when this caller may fetch ``key``."""

    async def get(self, key: str) -> Entry | None: ...
    async def set(self, key: str, entry: Entry) -> None: ...
    async def purge(self, pattern: str) -> int: ...
    async def lock(self, key: str, seconds: float) -> object | None: ...
    async def unlock(self, key: str, token: object) -> None: ...
    async def close(self) -> None: ...
    def usage(self) -> tuple[int, int] | None: ...


class MemoryStore:
    """An LRU store bounded by entry count and by accounted bytes (key + body + overhead)."""

    def __init__(self, max_entries: int, max_bytes: int) -> None:
        self.max_entries = max_entries
        self._lru: cachetools.LRUCache[str, tuple[Entry, int]] = cachetools.LRUCache(
            maxsize=max_bytes, getsizeof=lambda slot: slot[1]
        )

    async def get(self, key: str) -> Entry | None:
        """The entry under ``key``."""
        slot = self._lru.get(key)
        return slot[0] if slot else None

    async def set(self, key: str, entry: Entry) -> None:
        """Store ``entry``, evicting least recently used entries to stay within both bounds."""
        size = len(key) + len(entry.body) + len(entry.content_type) + ENTRY_OVERHEAD
        if size > self._lru.maxsize:
            return
        self._lru.pop(key, None)
        while len(self._lru) >= self.max_entries:
            self._lru.popitem()
        self._lru[key] = (entry, size)

    async def purge(self, pattern: str) -> int:
        """Drop every key matching glob ``pattern``; how many were dropped."""
        doomed = [k for k in self._lru if fnmatch.fnmatchcase(k, pattern)]
        for key in doomed:
            del self._lru[key]
        return len(doomed)

    async def lock(self, key: str, seconds: float) -> object | None:
        """Always granted: single-flight within the process is the only coordination needed."""
        return "local"

    async def unlock(self, key: str, token: object) -> None:
        """Nothing to release."""

    async def close(self) -> None:
        """Drop every entry."""
        self._lru.clear()

    def usage(self) -> tuple[int, int]:
        """Entries and accounted bytes."""
        return len(self._lru), int(self._lru.currsize)


class RedisStore:
    """Entries shared by every worker and replica; each expires ``ttl + keep_stale`` seconds.

    ``client`` is closed by :meth:`close` only when ``owned``.
    """

    def __init__(self, client: Redis, keep_stale: int, owned: bool = False) -> None:
        self._client = client
        self._keep_stale = keep_stale
        self._owned = owned

    async def get(self, key: str) -> Entry | None:
        """The entry under ``key``."""
        raw = await self._client.get(REDIS_PREFIX + key)
        return None if raw is None else decode(cast(bytes, raw))  # no decode_responses

    async def set(self, key: str, entry: Entry) -> None:
        """Store ``entry`` until it is too old to serve even as stale."""
        expiry = max(entry.ttl + self._keep_stale, FINAL_KEEP if entry.final else 0)
        async with self._client.pipeline(transaction=False) as pipe:  # in order, one round trip
            pipe.set(REDIS_PREFIX + key, encode(entry), ex=expiry)
            pipe.incr(REDIS_KEY)  # generation hook: after the write
            await pipe.execute()

    async def purge(self, pattern: str) -> int:
        """Drop every key matching glob ``pattern`` (SCAN, in batches); how many were dropped."""
        dropped = 0
        batch: list[Any] = []
        try:
            async for name in self._client.scan_iter(match=REDIS_PREFIX + pattern, count=500):
                batch.append(name)
                if len(batch) == 500:
                    dropped += await self._client.delete(*batch)
                    batch.clear()
            if batch:
                dropped += await self._client.delete(*batch)
        finally:  # even when it failed part way
            await self._client.incr(REDIS_KEY)  # generation hook: after the deletes
        return dropped

    async def lock(self, key: str, seconds: float) -> object | None:
        """redis-py's Lock when no other process is fetching ``key``, else None."""
        held = self._client.lock(REDIS_LOCK_PREFIX + key, timeout=seconds)
        return held if await held.acquire(blocking=False) else None

    async def unlock(self, key: str, token: object) -> None:
        """Release the fetch lock if it is still ours."""
        from redis.exceptions import LockNotOwnedError

        with suppress(LockNotOwnedError):  # it expired; another process may hold it now
            await cast("Lock", token).release()

    async def close(self) -> None:
        """Close the client if this store opened it."""
        if self._owned:
            await self._client.aclose()

    def usage(self) -> None:
        """Not measured: the store is shared, so no one worker's count would be right."""
        return None


class FileStore:
    """Entries on disk in ``directory``, shared by every worker of a host; each expires
    ``ttl + keep_stale`` seconds after it is stored, the least recently stored evicted beyond
    ``max_bytes``.

    A ``diskcache.Cache``: SQLite in WAL mode, safe across processes; it opens a connection
    per thread and reopens after a fork. Reads run on the event loop: a WAL read takes no lock
    and costs about 25 µs, where a hop to a thread costs about 200 µs on every hit. Writes,
    which may wait for another worker's, run on one thread of this worker's. Evicting the least
    recently *stored* keeps a read a read (least recently used writes on every hit). The fetch
    locks live in a database of their own, so taking one never waits for an entry's write.

    Each worker keeps the entries it decoded in a front (LRU, ``FRONT_BYTES``) until any
    process writes to or purges the store: the host's shared ``Generation`` counter tells, for
    a memory read (SQLite's ``data_version``, a query per hit, took a quarter of the worker's
    CPU). A hit then costs no I/O, where three reads per v2 hit took 40% of the throughput.
    """

    def __init__(self, directory: Path, max_bytes: int, keep_stale: int) -> None:
        self._disk = diskcache.Cache(
            str(directory),
            size_limit=max_bytes,
            eviction_policy="least-recently-stored",
            timeout=30,  # seconds a write waits for another worker's
        )
        self._locks = diskcache.Cache(str(directory / LOCKS_DIR), timeout=30)
        self._keep_stale = keep_stale
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="cachestore")
        self.generation = Generation(directory / GENERATION_FILE)  # generation hook
        self._seen = -1
        self._front: cachetools.LRUCache[str, Entry] = cachetools.LRUCache(
            maxsize=min(max_bytes, FRONT_BYTES), getsizeof=_entry_size
        )
        self._tokens = count()

    async def _write(self, call: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._writer, call, *args)

    async def _change(self, call: Any, *args: Any) -> Any:
        """Write, then tell every worker, even when the write failed part way (generation hook)."""
        try:
            return await self._write(call, *args)
        finally:
            self.generation.bump()

    async def get(self, key: str) -> Entry | None:
        """The entry under ``key``, unless it expired (in the front: unless a write was made
        since it was read)."""
        version = self.generation.read()  # generation hook: before any read of the store
        if version != self._seen:  # a process wrote or purged: the front may be out of date
            self._seen = version
            self._front.clear()
        entry = self._front.get(key)
        if entry is None:
            raw = self._disk.get(key)
            entry = decode(raw) if isinstance(raw, bytes) else None
            if entry is not None and _entry_size(entry) <= self._front.maxsize:
                self._front[key] = entry
        return entry

    async def set(self, key: str, entry: Entry) -> None:
        """Store ``entry`` until it is too old to serve even as stale."""
        expiry = max(entry.ttl + self._keep_stale, FINAL_KEEP if entry.final else 0)
        await self._change(self._disk.set, key, encode(entry), expiry)

    async def purge(self, pattern: str) -> int:
        """Drop every key matching glob ``pattern``; how many were dropped."""
        dropped: int = await self._change(purge_matching, self._disk, pattern)
        return dropped

    async def lock(self, key: str, seconds: float) -> object | None:
        """A token when no process of the host is fetching ``key`` (the lock expires after
        ``seconds``, should its holder die), else None."""
        token = f"{os.getpid()}:{next(self._tokens)}"
        added = await self._write(self._locks.add, key, token, seconds)
        return token if added else None

    async def unlock(self, key: str, token: object) -> None:
        """Release the fetch lock if it is still ours."""
        await self._write(self._release, key, token)

    def _release(self, key: str, token: object) -> None:
        with self._locks.transact():  # it may have expired and been taken by another process
            if self._locks.get(key) == token:
                self._locks.delete(key)

    async def close(self) -> None:
        """Close both databases on both threads (a connection is closed by its own), and the
        writer thread."""
        for disk in (self._disk, self._locks):
            await self._write(disk.close)
            disk.close()
        self._writer.shutdown()
        self.generation.close()  # generation hook

    def usage(self) -> tuple[int, int]:
        """Entries (expired ones until culled) and bytes on disk, locks aside."""
        return len(self._disk), int(self._disk.volume())


def _entry_size(entry: Entry) -> int:
    return len(entry.body) + ENTRY_OVERHEAD


def encode(entry: Entry) -> bytes:
    """``entry`` as bytes: a JSON head line, then the body."""
    head = json.dumps([entry.status, entry.content_type, entry.stored_at, entry.ttl, entry.final])
    return head.encode() + b"\n" + entry.body


def decode(raw: bytes) -> Entry:
    """The entry ``encode`` made ``raw`` from."""
    head, body = raw.split(b"\n", 1)
    status, content_type, stored_at, ttl, *final = json.loads(head)
    return Entry(status, body, content_type, stored_at, ttl, bool(final and final[0]))


class ReplyCache:
    """Cached upstream replies for every tenant, with single-flight fetches and stale rules."""

    def __init__(
        self,
        store: Store,
        settings: Cache,
        *,
        lock_seconds: float = 20.0,
        poll: float = 0.02,
        clock: Clock = SYSTEM,
        final: FinalStore | None = None,
        purges: PurgeLog | None = None,
        generation: Counter | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self._store = store
        self._final = final
        self._purges = purges  # for a store of this process only: how purges reach the others
        self._generation = generation  # the store's, when it has one: changes on every write
        self._lock_seconds = lock_seconds
        self._poll = poll
        self._flight = SingleFlight()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._counts = {"HIT": 0, "MISS": 0, "STALE": 0}
        self._counters = {result: CACHE.labels(result.lower()) for result in self._counts}

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

        ``refresh`` says whether a stale entry may be refreshed now; ``through``, up to when
        the caller needs data; ``every``, how old a 2xx reply it accepts (see the module rules).
        """
        now = self.clock.now
        await self._apply_purges()
        started = now()
        since = through if through is not None else -math.inf
        settled = since + self.settings.reporting_lag if through is not None else math.inf
        cached = await self._servable(key, started, refresh is not None, since, settled)
        if cached is not None and (
            cached.fresh(started) or _holds(cached, settled) or _young(cached, started, every)
        ):
            return self._answer(cached, "HIT", started)
        if cached is not None and refresh is not None and not await refresh(cached):
            return self._answer(cached, "STALE", started)
        revalidate = self.settings.stale_while_revalidate
        if cached is not None and revalidate and cached.age(started) <= 2 * cached.ttl:
            self._refresh_in_background(key, fetch)
            return self._answer(cached, "STALE", started)
        try:
            fetched = await self._flight.run(
                key, lambda: self._fetch_once(key, fetch, since, settled)
            )
        except UpstreamUnavailable:
            if cached is None:
                self._record("MISS")
                raise
            return self._answer(cached, "STALE", now())
        if cached is not None and _failed(fetched):
            return self._answer(cached, "STALE", now())
        return self._answer(fetched, "MISS", now())

    async def fresh_entry(self, key: str, now: float) -> Entry | None:
        """The entry under ``key`` if it is fresh (counted as a hit), without fetching."""
        await self._apply_purges()
        entry = await self._stored_fresh(key, now)
        if entry is not None:
            self._record("HIT")
        return entry

    async def unchanged(
        self, sources: tuple[tuple[str, float], ...], now: float, seen: Checked | None = None
    ) -> Checked | None:
        """Whether each (key, stored_at) still names a fresh entry, each counted as a hit: what
        was checked, else None. ``seen``, an earlier answer, spares reading the entries again
        while it holds (on the file store, a hit then reads no entry)."""
        generation = await self._generation.current() if self._generation is not None else None
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
        await self._flight.aclose()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._store.close()
        if self._final is not None:
            await self._final.close()
        if self._purges is not None:
            self._purges.close()

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

    async def _servable(
        self, key: str, now: float, paced: bool, since: float, settled: float
    ) -> Entry | None:
        """The stored entry when it may be served, fresh or stale (paced or settled: at any
        age); never one stored before ``since``."""
        entry = await self._stored(key)
        if entry is None or entry.stored_at < since:
            return None
        if paced or _holds(entry, settled):
            return entry
        return entry if entry.age(now) <= entry.ttl + self.settings.stale_if_error else None

    async def _fetch_once(
        self,
        key: str,
        fetch: Callable[[], Awaitable[Entry]],
        since: float = -math.inf,
        settled: float = math.inf,
    ) -> Entry:
        """Fetch and store, unless another process first stores a fresh entry (from ``since``)."""
        clock = self.clock
        deadline = clock.monotonic() + self._lock_seconds
        while True:
            token = await self._store.lock(key, self._lock_seconds)
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
        usable = entry is not None and entry.fresh(now) and entry.stored_at >= since
        return entry if usable else None

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
        entry = await fetch()
        if entry.ttl > 0 and not _failed(entry):
            await self._store.set(key, entry)
            lasting = entry.final or _holds(entry, settled)
            if lasting and self._final is not None:
                await self._final.set(key, encode(entry))
            self._update_gauges()
        return entry

    def _refresh_in_background(self, key: str, fetch: Callable[[], Awaitable[Entry]]) -> None:
        if key in self._flight:
            return
        task = asyncio.create_task(self._flight.run(key, lambda: self._fetch_once(key, fetch)))
        self._tasks.add(task)
        task.add_done_callback(self._reap)

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
        TALLY.inc(self._counters[result], times)

    def _update_gauges(self) -> None:
        usage = self._store.usage()
        if usage is not None:
            TALLY.set(CACHE_ENTRIES, usage[0])
            TALLY.set(CACHE_BYTES, usage[1])


async def open_cache(
    config: Config, redis: Redis | None = None, clock: Clock = SYSTEM
) -> ReplyCache:
    """The reply cache ``config`` describes: on disk in ``data_dir`` (shared by the host's
    workers), on Redis (``redis``, else a client of its own), or in this process's memory."""
    settings = config.cache
    keep = max(settings.stale_if_error, PACED_KEEP if config.quota.pacing else 0)
    if settings.backend == "redis":
        client, owned = await reachable(config, redis)
        shared = RedisStore(client, keep, owned)
        return ReplyCache(shared, settings, clock=clock, generation=RedisGeneration(client))
    final = FinalStore(config.data_path(settings.final_dir), settings.final_max_bytes)
    if settings.backend == "file":
        store = FileStore(config.data_path(LIVE_DIR), settings.max_bytes, keep)
        return ReplyCache(store, settings, clock=clock, final=final, generation=store.generation)
    memory = MemoryStore(settings.max_entries, settings.max_bytes)
    purges = PurgeLog(config.data_path(PURGE_LOG))  # how a purge reaches the other workers
    return ReplyCache(memory, settings, clock=clock, final=final, purges=purges)
