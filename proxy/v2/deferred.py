"""v2 requests the quota refused for the minute, answered again once it is over.

A legacy client refused with a 409 comes back after ``Retry-After`` or at its next poll. A
request whose answer needs several v4 calls (a lookup, then its data) stops at the first one
refused, so only answering it again reaches the others: done in the background, the client's
next request finds every reply cached, not a second 409 at its next, equally busy, minute (a
fleet polled in step).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Hashable
from typing import Any

from proxy.clock import Clock, Timer

Answer = Callable[[], Coroutine[Any, Any, object]]

log = logging.getLogger("proxy.legacy")

MAX_PENDING = 4096  # requests a worker holds for a later minute; past that a 409 is the answer


class Deferred:
    """Requests waiting for a later minute, one per key, each answered once at its moment."""

    def __init__(self, clock: Clock, limit: int = MAX_PENDING) -> None:
        self.clock = clock
        self.limit = limit
        self._pending: dict[Hashable, Timer] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

    def __len__(self) -> int:
        return len(self._pending)

    def later(
        self, key: Hashable, at: float, answer: Callable[[], Coroutine[Any, Any, object]]
    ) -> None:
        """Run ``answer`` (in the caller's context) at ``at``, unless ``key`` waits already."""
        if key in self._pending or len(self._pending) >= self.limit:
            return

        def start() -> None:
            del self._pending[key]
            task: asyncio.Task[object] = asyncio.create_task(answer())
            self._tasks.add(task)
            task.add_done_callback(self._reap)

        self._pending[key] = self.clock.call_at(at, start)

    async def close(self) -> None:
        """Drop what waits and let what runs finish."""
        for timer in self._pending.values():
            timer.cancel()
        self._pending.clear()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _reap(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:  # answer() never raises
            log.warning("deferred v2 request failed", exc_info=task.exception())
