"""The console's history stores (memory, SQLite file, Redis) and its budget arithmetic."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from redis.asyncio import Redis

from proxy.clock import VirtualClock
from proxy.console.budget import day_name, per_day
from proxy.console.history import (
    KEPT_ERRORS,
    REDIS_PREFIX,
    History,
    MemoryHistory,
    RedisHistory,
    SqliteHistory,
)

START = dt.datetime(2026, 11, 10, 12, tzinfo=dt.UTC).timestamp()

Opener = Callable[[VirtualClock], Awaitable[History]]


@pytest.fixture(params=["memory", "file", "redis"])
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Opener:
    """Opens a history store of each kind on a virtual clock."""

    async def open_store(clock: VirtualClock) -> History:
        if request.param == "memory":
            return MemoryHistory(clock.now)
        if request.param == "file":
            return SqliteHistory(tmp_path / "console.sqlite3", clock.now)
        client = Redis.from_url(request.getfixturevalue("redis_url"))
        await client.flushdb()
        return RedisHistory(client, clock.now, owned=True)

    return open_store


def test_counts_add_up_maxima_rise_and_buckets_expire(opener: Opener) -> None:
    async def scenario() -> None:
        clock = VirtualClock(START)
        store = await opener(clock)
        try:
            await store.update("h:1", {"upstream": 2, "hit": 5}, {}, START + 3600)
            await store.update("h:1", {"upstream": 3}, {"seen:a": 10.0}, START + 3600)
            await store.update("h:1", {}, {"seen:a": 4.0}, START + 3600)
            await store.update("h:2", {"upstream": 1}, {}, START + 60)
            found = await store.read(["h:1", "h:2", "h:3"])
            assert found == {
                "h:1": {"upstream": 5.0, "hit": 5.0, "seen:a": 10.0},
                "h:2": {"upstream": 1.0},
                "h:3": {},
            }
            clock.advance(120)
            await store.update("h:1", {"upstream": 1}, {}, START + 3600)
            if isinstance(store, RedisHistory):  # Redis expires keys by its own clock
                ttl = await store._client.ttl(REDIS_PREFIX + "h:2")
                assert 0 < ttl <= 60
            else:
                assert (await store.read(["h:2"])) == {"h:2": {}}
            assert (await store.read(["h:1"]))["h:1"]["upstream"] == 6.0
        finally:
            await store.close()

    asyncio.run(scenario())


def test_recent_errors_are_kept_newest_first_and_bounded(opener: Opener) -> None:
    async def scenario() -> None:
        store = await opener(VirtualClock(START))
        try:
            assert await store.errors() == []
            for n in range(KEPT_ERRORS + 5):
                await store.note_errors([{"at": n, "status": "503", "endpoint": "summary"}])
            await store.note_errors(
                [{"at": 100, "status": "404", "endpoint": "a"}, {"at": 101, "status": "429"}]
            )
            kept = await store.errors()
            assert len(kept) == KEPT_ERRORS
            assert [e["at"] for e in kept[:3]] == [101, 100, KEPT_ERRORS + 4]
        finally:
            await store.close()

    asyncio.run(scenario())


def test_calls_per_day_come_from_the_month_count_seen_at_each_days_end() -> None:
    # month count seen on days 1..4 (day 3 unseen: the proxy was down), 9 now on day 5
    assert per_day([2, 5, None, 7, None], 9) == (2, 3, 0, 2, 2)
    assert per_day([None], 0) == (0,)
    # a count that went back (a restarted memory store) never gives a negative day
    assert per_day([4, 1], 3) == (4, 0)


def test_day_names_are_utc_dates() -> None:
    assert day_name(START) == "d:2026-11-10"
    assert day_name(START + 12 * 3600) == "d:2026-11-11"
