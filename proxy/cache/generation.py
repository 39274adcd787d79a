"""A counter every user of a shared cache reads to learn that any of them changed it.

For the file cache (``Generation``): eight bytes in a small file beside the cache,
memory-mapped by every worker of the host: a writer bumps it (under an exclusive ``flock``)
after each write or purge; a reader compares it with the value it last saw, a memory read and
not a syscall, so a cache hit can ask "did anything change?" for nothing. A reader that sees a
new value drops what it kept in memory. For the Redis cache (``RedisGeneration``): one key,
INCR'd after each write and purge by every replica, read by a small GET that the hits waiting
share, instead of reading each reply behind the answer; a value read stands for ``LEASE``
seconds from when its GET was sent, and every write and purge waits that long before it
returns, so a hit within the lease reads nothing and still sees every change finished before
it came.

Order makes it safe: the bump follows the commit, and a reader reads the counter before it
reads the store, so what it reads after seeing a value is never older than the writes that
value counts.
"""

from __future__ import annotations

import asyncio
import fcntl
import math
import mmap
import os
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from redis.asyncio import Redis

COUNTER = struct.Struct("=Q")  # native order: only processes of this host map it
LEASE = 0.02  # seconds a Redis generation read stands for; each change waits it out
REDIS_KEY = "enphase-proxy:cache-generation"  # no expiry; absent (flushed) counts as unknown


class Counter(Protocol):
    """A shared change counter, as a cache's reader sees it."""

    def held(self) -> int | None:
        """The current value when it is known without a read; else None."""
        ...

    async def leased(self) -> int | None:
        """A value that counts every change finished before the call; None when unknown
        (nothing can be assumed unchanged)."""
        ...


class Generation:
    """The host's shared change counter in the file at ``path`` (made if absent)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        with self._locked():
            if os.fstat(self._fd).st_size < COUNTER.size:
                os.ftruncate(self._fd, COUNTER.size)  # zero-filled
        self._map = mmap.mmap(self._fd, COUNTER.size)

    def read(self) -> int:
        """The current value."""
        value: int = COUNTER.unpack_from(self._map)[0]
        return value

    def held(self) -> int:
        """The current value (``Counter``): a memory read."""
        return self.read()

    async def leased(self) -> int:
        """The current value (``Counter``)."""
        return self.read()

    def bump(self) -> None:
        """Count one change (every reader then sees a new value)."""
        with self._locked():
            COUNTER.pack_into(self._map, 0, (self.read() + 1) % (1 << 64))

    def close(self) -> None:
        """Unmap and close the file."""
        self._map.close()
        os.close(self._fd)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """Exclusive among the host's processes (two bumps never make one)."""
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)


