"""Upstream call budgets: minute and month per v4 app (shared by its tenants), per team client
within a tenant, and writes per tenant.

The governor does the window arithmetic and decides whether to wait or refuse; a store only
counts, atomically, across every process that shares it:

- ``memory``: SQLite in memory (one process; tests);
- ``file``: SQLite at ``Config.data_path(quota.path)`` in WAL mode with ``BEGIN IMMEDIATE``
  transactions (every gunicorn worker on the host; survives restarts);
- ``redis``: one Lua script per call (every replica).

An upstream 429 blocks its window until the ``period_end`` it names, clamped to the period; a
month 429 only provisionally until a probe confirms it (``proxy.quota.blocks``).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from proxy.clock import SYSTEM, Clock
from proxy.config import Client, Config, Limits, Tenant
from proxy.observability import metrics
from proxy.quota.apps import AppBudget, alone, apps_by_tenant
from proxy.quota.blocks import month_block, provisional
from proxy.quota.cold import cold_minute, cold_window
from proxy.quota.windows import Window, latest_end, window
from proxy.storage import SqliteFile, open_backend, tenant_key

if TYPE_CHECKING:
    from redis.asyncio import Redis

PERIODS = ("minute", "month")
MINUTE_RESERVE = 0.2  # of each minute's calls refreshes leave to cold misses
PUBLISH_EVERY = 1.0  # seconds between quota gauge updates on the call path
REDIS_PREFIX = "enphase-proxy:quota:"
log = logging.getLogger("proxy.quota")
_T = TypeVar("_T")


def call_windows(tenant: Tenant, now: float) -> tuple[Window, Window]:
    """The month and minute windows an upstream call of ``tenant`` counts in (month first)."""
    return (
        window("month", "month", tenant.limits.per_month, now),
        window("minute", "minute", tenant.limits.per_minute, now),
    )


@dataclass(frozen=True)
class Spender:
    """A team client spending from a tenant's budget within its own limits."""

    name: str
    limits: Limits


#: The team client on whose behalf upstream calls are made now (None: a legacy request).
SPENDER: ContextVar[Spender | None] = ContextVar("quota_spender", default=None)


def team_spender(client: Client, tenant: Tenant, share: float) -> Spender:
    """``client``'s limits in ``tenant``: as configured, else ``share`` of the tenant's."""
    per_minute = client.per_minute or max(1, int(tenant.limits.per_minute * share))
    per_month = client.per_month or max(1, int(tenant.limits.per_month * share))
    return Spender(client.name, Limits(per_minute, per_month))


@contextmanager
def spending_as(spender: Spender) -> Iterator[None]:
    """Count the upstream calls made inside the block against ``spender`` too."""
    token = SPENDER.set(spender)
    try:
        yield
    finally:
        SPENDER.reset(token)


def refresh_minute(minute: Window) -> Window:
    """The minute window as a refresh sees it: its last ``MINUTE_RESERVE`` kept for cold misses,
    which a client gets a 409 for when refused, where a refused refresh only serves a reply
    a little older (and is made in a later minute)."""
    kept = math.ceil(minute.limit * MINUTE_RESERVE)
    return replace(minute, limit=max(1, minute.limit - kept))


def spender_windows(spender: Spender | None, now: float, prefix: str = "") -> tuple[Window, ...]:
    """The month and minute windows of a team client's own budget (none for legacy calls);
    ``prefix`` tells apart the tenants whose calls are counted under one app's name."""
    if spender is None:
        return ()
    name = f"team:{prefix}{spender.name}"
    return (
        window(f"{name}:month", "month", spender.limits.per_month, now),
        window(f"{name}:minute", "minute", spender.limits.per_minute, now),
    )


def write_window(tenant: Tenant, now: float) -> Window:
    """The monthly window of ``tenant``'s PUT/POST/DELETE budget."""
    return window("writes", "month", tenant.writes_per_month, now)


def refusal(
    windows: Sequence[Window], used: Sequence[int], blocks: Sequence[Window | None], now: int
) -> Window | None:
    """The first window that is blocked until after ``now`` or full; None when all have room."""
    for win, count, block in zip(windows, used, blocks, strict=True):
        if block is not None and block.end > now:
            return block
        if count >= win.limit:
            return win
    return None


def _named(refused: Window, windows: Sequence[Window]) -> Window:
    """The window a refusal names: the configured one, whatever blocked it (an upstream 429
    names its own limit and bounds); a minute keeps the block's end, when calls resume."""
    own = next(w for w in windows if w.name == refused.name)
    return own if refused.period == "month" else replace(refused, limit=own.limit)


