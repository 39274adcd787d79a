"""In-process single-flight: concurrent calls for the same key share one execution."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any


class SingleFlight:
    """Runs at most one ``fn`` per key at a time; every concurrent caller gets its outcome."""

    def __init__(self) -> None:
        self._running: dict[str, asyncio.Task[Any]] = {}

    def __contains__(self, key: str) -> bool:
        return key in self._running

    async def run(self, key: str, fn: Callable[[], Awaitable[Any]]) -> Any:
        """The result of ``fn()``, or of the call already running for ``key``."""
        task = self._running.get(key)
        if task is None:
            task = asyncio.ensure_future(fn())
            self._running[key] = task
            task.add_done_callback(lambda done: self._finished(key, done))
        return await asyncio.shield(task)

    async def aclose(self) -> None:
        """Cancel every running call and wait for them to end."""
        running = list(self._running.values())
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)

    def _finished(self, key: str, task: asyncio.Task[Any]) -> None:
        if self._running.get(key) is task:
            del self._running[key]
        if not task.cancelled():
            task.exception()  # retrieved: callers that went away must not leave it unobserved
