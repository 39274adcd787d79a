"""Fair cold misses: each legacy client's own share of the calls that buy past (final) data.

The reserve keeps cold misses answerable late in the month, but one scanner or backfill
asking day after past day would spend it (and then the rest of the month) alone. So each
legacy client (v2 key + user_id: a client in a tenant) may spend on past data, each UTC day,
``share`` of the reserve held now (at least one call), and at most half of each minute's
calls; past that its calls wait within ``max_wait``, else are refused with the time the next
day's (or minute's) share comes. Live keys (today's data, rollovers, new systems) are not
counted: the pacer budgets them.
"""

from __future__ import annotations

import math
from contextvars import ContextVar
from dataclasses import replace

from proxy.quota.windows import Window, window

#: The legacy client (by name) whose v2 request the upstream calls serve ("" otherwise).
LEGACY_CLIENT: ContextVar[str] = ContextVar("quota_legacy_client", default="")


def cold_window(name: str, month: Window, reserve: float, share: float, now: float) -> Window:
    """The UTC day's window of a legacy client's calls on past data, within ``month``."""
    held = month.limit * reserve * (month.end - now) / (month.end - month.start)
    return window(name, "day", max(1, math.floor(share * held)), now)


def cold_minute(name: str, minute: Window) -> Window:
    """The minute window of a legacy client's calls on past data: half the plan's minute, so
    that a backfill at a script's speed leaves the other half to everyone else."""
    return replace(minute, name=f"{name}:minute", limit=max(1, minute.limit // 2))
