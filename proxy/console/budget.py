"""A tenant's month budget as the console shows it: the pacer's snapshot and calls per day.

``snapshot`` is the one place that reads the budget figures (the pacer's snapshot, which
``/metrics`` publishes too); the history adds how the month count grew day by day.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from proxy.config import Tenant
from proxy.quota import BudgetSnapshot, Pacer


@dataclass(frozen=True)
class Budget:
    """The month budget of one tenant."""

    tenant: str
    plan: str
    app: str  # the v4 app's client id; its budget is shared by ``app_tenants``
    app_tenants: tuple[str, ...]
    limit: int
    used: int
    remaining: int
    month_start: int
    month_end: int
    per_day: tuple[int, ...]  # calls on each day of the month so far, today last
    exhausts_at: float | None  # when the budget runs out at this month's rate, if this month
    paced_interval: float | None  # refresh interval of live keys (0: natural; None: none left)


def day_name(epoch: float) -> str:
    """The history bucket of the UTC day containing ``epoch``."""
    return "d:" + dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%d")


def month_days(month_start: int, now: float) -> list[str]:
    """The history buckets of the days from ``month_start`` to today."""
    return [day_name(t) for t in range(month_start, int(now) + 1, 86400)]


def per_day(used_by_day: list[float | None], used_now: int) -> tuple[int, ...]:
    """Calls per day from the month count seen at each day's end (None: not seen), today last."""
    totals: list[float] = []
    for seen in [*used_by_day[:-1], used_now]:
        totals.append(max(seen or 0.0, totals[-1] if totals else 0.0))
    return tuple(int(total - before) for total, before in zip(totals, [0.0, *totals], strict=False))


def budget(snap: BudgetSnapshot, seen: Mapping[str, Mapping[str, float]], now: float) -> Budget:
    """The console's Budget from the pacer's snapshot and the month counts ``seen`` per day."""
    days = month_days(snap.period_start, now)
    used_by_day = [seen.get(day, {}).get(f"used:{snap.tenant}") for day in days]
    return Budget(
        snap.tenant,
        snap.plan,
        snap.app,
        snap.app_tenants,
        snap.limit,
        snap.used,
        snap.remaining,
        snap.period_start,
        snap.period_end,
        per_day(used_by_day, snap.used),
        snap.forecast,
        snap.interval,
    )


async def snapshot(pacer: Pacer, tenant: Tenant) -> BudgetSnapshot:
    """The tenant's budget figures (the pacer's snapshot; it also sets their gauges)."""
    return await pacer.snapshot(tenant)
