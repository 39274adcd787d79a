"""Counts over time for the console, shared like the quota counts (process, host or Redis).

Buckets are named time slots (``h:<epoch>`` for an hour, ``d:<YYYY-MM-DD>`` for a UTC day)
holding named values that are either added to (counts) or raised to a maximum (snapshots,
times). Recent upstream errors are kept as a short list.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from proxy.config import Config
from proxy.storage import SqliteFile, open_backend

if TYPE_CHECKING:
    from redis.asyncio import Redis

KEPT_ERRORS = 50
REDIS_PREFIX = "enphase-proxy:console:"

Values = dict[str, float]


class History(Protocol):
    """Where the console's counts over time live."""

    async def update(
        self, bucket: str, added: Mapping[str, float], raised: Mapping[str, float], until: float
    ) -> None:
        """Add ``added`` and raise to ``raised`` in ``bucket``, kept until epoch ``until``."""
        ...

    async def read(self, buckets: Sequence[str]) -> dict[str, Values]:
        """Each bucket's values (an empty dict for an unknown bucket)."""
        ...

    async def note_errors(self, errors: Sequence[Mapping[str, Any]]) -> None:
        """Remember recent upstream errors, oldest first (the newest KEPT_ERRORS are kept)."""
        ...

    async def errors(self) -> list[dict[str, Any]]:
        """The remembered upstream errors, newest first."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...


def merged(
    values: Mapping[str, float], added: Mapping[str, float], raised: Mapping[str, float]
) -> Values:
    """``values`` with ``added`` added and ``raised`` taken where larger."""
    result = dict(values)
    for name, amount in added.items():
        result[name] = result.get(name, 0.0) + amount
    for name, value in raised.items():
        result[name] = max(result.get(name, value), value)
    return result


class MemoryHistory:
    """Counts in this process's memory (one process; tests)."""

    def __init__(self, now: Callable[[], float]) -> None:
        self._now = now
        self._buckets: dict[str, tuple[float, Values]] = {}
        self._errors: deque[dict[str, Any]] = deque(maxlen=KEPT_ERRORS)

    async def update(
        self, bucket: str, added: Mapping[str, float], raised: Mapping[str, float], until: float
    ) -> None:
        """Add ``added`` and raise to ``raised`` in ``bucket``, kept until epoch ``until``."""
        now = self._now()
        for name in [name for name, (kept, _) in self._buckets.items() if kept < now]:
            del self._buckets[name]
        kept, values = self._buckets.get(bucket, (until, {}))
        self._buckets[bucket] = (max(kept, until), merged(values, added, raised))

    async def read(self, buckets: Sequence[str]) -> dict[str, Values]:
        """Each bucket's values (an empty dict for an unknown bucket)."""
        return {b: dict(self._buckets.get(b, (0.0, {}))[1]) for b in buckets}

    async def note_errors(self, errors: Sequence[Mapping[str, Any]]) -> None:
        """Remember recent upstream errors."""
        self._errors.extendleft(dict(e) for e in errors)

    async def errors(self) -> list[dict[str, Any]]:
        """The remembered upstream errors, newest first."""
        return list(self._errors)

    async def close(self) -> None:
        """Nothing to release."""


_SCHEMA = """
CREATE TABLE IF NOT EXISTS history (
    bucket TEXT, name TEXT, value REAL, until REAL, PRIMARY KEY (bucket, name));
CREATE TABLE IF NOT EXISTS errors (id INTEGER PRIMARY KEY AUTOINCREMENT, error TEXT);
"""
_ADD = """INSERT INTO history VALUES (?, ?, ?, ?) ON CONFLICT (bucket, name) DO UPDATE
SET value = value + excluded.value, until = MAX(until, excluded.until)"""
_RAISE = """INSERT INTO history VALUES (?, ?, ?, ?) ON CONFLICT (bucket, name) DO UPDATE
SET value = MAX(value, excluded.value), until = MAX(until, excluded.until)"""


