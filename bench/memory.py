"""Resident memory of the reply cache holding 10,000 entries of realistic v4 bodies.

Run from the checkout: python -m bench.memory
The keys: 2,500 each of summary, devices, production_micro (one day) and consumption_meter (one
week), for fleet systems 3000-3299 across 25 tenants; bodies come from an in-process sandbox.
Each measurement runs in a fresh child process (python -m bench.memory MODE) so that memory one
leaves behind does not count in the next: the real ReplyCache on the memory backend filled
directly (default bounds, then max_bytes raised so every entry stays), and the proxy's /api/v4
route filling it.
RSS is VmRSS from /proc/self/status. Prints one line per figure.
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

from bench.support import ROOT, machine
from proxy.cache import Entry, cache_key, freshness
from proxy.clock import SYSTEM
from proxy.config import Cache, Client, Config
from proxy.sandbox import DEMO, App, SandboxSettings
from proxy.sandbox.demo import proxy_config
from proxy.simulation import SANDBOX_URL, InProcess, in_process

KEYS_PER_KIND = 2500
DAY = 86_400
MIB = 1024 * 1024
TEAM_KEY = "bench-team-key"
BIG = 10**9  # plan limits this benchmark never reaches
SANDBOX = SandboxSettings(
    apps=[App(DEMO.client_id, DEMO.client_secret, DEMO.api_key, "Bench", BIG, BIG)]
)

Call = tuple[str, tuple[tuple[str, str], ...]]
Key = tuple[str, str, tuple[tuple[str, str], ...]]


@dataclass(frozen=True)
class Mode:
    """One measurement: how the cache is filled and its byte bound."""

    label: str
    max_bytes: int
    through_proxy: bool


MODES = {
    "store": Mode("reply cache, default bounds", Cache.max_bytes, False),
    "store-1gib": Mode("reply cache, max_bytes 1 GiB", 1024 * MIB, False),
    "proxy": Mode("proxy /api/v4 route, default bounds", Cache.max_bytes, True),
}


def sample_calls(now: float) -> dict[str, list[Call]]:
    """Per kind, one finished-window v4 GET per fleet system (consumption: metered ones)."""
    yesterday = int(now) // DAY * DAY - DAY
    day = (("start_at", str(yesterday)), ("granularity", "day"))
    week = (("start_at", str(yesterday - 7 * DAY)), ("granularity", "week"))
    systems = DEMO.fleet_system_ids
    metered = [s for s in systems if (s - systems[0] + 1) % 3 == 0]
    return {
        "summary": [(f"/systems/{s}/summary", ()) for s in systems],
        "devices": [(f"/systems/{s}/devices", ()) for s in systems],
        "production_micro": [(f"/systems/{s}/telemetry/production_micro", day) for s in systems],
        "consumption_meter": [(f"/systems/{s}/telemetry/consumption_meter", week) for s in metered],
    }


def tenant_name(index: int) -> str:
    """The name of tenant ``index``."""
    return f"tenant-{index:02d}"


@dataclass(frozen=True)
class Workload:
    """The sample v4 GETs per kind and the distinct cache keys built from them."""

    samples: dict[str, list[Call]]
    keys: list[Key]

    @property
    def tenants(self) -> int:
        """How many tenants the keys span."""
        return len({tenant for tenant, _, _ in self.keys})


def workload(now: float) -> Workload:
    """KEYS_PER_KIND distinct (tenant, path, params) per kind, the kinds interleaved."""
    samples = sample_calls(now)
    keys = [
        (tenant_name(j // len(calls)), *calls[j % len(calls)])
        for j in range(KEYS_PER_KIND)
        for calls in samples.values()
    ]
    return Workload(samples, keys)


def bench_config(work: Path, tenants: int, max_bytes: int) -> Config:
    """The sandbox fleet user as ``tenants`` tenants, all open to one team client."""
    config = proxy_config(
        SANDBOX_URL,
        work,
        username=DEMO.fleet_username,
        password=DEMO.fleet_password,
        per_minute=BIG,
        per_month=BIG,
    )
    base = config.tenants["demo"]
    names = [tenant_name(i) for i in range(tenants)]
    digest = hashlib.sha256(TEAM_KEY.encode()).digest()
    return replace(
        config,
        tenants={name: replace(base, name=name, user_ids=()) for name in names},
        team_clients=(Client("bench", digest, tuple(names)),),
        cache=replace(config.cache, backend="memory", max_bytes=max_bytes),
    )


@asynccontextmanager
async def bench_stack(tenants: int, max_bytes: int) -> AsyncIterator[InProcess]:
    """Sandbox and proxy in this process for ``bench_config``, with a temporary data dir."""
    with tempfile.TemporaryDirectory(prefix="enphase-memory-") as work:
        async with in_process(bench_config(Path(work), tenants, max_bytes), SANDBOX) as stack:
            yield stack


async def fetch_samples(stack: InProcess, calls: Sequence[Call]) -> dict[Call, bytes]:
    """Each call's v4 body, fetched once from the sandbox (the cache is left empty)."""
    tenant = next(iter(stack.services.broker.config.tenants.values()))
    bodies = {}
    for path, params in calls:
        reply = await stack.services.upstream.get(tenant, path, params)
        assert reply.status == 200, reply.raw
        bodies[(path, params)] = reply.raw
    await stack.services.cache.purge()
    return bodies