class QuotaExhausted(Exception):
    """The tenant's budget for ``period`` is spent until ``period_end``."""

    def __init__(
        self,
        tenant: str,
        plan: str,
        period: str,
        period_start: int,
        period_end: int,
        limit: int,
        resume_at: int | None = None,
    ) -> None:
        super().__init__(f"{tenant} ({plan}): {period} limit of {limit} reached until {period_end}")
        self.tenant = tenant
        self.plan = plan
        self.period = period
        self.period_start = period_start
        self.period_end = period_end
        self.limit = limit
        # when calls may resume: the period's end, or sooner (a provisional block's probe)
        self.resume_at = period_end if resume_at is None else resume_at

    @classmethod
    def of(cls, tenant: Tenant, win: Window, resume_at: int | None = None) -> QuotaExhausted:
        """The exhaustion of ``tenant``'s window ``win``, until ``resume_at`` (its end)."""
        return cls(tenant.name, tenant.plan, win.period, win.start, win.end, win.limit, resume_at)


class WriteBudgetExhausted(QuotaExhausted):
    """The tenant's monthly PUT/POST/DELETE budget is spent."""


class QuotaStore(Protocol):
    """Counts calls per tenant and window, atomically across the processes sharing it."""

    async def take(self, tenant: str, windows: Sequence[Window], now: int) -> Window | None:
        """Count one call in every window, or none and return the window that refuses it."""
        ...

    async def state(
        self, tenant: str, windows: Sequence[Window]
    ) -> tuple[list[int], list[Window | None]]:
        """The calls counted in each window, and each window's block from a 429."""
        ...

    async def block(self, tenant: str, win: Window, now: int) -> None:
        """Refuse window ``win.name`` until ``win.end``."""
        ...

    async def unblock(self, tenant: str, name: str) -> None:
        """Forget window ``name``'s block."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...


_SCHEMA = """
CREATE TABLE IF NOT EXISTS counts (
    tenant TEXT, name TEXT, start INTEGER, used INTEGER, PRIMARY KEY (tenant, name));
CREATE TABLE IF NOT EXISTS blocks (
    tenant TEXT, name TEXT, period TEXT, period_start INTEGER, period_end INTEGER,
    period_limit INTEGER, PRIMARY KEY (tenant, name));
"""
_ADD = """
INSERT INTO counts VALUES (?, ?, ?, 1) ON CONFLICT (tenant, name) DO UPDATE
SET used = CASE WHEN start = excluded.start THEN used + 1 ELSE 1 END, start = excluded.start
"""


class MemoryQuotaStore:
    """Counts in this process's memory: each window's start and calls, and the 429 blocks."""

    def __init__(self) -> None:
        self._used: dict[tuple[str, str], tuple[int, int]] = {}
        self._blocks: dict[tuple[str, str], Window] = {}

    async def take(self, tenant: str, windows: Sequence[Window], now: int) -> Window | None:
        """Count one call in every window, or none and return the window that refuses it."""
        used, blocks = self._state(tenant, windows)
        refused = refusal(windows, used, blocks, now)
        if refused is None:
            for win, count in zip(windows, used, strict=True):
                self._used[tenant, win.name] = (win.start, count + 1)
        return refused

    async def state(
        self, tenant: str, windows: Sequence[Window]
    ) -> tuple[list[int], list[Window | None]]:
        """The calls counted in each window, and each window's block from a 429."""
        return self._state(tenant, windows)

    async def block(self, tenant: str, win: Window, now: int) -> None:
        """Refuse window ``win.name`` until ``win.end``."""
        self._blocks[tenant, win.name] = win

    async def unblock(self, tenant: str, name: str) -> None:
        """Forget window ``name``'s block."""
        self._blocks.pop((tenant, name), None)

    async def close(self) -> None:
        """Nothing to release."""

    def _state(
        self, tenant: str, windows: Sequence[Window]
    ) -> tuple[list[int], list[Window | None]]:
        used = []
        for win in windows:
            start, count = self._used.get((tenant, win.name), (win.start, 0))
            used.append(count if start == win.start else 0)
        return used, [self._blocks.get((tenant, win.name)) for win in windows]


