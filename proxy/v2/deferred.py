"""v2 requests the quota refused for the minute, answered again once there is room.

A legacy client refused with a 409 comes back after ``Retry-After`` or at its next poll. A
request whose answer needs several v4 calls (a lookup, then its data) stops at the first one
refused, so only answering it again reaches the others: done in the background, the client's
next request finds every reply cached, not a second 409 at its next, equally busy, minute (a
fleet polled in step). Requests are spread over the coming minutes by the calls each needs
(learned per route from the requests answered and refused) within the minute's limit, and
each client is told (``Retry-After``) when its request's minute comes.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable, Coroutine, Hashable
from typing import Any

from proxy.clock import Clock, Timer
from proxy.observability import metrics

log = logging.getLogger("proxy.legacy")

MAX_PENDING = 4096  # requests a worker holds for a later minute; past that a 409 is the answer
HORIZON = 60  # minutes ahead a request may be held for
FIRST_GUESS = 3  # calls of a route nothing told yet: a system lookup, its data, a live lookup
Answer = Callable[[], Coroutine[Any, Any, object]]


class Deferred:
    """Requests waiting for a later minute, one per key, each answered once at its moment."""

    def __init__(self, clock: Clock, limit: int = MAX_PENDING) -> None:
        self.clock = clock
        self.limit = limit
        self._pending: dict[Hashable, tuple[Timer, int]] = {}  # key: its timer, its minute
        self._minutes: Counter[int] = Counter()  # minute's start: calls held for it
        self._calls: dict[str, int] = {}  # route: v4 calls its answers needed, at most
        self._tasks: set[asyncio.Task[Any]] = set()

    def __len__(self) -> int:
        return len(self._pending)

    def learn(self, route: str, calls: int, answered: bool = True) -> None:
        """Note that a request of ``route`` needed ``calls`` v4 calls (not ``answered``: at
        least that many, and as many as a first guess)."""
        known = self._calls.get(route, 0 if answered else FIRST_GUESS)
        self._calls[route] = max(known, calls)

    def later(
        self, key: Hashable, route: str, at: float, per_minute: int, answer: Answer
    ) -> int | None:
        """Run ``answer`` (a request of ``route``, in the caller's context) in the first minute
        from ``at`` whose ``per_minute`` calls hold its calls too; that minute (the one it waits
        for already, if it does; None: not held, too many wait)."""
        if key in self._pending:
            return self._pending[key][1]
        if len(self._pending) >= self.limit:
            return None
        calls = min(self._calls.get(route, FIRST_GUESS), per_minute)
        first = int(at)
        minute = next(
            (
                m
                for m in range(first, first + HORIZON * 60, 60)
                if self._minutes[m] + calls <= per_minute
            ),
            None,
        )
        if minute is None:
            return None

        def start() -> None:
            del self._pending[key]
            self._minutes[minute] -= calls
            if self._minutes[minute] <= 0:
                del self._minutes[minute]
            task: asyncio.Task[object] = asyncio.create_task(answer())
            self._tasks.add(task)
            task.add_done_callback(self._reap)

        self._minutes[minute] += calls
        self._pending[key] = (self.clock.call_at(minute, start), minute)
        metrics.DEFERRED.inc()
        return minute

    async def close(self) -> None:
        """Drop what waits and let what runs finish."""
        for timer, _ in self._pending.values():
            timer.cancel()
        self._pending.clear()
        self._minutes.clear()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _reap(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:  # answer() never raises
            log.warning("deferred v2 request failed", exc_info=task.exception())
