"""Fleet workload: legacy clients polling summary and stats, upstream calls against the minimum.

Run from the checkout: python -m bench.fleet [minutes]
500 legacy clients poll ``summary`` and ``stats`` of 50 fleet systems (client i: system
3000 + i % 50) every 60 s for 30 simulated minutes. Sandbox and proxy run in this process
(ASGI transports) on one simulated clock. The minimum possible is one upstream call per
cache key each time the freshness (``proxy.cache.freshness.ttl``) of its last fetch has run out.
Prints one line per figure.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

from bench.support import machine
from proxy.cache import freshness
from proxy.clock import Clock, VirtualClock
from proxy.config import Cache
from proxy.sandbox import DEMO, SandboxSettings, sandbox_state
from proxy.sandbox.demo import proxy_config
from proxy.simulation import SANDBOX_URL, in_process
from proxy.upstream import Call, Taps

START = 1_781_542_800  # 2026-06-15 17:00 UTC: daytime in the Americas; no fleet zone hits midnight
CLIENTS = 500
SYSTEMS = 50
MINUTES = 30
POLL = 60
BATCH = 100  # legacy requests in flight at once
ROUTES = ("summary", "stats")
FLEET_USER = "fleet-user"

Demands = defaultdict[tuple[str, tuple[tuple[str, str], ...]], list[float]]


def recording(demands: Demands, clock: Clock) -> Taps:
    """Taps noting in ``demands`` when each v4 GET is asked for, whether cached or not."""

    def asked(call: Call) -> None:
        demands[(call.path, tuple(call.params))].append(clock.now())

    return Taps(asked=asked)


def minimum_calls(demands: Demands, settings: Cache) -> Counter[str]:
    """Per endpoint, the fetches a perfect cache needs: one per key per freshness window."""
    needed: Counter[str] = Counter()
    for (path, params), moments in demands.items():
        fresh_until = float("-inf")
        for moment in sorted(moments):
            if moment >= fresh_until:
                needed[freshness.endpoint_name(path)] += 1
                fresh_until = moment + freshness.ttl(path, params, moment, 200, settings)
    return needed


async def settle() -> None:
    """Wait for every other task (background cache refreshes) to finish."""
    while pending := asyncio.all_tasks() - {asyncio.current_task()}:
        await asyncio.gather(*pending)


def by_endpoint(calls_by_path: Counter[str]) -> Counter[str]:
    """Sandbox call counts by v4 path, summed per endpoint name."""
    counts: Counter[str] = Counter()
    for path, count in calls_by_path.items():
        counts[freshness.endpoint_name(path.removeprefix("/api/v4"))] += count
    return counts


def breakdown(counts: Counter[str]) -> str:
    """``total (name n, ...)``."""
    parts = ", ".join(f"{name} {n}" for name, n in counts.most_common())
    return f"{counts.total()} ({parts})"


async def replay(minutes: int) -> None:
    """Run the workload and print its figures."""
    clock = VirtualClock(START)
    with tempfile.TemporaryDirectory(prefix="enphase-fleet-") as work:
        config = proxy_config(
            SANDBOX_URL,
            Path(work),
            user_ids=[FLEET_USER],
            username=DEMO.fleet_username,
            password=DEMO.fleet_password,
        )
        sandbox = SandboxSettings(clock=clock)
        demands: Demands = defaultdict(list)
        async with in_process(config, sandbox, clock, recording(demands, clock)) as stack:
            auth = f"key=demo-v2-key&user_id={FLEET_USER}"
            urls = [
                f"/api/v2/systems/{3000 + client % SYSTEMS}/{route}?{auth}"
                for client in range(CLIENTS)
                for route in ROUTES
            ]
            stats = sandbox_state(stack.sandbox).stats
            statuses: Counter[int] = Counter()
            per_minute = []
            started = time.perf_counter()
            for _ in range(minutes):
                before = stats.api_calls
                for at in range(0, len(urls), BATCH):
                    batch = urls[at : at + BATCH]
                    replies = await asyncio.gather(*(stack.proxy.get(url) for url in batch))
                    statuses.update(reply.status_code for reply in replies)
                await settle()
                per_minute.append(stats.api_calls - before)
                clock.advance(POLL)
            elapsed = time.perf_counter() - started
            services = stack.services
            minimum = minimum_calls(demands, config.cache)
            calls = by_endpoint(stats.api_calls_by_path)
            cache = services.cache.stats()
            limit = config.tenants["demo"].limits.per_minute
    print(f"workload: {CLIENTS} clients x {'+'.join(ROUTES)}, {SYSTEMS} systems, every {POLL} s")
    print(f"simulated minutes: {minutes}")
    print(f"legacy requests: {statuses.total()}")
    print(f"legacy responses by status: {dict(sorted(statuses.items()))}")
    print(f"distinct upstream keys: {len(demands)}")
    print(f"upstream calls: {breakdown(calls)}")
    print(f"minimum possible: {breakdown(minimum)}")
    print(f"ratio upstream/minimum: {calls.total() / minimum.total():.2f}")
    print(f"upstream 429s: {stats.rate_limited}")
    print(f"peak upstream calls in one simulated minute: {max(per_minute)} (tenant limit {limit})")
    print(f"upstream calls per simulated minute: {per_minute}")
    print(f"cache: {cache['hits']} hits, {cache['misses']} misses, {cache['stale']} stale")
    print(f"wall time: {elapsed:.1f} s ({statuses.total() / elapsed:.0f} legacy requests/s)")


def main() -> None:
    """Measure and print."""
    minutes = int(sys.argv[1]) if len(sys.argv) > 1 else MINUTES
    print(f"machine: {machine()}")
    asyncio.run(replay(minutes))


if __name__ == "__main__":
    main()