class SqliteQuotaStore:
    """Counts in SQLite: a file shared by the processes of one host."""

    def __init__(self, path: Path) -> None:
        self._file = SqliteFile(path, _SCHEMA)
        self._file.db.execute("PRAGMA synchronous=NORMAL")  # durable across process crashes

    async def take(self, tenant: str, windows: Sequence[Window], now: int) -> Window | None:
        """Count one call in every window, or none and return the window that refuses it."""
        return await self._file.transaction(self._take, tenant, windows, now)

    async def state(
        self, tenant: str, windows: Sequence[Window]
    ) -> tuple[list[int], list[Window | None]]:
        """The calls counted in each window, and each window's block from a 429."""
        return await self._file.transaction(self._state, tenant, windows)

    async def block(self, tenant: str, win: Window, now: int) -> None:
        """Refuse window ``win.name`` until ``win.end``."""
        row = (tenant, win.name, win.period, win.start, win.end, win.limit)
        await self._file.transaction(
            self._file.db.execute, "REPLACE INTO blocks VALUES (?,?,?,?,?,?)", row
        )

    async def unblock(self, tenant: str, name: str) -> None:
        """Forget window ``name``'s block."""
        await self._file.transaction(
            self._file.db.execute,
            "DELETE FROM blocks WHERE tenant = ? AND name = ?",
            (tenant, name),
        )

    async def close(self) -> None:
        """Close the database."""
        self._file.close()

    def _take(self, tenant: str, windows: Sequence[Window], now: int) -> Window | None:
        refused = refusal(windows, *self._state(tenant, windows), now)
        if refused is None:
            self._file.db.executemany(_ADD, [(tenant, w.name, w.start) for w in windows])
        return refused

    def _state(
        self, tenant: str, windows: Sequence[Window]
    ) -> tuple[list[int], list[Window | None]]:
        used, blocks = [], []
        for win in windows:
            count = self._file.db.execute(
                "SELECT used FROM counts WHERE tenant = ? AND name = ? AND start = ?",
                (tenant, win.name, win.start),
            ).fetchone()
            block = self._file.db.execute(
                "SELECT period, period_start, period_end, period_limit FROM blocks"
                " WHERE tenant = ? AND name = ?",
                (tenant, win.name),
            ).fetchone()
            used.append(count[0] if count else 0)
            blocks.append(Window(win.name, *block) if block else None)
        return used, blocks


_TAKE = """
local now = tonumber(ARGV[1])
local n = #KEYS / 2
for i = 1, n do
  local block = redis.call('GET', KEYS[2 * i])
  if block and tonumber(string.match(block, '^%S+ %S+ (%S+)')) > now then return {i, block} end
  if tonumber(redis.call('GET', KEYS[2 * i - 1]) or '0') >= tonumber(ARGV[2 * i]) then
    return {i, false}
  end
end
for i = 1, n do
  redis.call('INCR', KEYS[2 * i - 1])
  redis.call('EXPIRE', KEYS[2 * i - 1], ARGV[2 * i + 1])
end
return {0, false}
"""


class RedisQuotaStore:
    """Counts in Redis, shared by every replica; keys expire a minute after their window.

    ``client`` is closed by :meth:`close` only when ``owned``.
    """

    def __init__(self, client: Redis, owned: bool = False) -> None:
        self._client = client
        self._owned = owned
        self._take = client.register_script(_TAKE)

    async def take(self, tenant: str, windows: Sequence[Window], now: int) -> Window | None:
        """Count one call in every window, or none and return the window that refuses it."""
        keys = [k for w in windows for k in (_count_key(tenant, w), _block_key(tenant, w.name))]
        args: list[int] = [now]
        for win in windows:
            args += [win.limit, win.end - now + 60]
        index, block = await self._take(keys=keys, args=args)
        if index == 0:
            return None
        refused = windows[index - 1]
        return _parse_block(refused.name, block) if block else refused

    async def state(
        self, tenant: str, windows: Sequence[Window]
    ) -> tuple[list[int], list[Window | None]]:
        """The calls counted in each window, and each window's block from a 429."""
        counts = await self._client.mget([_count_key(tenant, w) for w in windows])
        blocks = await self._client.mget([_block_key(tenant, w.name) for w in windows])
        return (
            [int(c or 0) for c in counts],
            [_parse_block(w.name, b) if b else None for w, b in zip(windows, blocks, strict=True)],
        )

    async def block(self, tenant: str, win: Window, now: int) -> None:
        """Refuse window ``win.name`` until ``win.end``."""
        value = f"{win.period} {win.start} {win.end} {win.limit}"
        await self._client.set(_block_key(tenant, win.name), value, ex=max(1, win.end - now + 60))

    async def unblock(self, tenant: str, name: str) -> None:
        """Forget window ``name``'s block."""
        await self._client.delete(_block_key(tenant, name))

    async def close(self) -> None:
        """Close the client if this store opened it."""
        if self._owned:
            await self._client.aclose()


