"""The one source of time: a wall clock for production, a virtual one for tests and benches."""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


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


class VirtualClock:
    """A clock that moves only when told (or when something sleeps on it)."""

    def __init__(self, start: float) -> None:
        self._now = float(start)

    def __call__(self) -> float:
        return self._now

    def now(self) -> float:
        """The simulated epoch."""
        return self._now

    def monotonic(self) -> float:
        """The simulated epoch, which only moves forward."""
        return self._now

    def advance(self, seconds: float) -> None:
        """Move the clock ``seconds`` forward."""
        if seconds < 0:
            raise ValueError("a virtual clock does not go back")
        self._now += seconds

    def set(self, epoch: float) -> None:
        """Move the clock forward to ``epoch``."""
        self.advance(epoch - self._now)

    async def sleep(self, seconds: float) -> None:
        """Advance the clock by ``seconds`` and yield to the event loop once."""
        self.advance(max(0.0, seconds))
        await asyncio.sleep(0)


SYSTEM = SystemClock()
