"""Final upstream replies on disk: windows that can no longer change, never bought twice.

A ``diskcache.Cache`` in ``data_dir`` (SQLite and files): shared by every worker of a host,
kept across restarts and deploys, bounded by bytes with least-recently-used eviction. The
reply cache looks here when its own store misses and writes every final reply here.
"""

from __future__ import annotations

import asyncio
import fnmatch
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import diskcache

from proxy.cache.bytes_disk import BytesDisk


def purge_matching(disk: diskcache.Cache, pattern: str) -> int:
    """Delete every key of ``disk`` matching glob ``pattern``; how many were deleted."""
    keys = [k for k in disk.iterkeys() if fnmatch.fnmatchcase(str(k), pattern)]
    return sum(bool(disk.delete(k)) for k in keys)


class FinalStore:
    """Encoded final replies by cache key, on disk, size-bounded with LRU eviction."""

    def __init__(self, directory: Path, max_bytes: int) -> None:
        self._disk = diskcache.Cache(
            str(directory),
            size_limit=max_bytes,
            eviction_policy="least-recently-used",
            timeout=30,  # seconds to wait for another worker's write
            disk=BytesDisk,  # never a pickle
        )
        # diskcache opens a SQLite connection per thread: one thread keeps it to one per worker
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="finalstore")

    async def _run(self, call: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._thread, call, *args)

    async def get(self, key: str) -> bytes | None:
        """The encoded reply under ``key``."""
        raw: Any = await self._run(self._disk.get, key)
        return raw if isinstance(raw, bytes) else None

    async def set(self, key: str, raw: bytes) -> None:
        """Keep the encoded reply ``raw`` under ``key``."""
        await self._run(self._disk.set, key, raw)

    async def purge(self, pattern: str) -> int:
        """Drop every reply whose key matches glob ``pattern``; how many were dropped."""
        dropped: int = await self._run(purge_matching, self._disk, pattern)
        return dropped

    def usage(self) -> tuple[int, int]:
        """Entries and bytes on disk."""
        return len(self._disk), int(self._disk.volume())

    async def close(self) -> None:
        """Close the database and its thread."""
        await self._run(self._disk.close)
        self._thread.shutdown()