class SqliteHistory:
    """Counts in SQLite: a file shared by the processes of one host."""

    def __init__(self, path: Path, now: Callable[[], float]) -> None:
        self._file = SqliteFile(path, _SCHEMA)
        self._now = now

    async def update(
        self, bucket: str, added: Mapping[str, float], raised: Mapping[str, float], until: float
    ) -> None:
        """Add ``added`` and raise to ``raised`` in ``bucket``, kept until epoch ``until``."""
        now = self._now()

        def run() -> None:
            self._file.db.execute("DELETE FROM history WHERE until < ?", (now,))
            self._file.db.executemany(_ADD, [(bucket, n, v, until) for n, v in added.items()])
            self._file.db.executemany(_RAISE, [(bucket, n, v, until) for n, v in raised.items()])

        await self._file.transaction(run)

    async def read(self, buckets: Sequence[str]) -> dict[str, Values]:
        """Each bucket's values (an empty dict for an unknown bucket)."""

        def run() -> dict[str, Values]:
            found: dict[str, Values] = {b: {} for b in buckets}
            marks = ",".join("?" * len(buckets))
            query = f"SELECT bucket, name, value FROM history WHERE bucket IN ({marks})"
            for bucket, name, value in self._file.db.execute(query, list(buckets)):
                found[bucket][name] = value
            return found

        found: dict[str, Values] = await self._file.transaction(run)
        return found

    async def note_errors(self, errors: Sequence[Mapping[str, Any]]) -> None:
        """Remember recent upstream errors (the newest KEPT_ERRORS are kept)."""

        def run() -> None:
            rows = [(json.dumps(e),) for e in errors]
            self._file.db.executemany("INSERT INTO errors (error) VALUES (?)", rows)
            self._file.db.execute(
                "DELETE FROM errors WHERE id <= (SELECT MAX(id) FROM errors) - ?", (KEPT_ERRORS,)
            )

        await self._file.transaction(run)

    async def errors(self) -> list[dict[str, Any]]:
        """The remembered upstream errors, newest first."""

        def run() -> list[dict[str, Any]]:
            rows = self._file.db.execute("SELECT error FROM errors ORDER BY id DESC").fetchall()
            return [json.loads(row[0]) for row in rows]

        found: list[dict[str, Any]] = await self._file.transaction(run)
        return found

    async def close(self) -> None:
        """Close the database."""
        self._file.close()


_UPDATE = """
local n = tonumber(ARGV[1])
for i = 0, n - 1 do
  local name, value = ARGV[3 + 3 * i], tonumber(ARGV[4 + 3 * i])
  if ARGV[2 + 3 * i] == 'add' then
    redis.call('HINCRBYFLOAT', KEYS[1], name, value)
  else
    local old = tonumber(redis.call('HGET', KEYS[1], name) or '-inf')
    if value > old then redis.call('HSET', KEYS[1], name, value) end
  end
end
local ttl = tonumber(ARGV[3 * n + 2])
if redis.call('TTL', KEYS[1]) < ttl then redis.call('EXPIRE', KEYS[1], ttl) end
"""


class RedisHistory:
    """Counts in Redis hashes, shared by every replica; each bucket expires after its time.

    ``client`` is closed by :meth:`close` only when ``owned``.
    """

    def __init__(self, client: Redis, now: Callable[[], float], owned: bool = False) -> None:
        self._client = client
        self._owned = owned
        self._update = client.register_script(_UPDATE)
        self._now = now

    async def update(
        self, bucket: str, added: Mapping[str, float], raised: Mapping[str, float], until: float
    ) -> None:
        """Add ``added`` and raise to ``raised`` in ``bucket``, kept until epoch ``until``."""
        args: list[Any] = [len(added) + len(raised)]
        for mode, values in (("add", added), ("max", raised)):
            for name, value in values.items():
                args += [mode, name, value]
        args.append(max(1, int(until - self._now())))
        await self._update(keys=[REDIS_PREFIX + bucket], args=args)

    async def read(self, buckets: Sequence[str]) -> dict[str, Values]:
        """Each bucket's values (an empty dict for an unknown bucket)."""
        async with self._client.pipeline(transaction=False) as pipe:
            for bucket in buckets:
                pipe.hgetall(REDIS_PREFIX + bucket)
            answers = await pipe.execute()
        return {
            bucket: {_text(k): float(v) for k, v in answer.items()}
            for bucket, answer in zip(buckets, answers, strict=True)
        }

    async def note_errors(self, errors: Sequence[Mapping[str, Any]]) -> None:
        """Remember recent upstream errors (the newest KEPT_ERRORS are kept)."""
        if not errors:
            return
        key = REDIS_PREFIX + "errors"
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.lpush(key, *[json.dumps(e) for e in errors])
            pipe.ltrim(key, 0, KEPT_ERRORS - 1)
            await pipe.execute()

    async def errors(self) -> list[dict[str, Any]]:
        """The remembered upstream errors, newest first."""
        kept = await self._client.lrange(REDIS_PREFIX + "errors", 0, -1)
        return [json.loads(raw) for raw in kept]

    async def close(self) -> None:
        """Close the client if this store opened it."""
        if self._owned:
            await self._client.aclose()


def _text(raw: bytes | str) -> str:
    return raw.decode() if isinstance(raw, bytes) else raw


async def open_history(
    config: Config, now: Callable[[], float], redis: Redis | None = None
) -> History:
    """The history store shared like ``config.quota``'s counts: memory, file or Redis (on
    ``redis``, else a client of its own)."""
    history: History = await open_backend(
        config,
        config.quota.backend,
        redis,
        memory=lambda: MemoryHistory(now),
        file=lambda: SqliteHistory(config.data_path("console.sqlite3"), now),
        shared=lambda client, owned: RedisHistory(client, now, owned=owned),
    )
    return history
