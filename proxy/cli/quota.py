"""``enphase-proxy quota``: each tenant's month budget, as the pacer sees it; clearing a block."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
from collections.abc import Sequence
from typing import Any

from proxy.cli.loading import DEFAULT_CONFIG, load_or_exit
from proxy.config import Config, Tenant
from proxy.quota import BudgetSnapshot, Window, describe, open_governor, open_pacer


def register(sub: Any) -> None:
    """Add the ``quota`` subcommand to ``sub`` (argparse subparsers)."""

    quota = sub.add_parser(
        "quota", help="each tenant's budget: used, forecast, paced interval, upstream 429 block"
    )
    quota.add_argument("--config", default=DEFAULT_CONFIG, help="TOML configuration file")
    quota.add_argument(
        "--clear-block",
        metavar="TENANT",
        help="forget the upstream 429 block (minute or month) of TENANT's v4 app",
    )
    quota.set_defaults(func=cmd_quota)


def cmd_quota(args: argparse.Namespace) -> int:
    """Print every tenant's budget snapshot."""

    config = load_or_exit(args.config)
    if config.quota.backend == "memory":
        print("quota backend 'memory': counts live in each worker's memory, none to read here")
    if args.clear_block is not None:
        tenant = config.tenants.get(args.clear_block)
        if tenant is None:
            print(f"no tenant named {args.clear_block!r}", file=sys.stderr)
            return 2
        cleared = [f"cleared {describe(b)}" for b in asyncio.run(clear(config, tenant))]
        for line in cleared or ["no upstream 429 block to clear"]:
            print(f"tenant {tenant.name} (v4 app {tenant.client_id}): {line}")
        return 0
    for snapshot, blocks in asyncio.run(snapshots(config)):
        print(render(snapshot, blocks))
    return 0


async def snapshots(config: Config) -> list[tuple[BudgetSnapshot, list[Window]]]:
    """The budget snapshot and upstream 429 blocks of every tenant, from the shared store."""
    governor = await open_governor(config)
    pacer = await open_pacer(config, governor)
    try:
        return [
            (await pacer.snapshot(tenant), await governor.blocks(tenant))
            for tenant in config.tenants.values()
        ]
    finally:
        await pacer.close()
        await governor.close()


async def clear(config: Config, tenant: Tenant) -> list[Window]:
    """Forget the blocks of ``tenant``'s app; the blocks that were in force."""
    governor = await open_governor(config)
    try:
        blocks = await governor.blocks(tenant)
        await governor.clear_blocks(tenant)
        return blocks
    finally:
        await governor.close()


def render(s: BudgetSnapshot, blocks: Sequence[Window] = ()) -> str:
    """The snapshot (and the app's upstream 429 ``blocks``) as a few lines of text."""
    lines = [
        f"tenant {s.tenant} ({s.plan}): {s.used} of {s.limit} calls used this month"
        f" ({_day(s.period_start)} to {_day(s.period_end)}), {s.remaining} remaining,"
        f" {s.reserve} held for cold misses",
        f"  v4 app {s.app}: "
        + ("its own" if len(s.app_tenants) < 2 else "budget shared by " + ", ".join(s.app_tenants)),
        f"  calls per day: {s.calls_per_day:.1f}; forecast exhaustion: "
        + ("not this month" if s.forecast is None else _when(s.forecast)),
        f"  paced refresh interval: {_interval(s.interval)} ({s.keys_in_demand} keys in demand)",
        "  costliest keys this month:" if s.top_keys else "  no upstream calls this month",
    ]
    lines += [f"  {calls:>8}  {key}" for key, calls in s.top_keys]
    lines += [
        f"  blocked: {describe(b)} (enphase-proxy quota --clear-block {s.tenant})" for b in blocks
    ]
    return "\n".join(lines)


def _interval(seconds: float | None) -> str:
    if seconds is None:
        return "none affordable until next month (stale replies are served)"
    if seconds == 0:
        return "natural freshness (the budget is not binding)"
    hours, rest = divmod(int(seconds), 3600)
    return f"{hours}h {rest // 60:02d}m {rest % 60:02d}s"


def _day(epoch: int) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).date().isoformat()


def _when(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