async def ready(entry: Entry) -> Entry:
    """``entry``, as a cache fetch function answers it."""
    return entry


async def fill_directly(stack: InProcess, wanted: list[Key], bodies: dict[Call, bytes]) -> None:
    """Store every key through ReplyCache.get_or_fetch, each with its own copy of its body."""
    cache = stack.services.cache
    for tenant, path, params in wanted:
        now = SYSTEM.now()
        ttl = freshness.ttl(path, params, now, 200, cache.settings)
        body = bytes(memoryview(bodies[(path, params)]))
        entry = Entry(200, body, "application/json", now, ttl)
        await cache.get_or_fetch(cache_key(tenant, path, params), partial(ready, entry))


async def fill_through_proxy(stack: InProcess, wanted: list[Key]) -> None:
    """GET every key as a team client through the proxy's /api/v4 route; each must miss."""
    for tenant, path, params in wanted:
        headers = {"Authorization": f"Bearer {TEAM_KEY}", "X-Proxy-Tenant": tenant}
        response = await stack.proxy.get("/api/v4" + path, params=params, headers=headers)
        assert response.status_code == 200, response.text
        assert response.headers["X-Cache"] == "MISS", response.headers


def rss() -> int:
    """This process's resident set size in bytes (after a full collection)."""
    gc.collect()
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmRSS:"))
    return int(line.split()[1]) * 1024


async def measure(mode: Mode) -> None:
    """Fill a fresh cache as ``mode`` says and print its figures."""
    work = workload(SYSTEM.now())
    async with bench_stack(work.tenants, mode.max_bytes) as stack:
        bodies = await fetch_samples(stack, [c for calls in work.samples.values() for c in calls])
        before = rss()
        started = time.perf_counter()
        if mode.through_proxy:
            await fill_through_proxy(stack, work.keys)
        else:
            await fill_directly(stack, work.keys, bodies)
        elapsed = time.perf_counter() - started
        after = rss()
        held = stack.services.cache.stats()
    entries, accounted = held["entries"] or 0, held["bytes"] or 0
    growth = after - before
    print(f"{mode.label}: keys inserted {len(work.keys)} in {elapsed:.1f} s")
    print(f"{mode.label}: entries held {entries}")
    print(f"{mode.label}: accounted bytes {accounted / MIB:.1f} MiB")
    print(f"{mode.label}: RSS before {before / MIB:.1f} MiB, after {after / MIB:.1f} MiB")
    print(f"{mode.label}: RSS growth {growth / MIB:.1f} MiB")
    print(f"{mode.label}: RSS growth per entry held {growth / max(entries, 1) / 1024:.1f} KiB")
    print(f"{mode.label}: RSS growth / accounted bytes {growth / max(accounted, 1):.2f}")


async def describe() -> None:
    """Print the workload: keys, tenants and body sizes per kind."""
    work = workload(SYSTEM.now())
    print(f"keys: {len(work.keys)} distinct over {work.tenants} tenants")
    async with bench_stack(1, Cache.max_bytes) as stack:
        for kind, calls in work.samples.items():
            sizes = [len(body) for body in (await fetch_samples(stack, calls)).values()]
            mean, most = sum(sizes) / len(sizes) / 1024, max(sizes) / 1024
            print(f"body size {kind}: mean {mean:.1f} KiB, max {most:.1f} KiB")


def main() -> None:
    """Measure one mode (given), or every mode in its own child process."""
    if len(sys.argv) > 1:
        asyncio.run(measure(MODES[sys.argv[1]]))
        return
    print(f"machine: {machine()}")
    asyncio.run(describe())
    print(f"cache bounds by default: {Cache.max_entries} entries, {Cache.max_bytes / MIB:.0f} MiB")
    sys.stdout.flush()
    for name in MODES:
        subprocess.run([sys.executable, "-m", "bench.memory", name], cwd=ROOT, check=True)


if __name__ == "__main__":
    main()
