"""Budget pacing: how often a tenant can afford to refresh each live key for the rest of the month.

Pure arithmetic, no I/O. The month budget is split three ways:

- the **reserve**: ``reserve_share`` of the month limit, released linearly as the month runs
  out, kept for cold misses (a key with nothing cached) so new systems and new date ranges
  stay answerable late in the month;
- **paced refreshes** of the live keys clients are asking for: what is left after the reserve,
  spread evenly over the time left in the month;
- cold misses may spend anything up to the limit.

The refresh interval ``T`` solves ``sum(1 / max(period_k, T)) = budget / time_left`` over the
keys in demand (``period_k`` is a key's natural freshness): keys whose natural period is
already longer than ``T`` refresh at their own pace and leave the rest for the others. A key
is refreshed when its cached reply is older than both its natural freshness and ``T``.

A live key whose window rolls over (today's telemetry: a new window every local day) also
costs one cold miss per ``span``; that is set aside before the refreshes are paced.
A key refreshed by ``T`` only part of the day (``Paced.share``: production-only data, by
daylight) counts for that share, and its ``fixed`` night refreshes are set aside likewise.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

NEVER = math.inf


@dataclass(frozen=True)
class MonthBudget:
    """A tenant's month window: its limit, the calls counted so far and its bounds (epochs)."""

    limit: int
    used: int
    start: float
    end: float

    @property
    def remaining(self) -> int:
        """Calls left this month."""
        return max(0, self.limit - self.used)


def reserve(budget: MonthBudget, share: float, now: float) -> int:
    """Calls held back for cold misses: ``share`` of the limit, shrinking to 0 at month end
    (never more than the calls remaining)."""
    length = budget.end - budget.start
    left = min(length, max(0.0, budget.end - now))
    held = math.ceil(budget.limit * share * left / length) if length > 0 else 0
    return min(held, budget.remaining)


def refresh_budget(budget: MonthBudget, share: float, now: float) -> int:
    """Calls the paced refreshes may still spend this month (the remaining less the reserve)."""
    return max(0, budget.remaining - reserve(budget, share, now))


class Paced(NamedTuple):
    """A live key as the pacer weighs it: its natural ``period`` and rolling ``span`` (s), the
    ``share`` of the day it is refreshed by the paced interval and the ``fixed`` calls per
    second it costs besides (production-only data: a share of the day, two refreshes a night).
    """

    period: float
    span: float
    share: float = 1.0
    fixed: float = 0.0


def refresh_interval(
    budget: MonthBudget,
    share: float,
    now: float,
    keys: Iterable[tuple[float, float] | Paced],
) -> float:
    """Seconds between refreshes of each key in demand (0: no pacing needed, NEVER: none left).

    ``keys`` holds ``(period, span)`` of every live key clients ask for: its natural freshness
    period and, for a window that rolls over, the window's length (0: it does not roll), or a
    ``Paced`` key refreshed only part of the day. With no key in demand, 0 while any refresh is
    affordable: the next key asked is the only one.
    """
    paced = [Paced(*key) for key in keys]
    ordered = sorted(((max(1.0, k.period), k.share) for k in paced), reverse=True)
    left = max(1.0, budget.end - now)
    fixed = sum(1 / k.span for k in paced if k.span > 0) + sum(k.fixed for k in paced)
    rate = refresh_budget(budget, share, now) / left - fixed
    if rate <= 0:
        return NEVER
    natural_rate = 0.0  # calls per second of the keys whose own period is longer than T
    weight = sum(shared for _, shared in ordered)  # of the keys refreshed every T
    for period, shared in ordered:
        interval = weight / (rate - natural_rate)
        if period <= interval:
            return interval
        natural_rate += shared / period
        weight -= shared
    return 0.0


def due(age: float, period: float, interval: float) -> bool:
    """Whether a reply ``age`` seconds old may be refreshed (older than its period and ``T``)."""
    return age >= max(period, interval)


def minimum_interval(budget: int, keys: int, length: float) -> float:
    """The budget-implied minimum refresh interval: ``length * keys / budget`` (NEVER if 0)."""
    return length * keys / budget if budget > 0 else NEVER


def forecast(budget: MonthBudget, now: float) -> float | None:
    """When the month budget runs out at the rate spent so far (None: not this month)."""
    elapsed = now - budget.start
    if budget.used <= 0 or elapsed <= 0:
        return None
    if budget.remaining == 0:
        return now
    at = now + budget.remaining * elapsed / budget.used
    return at if at < budget.end else None
