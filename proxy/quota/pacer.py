"""The pacer: decides whether a stale cached reply may be refreshed now, per tenant budget.

It reads the month's count from the quota governor and the keys in demand from the demand
store (both shared by every worker and replica), applies ``proxy.quota.pacing`` and remembers the
interval for ``REPACE`` seconds. ``snapshot`` is the one place the budget figures come from
(``/metrics``, ``enphase-proxy quota``, the console).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cachetools import TTLCache

from proxy.clock import SYSTEM, Clock
from proxy.config import Config, Quota, Tenant
from proxy.observability import metrics
from proxy.quota import changes, pacing
from proxy.quota.demand import DemandStore, MemoryDemandStore, RedisDemandStore, SqliteDemandStore
from proxy.quota.governor import QuotaGovernor, call_windows
from proxy.quota.pacing import MonthBudget, Paced
from proxy.quota.sightings import Sightings
from proxy.storage import open_backend

if TYPE_CHECKING:
    from redis.asyncio import Redis

REPACE = 60.0  # seconds a computed interval is reused before the shared state is read again
TOP_KEYS = 10
MAX_NOTED = 16_384  # keys a worker remembers noting; one forgotten is only noted again
NOTE_EVERY = 8  # times per demand window a worker notes a key it keeps being asked for
DAY = 86_400


@dataclass(frozen=True)
class BudgetSnapshot:
    """A tenant's month budget as an operator reads it (epochs and seconds; None: not known).

    ``interval`` is the paced refresh interval of each live key (0: natural freshness;
    None: no refresh affordable until next month); ``forecast`` when the budget runs out at
    the current rate (None: not this month).
    """

    tenant: str
    plan: str
    app: str  # the v4 app's client id: its month budget is shared by ``app_tenants``
    app_tenants: tuple[str, ...]
    period_start: int
    period_end: int
    limit: int
    used: int
    remaining: int
    reserve: int
    forecast: float | None
    interval: float | None
    keys_in_demand: int
    calls_per_day: float
    top_keys: tuple[tuple[str, int], ...]


class Pacer:
    """Paces each tenant's refreshes of live keys so the month budget lasts the month."""

    def __init__(
        self,
        governor: QuotaGovernor,
        store: DemandStore,
        settings: Quota,
        clock: Clock = SYSTEM,
        max_noted: int = MAX_NOTED,
    ) -> None:
        self.governor = governor
        self.settings = settings
        self._store = store
        self._clock = clock
        self._intervals: dict[str, tuple[float, float]] = {}  # tenant: (computed at, interval)
        self.sightings = Sightings()  # what served replies told of each system (this process)
        # (tenant, key) this worker noted in the shared demand lately: bounded by count and age
        self.noted: TTLCache[tuple[str, str], bool] = TTLCache(
            max_noted, settings.demand_window / NOTE_EVERY, timer=clock.monotonic
        )

    async def allows_refresh(
        self, tenant: Tenant, key: str, period: int, span: int, age: float
    ) -> bool:
        """Whether a cached reply of ``key``, ``age`` seconds old, may be refreshed now.

        Notes the key as in demand with its natural ``period`` and rolling ``span``.
        """
        if not self.settings.pacing:
            return True
        now = self._clock.now()
        await self._ask(tenant.name, key, period, span, now)
        interval = await self.interval(tenant)
        return changes.due(
            self.sightings, tenant.name, key, age, period, interval, now, tenant.daylight
        )

    async def spent(self, tenant: Tenant, key: str) -> None:
        """Count one upstream call for ``key`` in this month's costs."""
        month = call_windows(tenant, self._clock.now())[0]
        await self._store.spend(tenant.name, month.start, key)

    async def interval(self, tenant: Tenant) -> float:
        """The paced refresh interval of ``tenant``'s live keys (recomputed every REPACE s)."""
        now = self._clock.now()
        app = self.governor.app(tenant).counter  # the app's budget is paced over all its keys
        computed = self._intervals.get(app)
        if computed is not None and now - computed[0] < REPACE:
            return computed[1]
        budget = await self.budget(tenant)
        keys = await self._demand(tenant, now)
        interval = pacing.refresh_interval(budget, self.settings.reserve, now, keys)
        self._intervals[app] = (now, interval)
        metrics.PACED_INTERVAL.labels(tenant.name).set(-1 if math.isinf(interval) else interval)
        return interval

    async def budget(self, tenant: Tenant) -> MonthBudget:
        """The tenant's month limit, calls counted and bounds."""
        now = self._clock.now()
        month = call_windows(tenant, now)[0]
        left = (await self.governor.remaining(tenant, now=self._clock.now))["month"]
        return MonthBudget(month.limit, month.limit - left, month.start, month.end)

    async def snapshot(self, tenant: Tenant) -> BudgetSnapshot:
        """Used, remaining, reserve, forecast, paced interval and costliest keys of ``tenant``."""
        now = self._clock.now()
        budget = await self.budget(tenant)
        app = self.governor.app(tenant)
        self._intervals.pop(app.counter, None)
        interval = await self.interval(tenant)
        keys = await self._demand(tenant, now)
        top = await self._store.costs(tenant.name, int(budget.start), TOP_KEYS)
        forecast = pacing.forecast(budget, now)
        metrics.BUDGET_FORECAST.labels(tenant.name).set(forecast or 0)
        days = max(now - budget.start, 1.0) / DAY
        return BudgetSnapshot(
            tenant=tenant.name,
            plan=tenant.plan,
            app=app.client_id,
            app_tenants=app.tenants,
            period_start=int(budget.start),
            period_end=int(budget.end),
            limit=budget.limit,
            used=budget.used,
            remaining=budget.remaining,
            reserve=pacing.reserve(budget, self.settings.reserve, now),
            forecast=forecast,
            interval=None if math.isinf(interval) else interval,
            keys_in_demand=len(keys),
            calls_per_day=budget.used / days,
            top_keys=tuple(top),
        )

    async def close(self) -> None:
        """Release the demand store."""
        await self._store.close()

    async def _demand(self, tenant: Tenant, now: float) -> list[Paced]:
        """The keys in demand of every tenant spending from ``tenant``'s app, as the pacer counts
        them (by each system's daylight and uploads; ``tenant``'s opt-out holds for its app)."""
        since = now - self.settings.demand_window
        keys = []
        for name in self.governor.app(tenant).tenants:
            asked = await self._store.demand(name, since)
            keys += changes.weigh(self.sightings, name, asked, now, tenant.daylight)
        return keys

    async def _ask(self, tenant: str, key: str, period: int, span: int, now: float) -> None:
        """Note ``key`` in the shared demand, at most a few times per demand window."""
        if (tenant, key) in self.noted:
            return
        self.noted[tenant, key] = True
        await self._store.ask(tenant, key, period, span, now)


async def open_pacer(
    config: Config, governor: QuotaGovernor, clock: Clock = SYSTEM, redis: Redis | None = None
) -> Pacer:
    """The pacer on the demand store beside ``config.quota``'s counts (on ``redis``, else a
    Redis client of its own)."""
    settings = config.quota
    store: DemandStore = await open_backend(
        config,
        settings.backend,
        redis,
        memory=MemoryDemandStore,
        file=lambda: SqliteDemandStore(config.data_path(settings.path)),
        shared=RedisDemandStore,
    )
    return Pacer(governor, store, settings, clock)
