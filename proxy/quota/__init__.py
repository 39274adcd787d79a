"""Budgets against the v4 plan: minute, month and write counts, and month pacing.

Below ``upstream`` (whose Govern and Caching layers use it), above ``storage`` and
``observability``. ``governor`` counts and refuses; ``pacing`` is the pure arithmetic of a
month's budget; ``pacer`` decides whether a stale reply may be refreshed now; ``demand`` records
what clients ask.

Public API: ``QuotaGovernor`` / ``open_governor`` (counting, ``QuotaExhausted`` when spent),
``team_spender`` and ``spending_as`` (a team client's share), ``period_bounds``; ``Pacer`` /
``open_pacer`` and its ``BudgetSnapshot``.
"""

from proxy.quota.governor import (
    QuotaExhausted,
    QuotaGovernor,
    open_governor,
    period_bounds,
    spending_as,
    team_spender,
)
from proxy.quota.pacer import BudgetSnapshot, Pacer, open_pacer

__all__ = [
    "BudgetSnapshot",
    "Pacer",
    "QuotaExhausted",
    "QuotaGovernor",
    "open_governor",
    "open_pacer",
    "period_bounds",
    "spending_as",
    "team_spender",
]
