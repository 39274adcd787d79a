"""A tenant's month budget as the console shows it: spent, per day, forecast and pacing.

``month_used`` is the one place that reads the quota governor; when the governor offers its
own per-tenant budget snapshot, only that function changes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from proxy.config import Tenant
from proxy.quota import QuotaGovernor, period_bounds

MIN_ELAPSED = 3600.0  # a forecast from less than an hour of the month would be noise


@dataclass(frozen=True)
class Budget:
    """The month budget of one tenant at ``now``."""

    tenant: str
    plan: str
    limit: int
    used: int
    month_start: int
    month_end: int
    per_day: tuple[int, ...]  # calls on each day of the month so far, today last
    forecast: float  # calls by the month's end at the month's rate so far
    exhausts_at: float | None  # when the budget runs out at that rate, if before month end
    paced_interval: float | None  # seconds between calls that spend the rest evenly

    @property
    def remaining(self) -> int:
        """Calls left this month."""
        return max(0, self.limit - self.used)


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


def forecast(
    used: int, limit: int, start: int, end: int, now: float
) -> tuple[float, float | None, float | None]:
    """(calls by month end, exhaustion time if before month end, even pace for the rest)."""
    rate = used / max(now - start, MIN_ELAPSED)
    total = used + rate * (end - now)
    left = limit - used
    exhausts = None
    if left <= 0:
        exhausts = now
    elif rate > 0 and now + left / rate < end:
        exhausts = now + left / rate
    paced = (end - now) / left if left > 0 else None
    return total, exhausts, paced


def budget(
    tenant: Tenant, used: int, seen: Mapping[str, Mapping[str, float]], now: float
) -> Budget:
    """The tenant's Budget from its month count and the month counts ``seen`` per day bucket."""
    start, end = period_bounds("month", now)
    days = month_days(start, now)
    used_by_day = [seen.get(day, {}).get(f"used:{tenant.name}") for day in days]
    limit = tenant.limits.per_month
    total, exhausts, paced = forecast(used, limit, start, end, now)
    return Budget(
        tenant.name,
        tenant.plan,
        limit,
        used,
        start,
        end,
        per_day(used_by_day, used),
        total,
        exhausts,
        paced,
    )


async def month_used(governor: QuotaGovernor, tenant: Tenant, now: float) -> int:
    """The calls the quota store counted for the tenant this month (the adapter)."""
    left = await governor.remaining(tenant, now=lambda: now)
    return tenant.limits.per_month - left["month"]