class RedisGeneration:
    """The change counter of a Redis cache, shared by every replica (writers INCR ``REDIS_KEY``
    in the same pipeline as their write, after it, then call ``changed``).

    Concurrent reads share GETs: each caller of ``current`` gets the value of a GET sent after
    it called (so it sees every write and purge finished before), but at most one GET is in
    flight: the callers that come while it is share the next, sent once it is answered. Each
    caller waits on a future of its own, so one cancelled leaves the others be.

    ``held`` answers without a read for ``lease`` seconds after the GET that read the value was
    sent (sending the next GET ahead once half of it is gone), and ``leased`` (a hit's) joins a
    GET in flight sent less than ``lease`` ago: every write and purge waits ``lease`` seconds
    after its INCR before it returns (by ``changed``), so a read sent before it no longer
    stands by the time it has finished, and a hit that comes after it reads again. The lease
    runs on the event loop's clock, not the proxy's injected one: it orders real messages
    between processes, as socket timeouts do.
    """

    def __init__(self, client: Redis, lease: float = LEASE) -> None:
        self._client = client
        self.lease = lease
        self._waiting: list[asyncio.Future[int | None]] = []  # the callers the next GET answers
        self._reader: asyncio.Task[None] | None = None  # sends the GETs while callers wait
        self._in_flight: list[asyncio.Future[int | None]] | None = None  # the GET's callers
        self._in_flight_sent = -math.inf  # loop time the GET in flight was sent
        self._held: int | None = None
        self._held_until = -math.inf  # loop time: when the GET that read it was sent, + lease
        self._changed_at = -math.inf  # loop time of this worker's last change

    def held(self) -> int | None:
        """The value last read while its lease lasts (``Counter``); else None. In the lease's
        second half, a GET is sent ahead (hits waiting on a read were the Redis cache's p99)."""
        now = asyncio.get_running_loop().time()
        if now >= self._held_until:
            return None
        if now >= self._held_until - self.lease / 2 and self._reader is None:
            self._reader = asyncio.ensure_future(self._read())
        return self._held

    async def current(self) -> int | None:
        """The current value, read by a GET sent after the call; None while the key is absent."""
        return await self._wait(self._waiting)

    async def leased(self) -> int | None:
        """A value read by a GET sent less than ``lease`` ago (``Counter``): held, or from the
        GET in flight, else from the next."""
        held = self.held()
        if held is not None:
            return held
        in_flight, sent = self._in_flight, self._in_flight_sent
        now = asyncio.get_running_loop().time()
        if in_flight is not None and now < sent + self.lease and sent > self._changed_at:
            return await self._wait(in_flight)
        return await self.current()

    async def _wait(self, callers: list[asyncio.Future[int | None]]) -> int | None:
        """Join ``callers`` (the next GET's, or the one in flight) and wait for its value."""
        waiter: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()
        callers.append(waiter)
        if self._reader is None:
            self._reader = asyncio.ensure_future(self._read())
        return await waiter

    async def changed(self) -> None:
        """After this worker's INCR: forget the value held, and wait until no read sent before
        the INCR is held anywhere."""
        self._changed_at = asyncio.get_running_loop().time()
        self._held_until = -math.inf
        await asyncio.sleep(self.lease)

    async def _read(self) -> None:
        """GET (for the callers waiting, if any), again for those who came meanwhile, until
        none wait."""
        loop = asyncio.get_running_loop()
        try:
            while True:
                waiters, self._waiting = self._waiting, []
                sent = loop.time()
                self._in_flight, self._in_flight_sent = waiters, sent  # late joiners too
                try:
                    raw = await self._client.get(REDIS_KEY)
                except BaseException as exc:  # each waiter gets it (cancelled: the reader was)
                    _settle(waiters, exc)
                    if not isinstance(exc, Exception):
                        waiters, self._waiting = self._waiting, []
                        _settle(waiters, exc)
                        raise
                else:
                    value = None if raw is None else int(raw)
                    if sent > self._changed_at:  # else it may predate this worker's change
                        self._held, self._held_until = value, sent + self.lease
                    _settle(waiters, value)
                if not self._waiting:
                    break
        finally:
            self._reader, self._in_flight = None, None


def _settle(waiters: list[asyncio.Future[int | None]], outcome: int | BaseException | None) -> None:
    """Answer the waiters still waiting (a cancelled caller's future is done already)."""
    for waiter in waiters:
        if waiter.done():
            continue
        if isinstance(outcome, asyncio.CancelledError):
            waiter.cancel()
        elif isinstance(outcome, BaseException):
            waiter.set_exception(outcome)
        else:
            waiter.set_result(outcome)


@dataclass(frozen=True, slots=True)
class Checked:
    """Cached replies found unchanged and fresh at ``generation`` (None: the store has none),
    fresh until ``until`` (epoch): while both hold, finding them again needs no read."""

    generation: int | None
    until: float

    def holds(self, generation: int | None, now: float) -> bool:
        """Whether nothing was written or purged since, and no reply has gone stale."""
        return self.generation is not None and generation == self.generation and now < self.until
