"""Budgets against the v4 plan: minute, month and write counts, and month pacing.

``governor`` counts and refuses (per v4 ``apps``, over ``windows``, with upstream 429
``blocks`` and each legacy client's ``cold`` share); ``pacing`` is the pure arithmetic of a
month's budget; ``pacer`` decides whether a stale reply may be refreshed now; ``demand``
records what clients ask; ``changes`` applies, per key, ``daylight`` (production by day, from
``sun`` and the windows ``sightings`` learns) and ``uploads`` (after the next predicted upload).
Below ``upstream`` (whose Govern and Caching layers use it), above ``storage`` and
``observability``.

Public API: ``QuotaGovernor`` / ``open_governor`` (counting, ``QuotaExhausted`` when spent),
``team_spender`` and ``spending_as`` (a team client's share), ``PERIODS`` and
``call_windows`` (a tenant's minute and month windows at a moment), ``LEGACY_CLIENT`` (the legacy
client whose cold share a call spends), ``Window`` and ``period_bounds``, ``describe`` (a
month block in words), ``PROBE_AFTER``; ``Pacer`` / ``open_pacer`` and its ``BudgetSnapshot``.
"""

from proxy.quota.blocks import PROBE_AFTER, describe
from proxy.quota.cold import LEGACY_CLIENT
from proxy.quota.governor import (
    PERIODS,
    QuotaExhausted,
    QuotaGovernor,
    call_windows,
    open_governor,
    spending_as,
    team_spender,
)
from proxy.quota.pacer import BudgetSnapshot, Pacer, open_pacer
from proxy.quota.windows import Window, period_bounds

__all__ = [
    "LEGACY_CLIENT",
    "PERIODS",
    "PROBE_AFTER",
    "BudgetSnapshot",
    "Pacer",
    "QuotaExhausted",
    "QuotaGovernor",
    "Window",
    "call_windows",
    "describe",
    "open_governor",
    "open_pacer",
    "period_bounds",
    "spending_as",
    "team_spender",
]
