"""The one source of time: a wall clock for production, a virtual one for tests and benches."""

from __future__ import annotations

import asyncio
import contextvars
import heapq
import itertools
import time
from collections.abc import Callable
from typing import Protocol


class Timer(Protocol):
    """A callback set to run at a moment, until cancelled."""

    def cancel(self) -> None:
        """Do not run the callback."""
        ...


class Clock(Protocol):
    """What every component that reads time is given."""

    def now(self) -> float:
        """Seconds since the epoch."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back, for deadlines and durations."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of this clock's time."""
        ...

    def call_at(self, epoch: float, callback: Callable[[], object]) -> Timer:
        """Run ``callback`` (in the caller's context) once this clock reaches ``epoch``."""
        ...


class SystemClock:
    """The machine's clock."""

    def now(self) -> float:
        """Seconds since the epoch."""
        return time.time()

    def monotonic(self) -> float:
        """The machine's monotonic clock."""
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        """An asyncio sleep."""
        await asyncio.sleep(seconds)

    def call_at(self, epoch: float, callback: Callable[[], object]) -> Timer:
        """A timer of the running event loop."""
        return asyncio.get_running_loop().call_later(max(0.0, epoch - time.time()), callback)


class _VirtualTimer:
    """A callback waiting for a virtual moment."""

    def __init__(self, callback: Callable[[], object]) -> None:
        self.callback = callback
        self.context = contextvars.copy_context()
        self.cancelled = False

    def cancel(self) -> None:
        """Do not run the callback."""
        self.cancelled = True


class VirtualClock:
    """A clock that moves only when told (or when something sleeps on it); timers run as it
    passes their moment, each with the clock at that moment."""

    def __init__(self, start: float) -> None:
        self._now = float(start)
        self._timers: list[tuple[float, int, _VirtualTimer]] = []
        self._order = itertools.count()  # timers of one moment run in the order they were set

    def __call__(self) -> float:
        return self._now

    def now(self) -> float:
        """The simulated epoch."""
        return self._now

    def monotonic(self) -> float:
        """The simulated epoch, which only moves forward."""
        return self._now

    def advance(self, seconds: float) -> None:
        """Move the clock ``seconds`` forward, running the timers it passes."""
        if seconds < 0:
            raise ValueError("a virtual clock does not go back")
        target = self._now + seconds
        while self._timers and self._timers[0][0] <= target:
            epoch, _, timer = heapq.heappop(self._timers)
            self._now = max(self._now, epoch)
            if not timer.cancelled:
                timer.context.run(timer.callback)
        self._now = target

    def next_timer(self) -> float | None:
        """The moment of the earliest timer still set (None: none)."""
        while self._timers and self._timers[0][2].cancelled:
            heapq.heappop(self._timers)
        return self._timers[0][0] if self._timers else None

    def set(self, epoch: float) -> None:
        """Move the clock forward to ``epoch``."""
        self.advance(epoch - self._now)

    async def sleep(self, seconds: float) -> None:
        """Advance the clock by ``seconds`` and yield to the event loop once."""
        self.advance(max(0.0, seconds))
        await asyncio.sleep(0)

    def call_at(self, epoch: float, callback: Callable[[], object]) -> Timer:
        """A timer run when the clock is moved to ``epoch`` or past it."""
        timer = _VirtualTimer(callback)
        heapq.heappush(self._timers, (epoch, next(self._order), timer))
        return timer


SYSTEM = SystemClock()