def _count_key(tenant: str, win: Window) -> str:
    return tenant_key(REDIS_PREFIX, tenant, win.name, str(win.start))


def _block_key(tenant: str, name: str) -> str:
    return tenant_key(REDIS_PREFIX, tenant, name, "block")


def _parse_block(name: str, raw: bytes | str) -> Window:
    text = raw.decode() if isinstance(raw, bytes) else raw
    period, start, end, limit = text.split()
    return Window(name, period, int(start), int(end), int(limit))


class QuotaGovernor:
    """Spends tenants' upstream calls within their plan limits, waiting briefly when allowed.

    Tenants of one v4 app (``apps``, by tenant name) spend from the app's minute and month
    budget; a tenant not in ``apps`` has its app to itself.
    """

    def __init__(
        self,
        store: QuotaStore,
        max_wait: float,
        *,
        sleep: Callable[[float], Awaitable[Any]] | None = None,
        clock: Clock = SYSTEM,
        apps: Mapping[str, AppBudget] | None = None,
        reserve: float = 0.0,
        cold_share: float = 0.0,
    ) -> None:
        self.max_wait = max_wait
        self.clock = clock
        self.apps = dict(apps or {})
        self.reserve = reserve
        self.cold_share = cold_share  # 0: a legacy client's calls on past data are not capped
        self._published: dict[str, float] = {}
        self._store = store
        self._sleep = sleep or clock.sleep

    async def acquire(
        self,
        tenant: Tenant,
        *,
        now: Callable[[], float] | None = None,
        cold: str = "",
        refresh: bool = False,
    ) -> None:
        """Spend one upstream call; wait for the next minute (or, for ``cold``, the next day of
        the legacy client's share of past data) if within max_wait, else raise.

        A team client's call (``spending_as``) spends from its own budget as well; a call on
        past data for legacy client ``cold``, from its share (``proxy.quota.cold``); a
        ``refresh`` of a cached reply leaves the minute's last calls to cold misses.
        """
        waited = 0.0
        while True:
            moment = (now or self.clock.now)()
            counter = self.app(tenant).counter
            prefix = "" if counter == tenant.name else f"{tenant.name}:"
            month, minute = call_windows(tenant, moment)
            windows: tuple[Window, ...] = (month, refresh_minute(minute) if refresh else minute)
            windows += spender_windows(SPENDER.get(), moment, prefix)
            share = None
            if cold and self.cold_share:
                share = cold_window(
                    f"cold:{prefix}{cold}", month, self.reserve, self.cold_share, moment
                )
                windows += (share, cold_minute(share.name, minute))
            refused = await self._store.take(counter, windows, int(moment))
            if refused is None:
                if moment - self._published.get(tenant.name, 0.0) >= PUBLISH_EVERY:
                    self._published[tenant.name] = moment
                    await self.remaining(tenant, now=now)
                return
            waits = refused.period == "minute" or (share is not None and refused == share)
            delay = refused.end - moment
            if not waits or waited + delay > self.max_wait:
                named = _named(refused, (month, minute, *windows[2:]))
                raise QuotaExhausted.of(tenant, named, refused.end)
            await self._sleep(delay)
            waited += delay

    async def acquire_write(
        self, tenant: Tenant, *, now: Callable[[], float] | None = None
    ) -> None:
        """Spend one of the tenant's monthly PUT/POST/DELETE calls, or raise WriteBudgetExhausted.

        It does not count as an upstream call: ``acquire`` that too.
        """
        moment = (now or self.clock.now)()
        refused = await self._store.take(tenant.name, [write_window(tenant, moment)], int(moment))
        if refused is not None:
            raise WriteBudgetExhausted.of(tenant, refused)
        await self.remaining(tenant, now=now)

    def app(self, tenant: Tenant) -> AppBudget:
        """The v4 app whose budget ``tenant`` spends."""
        return self.apps.get(tenant.name) or alone(tenant)

    async def observe_429(
        self, tenant: Tenant, body: dict[str, Any], *, now: Callable[[], float] | None = None
    ) -> Window | None:
        """Block the window an upstream 429 body names: a minute until its ``period_end`` (within
        reason), a month provisionally until a probe confirms it (see ``proxy.quota.blocks``); the
        window as blocked (None: a month already blocked, by a call sent before it)."""
        moment = (now or self.clock.now)()
        period = str(body["period"]) if body.get("period") in PERIODS else "minute"
        current = next(w for w in call_windows(tenant, moment) if w.period == period)
        named = _int(body.get("limit"), current.limit)
        if named != current.limit:
            log.warning(
                "upstream 429 names a limit the configured plan contradicts: the plan's is kept",
                extra={
                    "tenant": tenant.name,
                    "app": tenant.client_id,
                    "period": period,
                    "upstream_limit": named,
                    "plan_limit": current.limit,
                },
            )
        period_end = _int(body.get("period_end"), current.end)
        counter = self.app(tenant).counter
        blocked: Window | None
        if period == "month":
            previous = (await self._store.state(counter, [current]))[1][0]
            blocked = month_block(current, previous, period_end, moment)
            if blocked is not None:
                confirmed = not provisional(blocked)
                log.warning(
                    "upstream refused the month: " + ("confirmed" if confirmed else "provisional"),
                    extra={"tenant": tenant.name, "app": tenant.client_id, "until": blocked.end},
                )
        else:
            end = latest_end(period, period_end, moment)
            start = min(_int(body.get("period_start"), current.start), end)
            blocked = Window(current.name, period, start, end, current.limit)
        if blocked is not None and blocked.end > moment:
            await self._store.block(counter, blocked, int(moment))
            await self.remaining(tenant, now=now)
        return blocked

    async def blocks(
        self, tenant: Tenant, *, now: Callable[[], float] | None = None
    ) -> list[Window]:
        """The blocks from upstream 429s on ``tenant``'s app's minute and month now in force."""
        moment = (now or self.clock.now)()
        _, blocks = await self._store.state(self.app(tenant).counter, call_windows(tenant, moment))
        return [b for b in blocks if b is not None and b.end > moment]

    async def clear_blocks(self, tenant: Tenant) -> None:
        """Forget the blocks of ``tenant``'s app (the operator knows the upstream erred)."""
        for name in ("minute", "month"):
            await self._store.unblock(self.app(tenant).counter, name)
        await self.remaining(tenant)

    async def remaining(
        self, tenant: Tenant, *, now: Callable[[], float] | None = None
    ) -> dict[str, int]:
        """Calls left per window (minute, month, writes); published as QUOTA_REMAINING, and the
        rest of each window's limit as QUOTA_USED."""
        moment = (now or self.clock.now)()
        calls = call_windows(tenant, moment)
        used, blocks = await self._store.state(self.app(tenant).counter, calls)
        writes = write_window(tenant, moment)
        written, write_blocks = await self._store.state(tenant.name, [writes])
        windows, used, blocks = [*calls, writes], used + written, blocks + write_blocks
        left = {}
        for win, count, block in zip(windows, used, blocks, strict=True):
            blocked = block is not None and block.end > moment
            left[win.name] = 0 if blocked else max(0, win.limit - count)
            metrics.QUOTA_REMAINING.labels(tenant.name, win.name).set(left[win.name])
            metrics.QUOTA_USED.labels(tenant.name, win.name).set(win.limit - left[win.name])
        metrics.TENANT_APP.labels(tenant.name, tenant.client_id).set(1)
        return left

    async def close(self) -> None:
        """Release the store."""
        await self._store.close()


def _int(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


async def open_governor(
    config: Config,
    *,
    sleep: Callable[[float], Awaitable[Any]] | None = None,
    redis: Redis | None = None,
    clock: Clock = SYSTEM,
) -> QuotaGovernor:
    """The governor ``config.quota`` describes, on its memory, file or Redis store (on
    ``redis``, else a client of its own)."""
    settings = config.quota
    store: QuotaStore = await open_backend(
        config,
        settings.backend,
        redis,
        memory=MemoryQuotaStore,
        file=lambda: SqliteQuotaStore(config.data_path(settings.path)),
        shared=RedisQuotaStore,
    )
    apps = apps_by_tenant(config.tenants.values())
    return QuotaGovernor(
        store,
        settings.max_wait,
        sleep=sleep,
        clock=clock,
        apps=apps,
        reserve=settings.reserve,
        cold_share=settings.cold_share if settings.pacing else 0.0,
    )
