"""Pacing state beside the quota counts: which keys clients ask for, and what each key cost.

Stored where the quota counts are (``Quota.backend``), so every worker and replica paces
against the same demand:

- ``memory``: dicts in this process;
- ``file``: tables in the quota SQLite file (every worker on the host);
- ``redis``: a sorted set of asked keys and a sorted set of costs per tenant (every replica).

A key is recorded with its natural freshness period and, for a window that rolls over, the
window's span (see ``proxy.quota.pacing``); in Redis as the member ``"{period} {span} {key}"``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol, cast

from proxy.storage import SqliteFile, tenant_key

if TYPE_CHECKING:
    from redis.asyncio import Redis

REDIS_PREFIX = "enphase-proxy:pacing:"
KEEP = 40 * 86_400  # seconds a cost or demand record outlives its month


class DemandStore(Protocol):
    """Where the keys asked for and the calls spent per key are kept."""

    async def ask(self, tenant: str, key: str, period: int, span: int, at: float) -> None:
        """Note that ``key`` (natural ``period``, rolling ``span``) was asked for at ``at``."""
        ...

    async def demand(self, tenant: str, since: float) -> list[tuple[str, int, int]]:
        """(key, period, span) of the keys asked for since ``since``; older ones are dropped."""
        ...

    async def spend(self, tenant: str, month: int, key: str) -> None:
        """Count one upstream call for ``key`` in the month starting at ``month``."""
        ...

    async def costs(self, tenant: str, month: int, count: int) -> list[tuple[str, int]]:
        """The ``count`` keys that cost most in the month starting at ``month``, with calls."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...


class MemoryDemandStore:
    """Demand and costs in this process's memory."""

    def __init__(self) -> None:
        self._asked: dict[str, dict[str, tuple[float, int, int]]] = {}
        self._costs: dict[tuple[str, int], dict[str, int]] = {}

    async def ask(self, tenant: str, key: str, period: int, span: int, at: float) -> None:
        """Note that ``key`` was asked for at ``at``."""
        self._asked.setdefault(tenant, {})[key] = (at, period, span)

    async def demand(self, tenant: str, since: float) -> list[tuple[str, int, int]]:
        """(key, period, span) of the keys asked for since ``since``; older ones are dropped."""
        asked = self._asked.get(tenant, {})
        for key in [k for k, (at, _, _) in asked.items() if at < since]:
            del asked[key]
        return [(key, period, span) for key, (_, period, span) in asked.items()]

    async def spend(self, tenant: str, month: int, key: str) -> None:
        """Count one call for ``key``."""
        costs = self._costs.setdefault((tenant, month), {})
        costs[key] = costs.get(key, 0) + 1

    async def costs(self, tenant: str, month: int, count: int) -> list[tuple[str, int]]:
        """The costliest keys of the month."""
        costs = self._costs.get((tenant, month), {})
        return sorted(costs.items(), key=lambda item: (-item[1], item[0]))[:count]

    async def close(self) -> None:
        """Nothing to release."""


_SCHEMA = """
CREATE TABLE IF NOT EXISTS demand (
    tenant TEXT, key TEXT, period INTEGER, span INTEGER, asked REAL,
    PRIMARY KEY (tenant, key));
CREATE TABLE IF NOT EXISTS costs (
    tenant TEXT, month INTEGER, key TEXT, calls INTEGER, PRIMARY KEY (tenant, month, key));
"""


class SqliteDemandStore:
    """Demand and costs in the quota SQLite file, shared by the processes of one host."""

    def __init__(self, path: Path) -> None:
        self._file = SqliteFile(path, _SCHEMA)

    async def ask(self, tenant: str, key: str, period: int, span: int, at: float) -> None:
        """Note that ``key`` was asked for at ``at``."""
        await self._file.locked(
            self._file.db.execute,
            "REPLACE INTO demand VALUES (?,?,?,?,?)",
            (tenant, key, period, span, at),
        )

    async def demand(self, tenant: str, since: float) -> list[tuple[str, int, int]]:
        """(key, period, span) of the keys asked for since ``since``; older ones are dropped."""

        def read() -> list[tuple[str, int, int]]:
            self._file.db.execute(
                "DELETE FROM demand WHERE tenant = ? AND asked < ?", (tenant, since)
            )
            rows = self._file.db.execute(
                "SELECT key, period, span FROM demand WHERE tenant = ?", (tenant,)
            )
            return [(key, period, span) for key, period, span in rows]

        result: list[tuple[str, int, int]] = await self._file.locked(read)
        return result

    async def spend(self, tenant: str, month: int, key: str) -> None:
        """Count one call for ``key``."""
        await self._file.locked(
            self._file.db.execute,
            "INSERT INTO costs VALUES (?,?,?,1) ON CONFLICT (tenant, month, key)"
            " DO UPDATE SET calls = calls + 1",
            (tenant, month, key),
        )

    async def costs(self, tenant: str, month: int, count: int) -> list[tuple[str, int]]:
        """The costliest keys of the month."""

        def read() -> list[tuple[str, int]]:
            rows = self._file.db.execute(
                "SELECT key, calls FROM costs WHERE tenant = ? AND month = ?"
                " ORDER BY calls DESC, key LIMIT ?",
                (tenant, month, count),
            )
            return [(key, calls) for key, calls in rows]

        result: list[tuple[str, int]] = await self._file.locked(read)
        return result

    async def close(self) -> None:
        """Close the database."""
        self._file.close()


class RedisDemandStore:
    """Demand and costs in Redis sorted sets, shared by every replica.

    ``client`` is closed by :meth:`close` only when ``owned``.
    """

    def __init__(self, client: Redis, owned: bool = False) -> None:
        self._client = client
        self._owned = owned

    async def ask(self, tenant: str, key: str, period: int, span: int, at: float) -> None:
        """Note that ``key`` was asked for at ``at``."""
        name = _name(tenant, "demand")
        async with self._client.pipeline(transaction=False) as pipe:
            pipe.zadd(name, {f"{period} {span} {key}": at})
            pipe.expire(name, KEEP)
            await pipe.execute()

    async def demand(self, tenant: str, since: float) -> list[tuple[str, int, int]]:
        """(key, period, span) of the keys asked for since ``since``; older ones are dropped."""
        name = _name(tenant, "demand")
        async with self._client.pipeline(transaction=False) as pipe:
            pipe.zremrangebyscore(name, "-inf", f"({since}")
            pipe.zrange(name, 0, -1)
            _, members = await pipe.execute()
        found = [member.decode().split(" ", 2) for member in members]
        return [(key, int(period), int(span)) for period, span, key in found]

    async def spend(self, tenant: str, month: int, key: str) -> None:
        """Count one call for ``key``."""
        name = _name(tenant, f"costs:{month}")
        async with self._client.pipeline(transaction=False) as pipe:
            pipe.zincrby(name, 1, key)
            pipe.expire(name, KEEP)
            await pipe.execute()

    async def costs(self, tenant: str, month: int, count: int) -> list[tuple[str, int]]:
        """The costliest keys of the month."""
        name = _name(tenant, f"costs:{month}")
        # with scores, redis-py answers (member, score) pairs; its annotation is wider
        rows = cast(
            list[tuple[bytes, float]],
            await self._client.zrevrange(name, 0, count - 1, withscores=True),
        )
        return [(key.decode(), int(calls)) for key, calls in rows]

    async def close(self) -> None:
        """Close the client if this store opened it."""
        if self._owned:
            await self._client.aclose()


def _name(tenant: str, what: str) -> str:
    return tenant_key(REDIS_PREFIX, tenant, what)
