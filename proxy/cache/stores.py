"""Where cached entries live: the store protocol and the in-memory store of one worker.

``FileReplyStore`` (``proxy.cache.file_store``) shares entries between the workers of a host,
``RedisReplyStore`` (``proxy.cache.redis_store``) between replicas. A store holds entries and
fetch locks; what to serve and when to fetch is ``proxy.cache.decision``'s.
"""

from __future__ import annotations

import fnmatch
from typing import Protocol

import cachetools

from proxy.cache.entry import ENTRY_OVERHEAD, Entry

FINAL_KEEP = 730 * 86_400  # seconds a shared store keeps a final reply (v4 serves two years)


class ReplyStore(Protocol):
    """Where entries live; ``lock`` returns a token when this caller may fetch ``key`` (held
    until ``unlock`` or its holder's death, never for a fixed time)."""

    async def get(self, key: str) -> Entry | None: ...
    async def set(self, key: str, entry: Entry) -> None: ...
    async def purge(self, pattern: str) -> int: ...
    async def lock(self, key: str) -> object | None: ...
    async def unlock(self, key: str, token: object) -> None: ...
    async def close(self) -> None: ...
    def usage(self) -> tuple[int, int] | None: ...


def keep_for(entry: Entry, keep_stale: int) -> int:
    """Seconds a shared store keeps ``entry``: until too old to serve even as stale."""
    return max(entry.ttl + keep_stale, FINAL_KEEP if entry.final else 0)


class MemoryReplyStore:
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

    async def lock(self, key: str) -> object | None:
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
