"""The console's JSON state: tokens, budgets, traffic, clients and upstream errors."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from proxy.config import Config
from proxy.console import budget
from proxy.console.history import History, Values
from proxy.console.recorder import hour_name
from proxy.quota import Pacer, describe, period_bounds
from proxy.tokens import KEEP_ALIVE_AGE, TokenBroker, token_health

HOURS = 24


def traffic(hours: list[int], seen: dict[str, Values]) -> list[dict[str, int]]:
    """Upstream calls, cache hits and stale answers in each hour starting at ``hours``."""
    rows = []
    for start in hours:
        values = seen.get(hour_name(start), {})
        row = {"start": start}
        row.update({name: int(values.get(name, 0)) for name in ("upstream", "hit", "stale")})
        rows.append(row)
    return rows


def clients(config: Config, today: Values, seen: Values) -> list[dict[str, Any]]:
    """Per legacy and team client: requests today, share of upstream calls, last seen, errors."""
    total_upstream = today.get("upstream", 0.0)
    rows = []
    kinds = [("legacy", c) for c in config.legacy_clients]
    for kind, client in [*kinds, *[("team", c) for c in config.team_clients]]:
        requests = today.get(f"requests:{client.name}", 0.0)
        caused = today.get(f"upstream:{client.name}", 0.0)
        errors = today.get(f"errors:{client.name}", 0.0)
        last = seen.get(f"seen:{client.name}")
        rows.append(
            {
                "name": client.name,
                "kind": kind,
                "tenants": list(client.tenants),
                "requests_today": int(requests),
                "upstream_today": int(caused),
                "upstream_share": caused / total_upstream if total_upstream else 0.0,
                "error_rate": errors / requests if requests else 0.0,
                "last_seen": int(last) if last is not None else None,
            }
        )
    return rows


async def state(
    config: Config, broker: TokenBroker, pacer: Pacer, history: History, now: float
) -> dict[str, Any]:
    """Everything the console page shows, as JSON-ready data."""
    month_start, _ = period_bounds("month", now)
    days = budget.month_days(month_start, now)
    this_hour = int(now) - int(now) % 3600
    hours = [this_hour - 3600 * back for back in range(HOURS - 1, -1, -1)]
    seen = await history.read([*days, *[hour_name(h) for h in hours], "seen"])
    tokens = {h.tenant: h for h in await token_health(broker)}
    tenants = []
    for tenant in config.tenants.values():
        month = budget.budget(await budget.snapshot(pacer, tenant), seen, now)
        blocks = await pacer.governor.blocks(tenant, now=lambda: now)
        tenants.append(
            {
                "name": tenant.name,
                "plan": tenant.plan,
                "token": asdict(tokens[tenant.name]),
                "budget": asdict(month),
                "blocks": [{"until": b.end, "text": describe(b)} for b in blocks],
            }
        )
    return {
        "now": int(now),
        "keep_alive_age": KEEP_ALIVE_AGE,
        "tenants": tenants,
        "traffic": traffic(hours, seen),
        "clients": clients(config, seen[budget.day_name(now)], seen["seen"]),
        "errors": await history.errors(),
    }
