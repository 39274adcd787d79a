"""Cached entries on disk, shared by every worker of a host, with their fetch locks."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import cachetools
import diskcache

from proxy.cache.bytes_disk import BytesDisk
from proxy.cache.entry import Entry, decode, encode, entry_size
from proxy.cache.file_locks import KeyLocks
from proxy.cache.final_store import purge_matching
from proxy.cache.generation import Generation
from proxy.cache.stores import keep_for

LOCKS_DIR = "locks"  # the fetch locks, inside the store's directory: apart, they count as no entry
GENERATION_FILE = "generation"  # its change counter, in the store's directory
FRONT_BYTES = 16 * 1024 * 1024  # decoded entries a worker keeps between writes


class FileReplyStore:
    """Entries on disk in ``directory``, shared by every worker of a host; each expires
    ``ttl + keep_stale`` seconds after it is stored, the least recently stored evicted beyond
    ``max_bytes``.

    A ``diskcache.Cache``: SQLite in WAL mode, safe across processes; it opens a connection
    per thread and reopens after a fork. Reads run on the event loop: a WAL read takes no lock
    and costs about 25 µs, where a hop to a thread costs about 200 µs on every hit. Writes,
    which may wait for another worker's, run on one thread of this worker's. Evicting the least
    recently *stored* keeps a read a read (least recently used writes on every hit). The fetch
    locks are lock files of their own (``proxy.cache.file_locks``): taking one never waits for
    an entry's write, and a dead holder's is free at once.

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
            disk=BytesDisk,
        )
        self._locks = KeyLocks(directory / LOCKS_DIR)
        self._keep_stale = keep_stale
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="cachestore")
        self.generation = Generation(directory / GENERATION_FILE)
        self._seen = -1
        self._front: cachetools.LRUCache[str, Entry] = cachetools.LRUCache(
            maxsize=min(max_bytes, FRONT_BYTES), getsizeof=entry_size
        )

    async def _write(self, call: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._writer, call, *args)

    async def _change(self, call: Any, *args: Any) -> Any:
        """Write, then tell every worker, even when the write failed part way."""
        try:
            return await self._write(call, *args)
        finally:
            self.generation.bump()

    async def get(self, key: str) -> Entry | None:
        """The entry under ``key``, unless it expired (in the front: unless a write was made
        since it was read)."""
        version = self.generation.read()  # before any read of the store
        if version != self._seen:  # a process wrote or purged: the front may be out of date
            self._seen = version
            self._front.clear()
        entry = self._front.get(key)
        if entry is None:
            raw = self._disk.get(key)
            entry = decode(raw) if isinstance(raw, bytes) else None
            if entry is not None and entry_size(entry) <= self._front.maxsize:
                self._front[key] = entry
        return entry

    async def set(self, key: str, entry: Entry) -> None:
        """Store ``entry`` until it is too old to serve even as stale."""
        await self._change(self._disk.set, key, encode(entry), keep_for(entry, self._keep_stale))

    async def purge(self, pattern: str) -> int:
        """Drop every key matching glob ``pattern``; how many were dropped."""
        dropped: int = await self._change(purge_matching, self._disk, pattern)
        return dropped

    async def lock(self, key: str) -> object | None:
        """A token when no process of the host is fetching ``key``, else None (the lock dies
        with its holder)."""
        return self._locks.acquire(key)

    async def unlock(self, key: str, token: object) -> None:
        """Release the fetch lock if it is ours."""
        self._locks.release(token)

    async def close(self) -> None:
        """Close the database on both threads (a connection is closed by its own), the writer
        thread, and release the fetch locks held."""
        await self._write(self._disk.close)
        self._disk.close()
        self._writer.shutdown()
        self._locks.close()
        self.generation.close()

    def usage(self) -> tuple[int, int]:
        """Entries (expired ones until culled) and bytes on disk, locks aside."""
        return len(self._disk), int(self._disk.volume())
