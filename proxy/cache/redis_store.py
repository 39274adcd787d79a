"""Cached entries on Redis, shared by every worker and replica, with their fetch locks."""

from __future__ import annotations

import asyncio
from contextlib import suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from proxy.cache.entry import Entry, decode, encode
from proxy.cache.generation import REDIS_KEY, RedisGeneration
from proxy.cache.stores import keep_for

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.asyncio.lock import Lock

REDIS_PREFIX = "enphase-proxy:cache:"
REDIS_LOCK_PREFIX = "enphase-proxy:cache-lock:"
LEASE = 1.5  # seconds a fetch lock outlives its last renewal (real time: Redis expires it)


@dataclass(frozen=True, slots=True)
class Lease:
    """A fetch lock held, and the task renewing it."""

    held: Lock
    renewal: asyncio.Task[None]


async def _renew(held: Lock) -> None:
    """Extend ``held`` to a full lease every third of one, until cancelled or lost."""
    from redis.exceptions import LockError, RedisError

    with suppress(LockError, RedisError):  # lost: a waiter takes over, as after a death
        while True:
            await asyncio.sleep(LEASE / 3)
            await held.extend(LEASE, replace_ttl=True)


class RedisReplyStore:
    """Entries shared by every worker and replica; each expires ``ttl + keep_stale`` seconds.

    The client is its opener's to close.
    """

    def __init__(self, client: Redis, keep_stale: int) -> None:
        self._client = client
        self._keep_stale = keep_stale
        self.generation = RedisGeneration(client)  # its change counter, as its readers see it

    async def get(self, key: str) -> Entry | None:
        """The entry under ``key``."""
        raw = await self._client.get(REDIS_PREFIX + key)
        return None if raw is None else decode(cast(bytes, raw))  # no decode_responses

    async def set(self, key: str, entry: Entry) -> None:
        """Store ``entry`` until it is too old to serve even as stale."""
        expiry = keep_for(entry, self._keep_stale)
        async with self._client.pipeline(transaction=False) as pipe:  # in order, one round trip
            pipe.set(REDIS_PREFIX + key, encode(entry), ex=expiry)
            pipe.incr(REDIS_KEY)  # the change counter, after the write
            await pipe.execute()
        await self.generation.changed()

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
            await self._client.incr(REDIS_KEY)  # the change counter, after the deletes
        await self.generation.changed()
        return dropped

    async def lock(self, key: str) -> object | None:
        """A lease on ``key`` when no other process is fetching it, else None.

        redis-py's Lock with a ``LEASE`` timeout, extended every third of it while held: a
        holder that dies (or loses Redis) leaves the key to a waiter within ``LEASE`` seconds.
        """
        held = self._client.lock(REDIS_LOCK_PREFIX + key, timeout=LEASE)
        if not await held.acquire(blocking=False):
            return None
        return Lease(held, asyncio.create_task(_renew(held)))

    async def unlock(self, key: str, token: object) -> None:
        """Stop renewing the lease and release it if it is still ours."""
        from redis.exceptions import LockError

        if not isinstance(token, Lease):
            return
        token.renewal.cancel()
        with suppress(LockError):  # it lapsed; another process may hold it now
            await token.held.release()

    async def close(self) -> None:
        """Nothing to release: the client is closed by whoever opened it."""

    def usage(self) -> None:
        """Not measured: the store is shared, so no one worker's count would be right."""
        return None
