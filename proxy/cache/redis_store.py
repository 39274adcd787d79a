"""Cached entries on Redis, shared by every worker and replica, with their fetch locks."""

from __future__ import annotations

from contextlib import suppress
from typing import TYPE_CHECKING, Any, cast

from proxy.cache.entry import Entry, decode, encode
from proxy.cache.stores import keep_for

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.asyncio.lock import Lock

REDIS_PREFIX = "enphase-proxy:cache:"
REDIS_LOCK_PREFIX = "enphase-proxy:cache-lock:"


class RedisReplyStore:
    """Entries shared by every worker and replica; each expires ``ttl + keep_stale`` seconds.

    The client is its opener's to close.
    """

    def __init__(self, client: Redis, keep_stale: int) -> None:
        self._client = client
        self._keep_stale = keep_stale

    async def get(self, key: str) -> Entry | None:
        """The entry under ``key``."""
        raw = await self._client.get(REDIS_PREFIX + key)
        return None if raw is None else decode(cast(bytes, raw))  # no decode_responses

    async def set(self, key: str, entry: Entry) -> None:
        """Store ``entry`` until it is too old to serve even as stale."""
        expiry = keep_for(entry, self._keep_stale)
        await self._client.set(REDIS_PREFIX + key, encode(entry), ex=expiry)

    async def purge(self, pattern: str) -> int:
        """Drop every key matching glob ``pattern`` (SCAN, in batches); how many were dropped."""
        dropped = 0
        batch: list[Any] = []
        async for name in self._client.scan_iter(match=REDIS_PREFIX + pattern, count=500):
            batch.append(name)
            if len(batch) == 500:
                dropped += await self._client.delete(*batch)
                batch.clear()
        if batch:
            dropped += await self._client.delete(*batch)
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
        """Nothing to release: the client is closed by whoever opened it."""

    def usage(self) -> None:
        """Not measured: the store is shared, so no one worker's count would be right."""
        return None
