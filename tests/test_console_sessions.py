"""Console sessions and failed-login counts on each history store (memory, SQLite, Redis)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from redis.asyncio import Redis

from proxy.clock import VirtualClock
from proxy.console import sessions
from proxy.console.history import History, MemoryHistory, RedisHistory, SqliteHistory

START = 1_800_000_000.0


Scenario = Callable[[History, VirtualClock], Awaitable[None]]


async def opened(kind: str, clock: VirtualClock, tmp_path: Path, redis_url: str) -> History:
    """A history store of ``kind`` on ``clock``."""
    if kind == "memory":
        return MemoryHistory(clock.now)
    if kind == "file":
        return SqliteHistory(tmp_path / "console.sqlite3", clock.now)
    client = Redis.from_url(redis_url)
    await client.flushdb()
    return RedisHistory(client, clock.now, owned=True)


def run(scenario: Scenario, kind: str, tmp_path: Path, redis_url: str) -> None:
    """``scenario`` on a new store of ``kind`` and a virtual clock at START."""

    async def main() -> None:
        clock = VirtualClock(START)
        store = await opened(kind, clock, tmp_path, redis_url)
        try:
            await scenario(store, clock)
        finally:
            await store.close()

    asyncio.run(main())


@pytest.mark.parametrize("kind", ["memory", "file", "redis"])
def test_sessions_end_at_sign_out_expiry_and_key_change(
    kind: str, tmp_path: Path, redis_url: str
) -> None:
    async def scenario(store: History, clock: VirtualClock) -> None:
        token = await sessions.start(store, "key-one", clock.now())
        other = await sessions.start(store, "key-one", clock.now())
        assert token != other
        assert await sessions.live(store, "key-one", token, clock.now())
        assert not await sessions.live(store, "key-two", token, clock.now())
        forged = sessions.session_token("key-one", int(START) + 60)  # valid MAC, never started
        assert not await sessions.live(store, "key-one", forged, clock.now())
        await sessions.end(store, token)
        assert not await sessions.live(store, "key-one", token, clock.now())
        assert await sessions.live(store, "key-one", other, clock.now())
        clock.advance(sessions.SESSION_SECONDS)
        assert not await sessions.live(store, "key-one", other, clock.now())

    run(scenario, kind, tmp_path, redis_url)


@pytest.mark.parametrize("kind", ["memory", "file", "redis"])
def test_failed_logins_refuse_per_address_then_overall_and_pass(
    kind: str, tmp_path: Path, redis_url: str
) -> None:
    async def scenario(store: History, clock: VirtualClock) -> None:
        for _ in range(sessions.PER_ADDRESS):
            assert await sessions.refused(store, "10.0.0.1", clock.now()) is None
            await sessions.failed(store, "10.0.0.1", clock.now())
        wait = await sessions.refused(store, "10.0.0.1", clock.now())
        assert wait is not None and 0 < wait <= sessions.WINDOW
        assert await sessions.refused(store, "10.0.0.2", clock.now()) is None
        for n in range(sessions.OVERALL):
            await sessions.failed(store, f"10.1.{n // 250}.{n % 250}", clock.now())
        assert await sessions.refused(store, "10.0.0.2", clock.now()) is not None
        clock.advance(2 * sessions.WINDOW)
        assert await sessions.refused(store, "10.0.0.1", clock.now()) is None

    run(scenario, kind, tmp_path, redis_url)
