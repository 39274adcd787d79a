"""The system lookup a mapping makes for the time zone costs about one call a day per system;
the live fields an answer reads (status, report times) stay as fresh as before."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx2
import pytest

from mappings import (
    energy_lifetime,
    envoys,
    inventory,
    monthly_production,
    production_meter_readings,
    rgm_stats,
    stats,
    summary,
)
from mappings.base import Endpoint
from proxy.cache import Entry, MemoryReplyStore, ReplyCache
from proxy.clock import VirtualClock
from proxy.config import Cache
from proxy.sandbox import SandboxSettings, sandbox_state
from proxy.sandbox.state import SandboxState
from proxy.simulation import SANDBOX_URL, in_process
from tests import support

JUNE_1 = 1_780_272_000  # 2026-06-01 00:00 UTC
DAY = 86_400
HOUR = 3600
AUTH = "key=demo-v2-key&user_id=demo-user"
LOOKUP = "/api/v4/systems/1001"


class Proxy:
    """The in-process proxy and sandbox on one virtual clock."""

    def __init__(self, clock: VirtualClock, client: httpx2.AsyncClient, sandbox: SandboxState):
        self.clock, self.client, self.sandbox = clock, client, sandbox

    async def get(self, path: str, **query: object) -> httpx2.Response:
        """The proxy's answer to the legacy GET ``path`` with ``query``."""
        params = "".join(f"&{name}={value}" for name, value in query.items())
        return await self.client.get(f"{path}?{AUTH}{params}")

    def lookups(self) -> int:
        """Calls the sandbox answered for system 1001's details."""
        return self.sandbox.stats.api_calls_by_path[LOOKUP]

    def set_status(self, status: str) -> None:
        """Give system 1001 another status upstream."""
        systems = self.sandbox.systems
        systems[1001] = dataclasses.replace(systems[1001], status=status)


@asynccontextmanager
async def proxy(data_dir: Path, start: int = JUNE_1, **tenant: Any) -> AsyncIterator[Proxy]:
    """A proxy for the demo tenant (``tenant`` fields overridden) at ``start``."""
    clock = VirtualClock(start)
    config = support.proxy_config(SANDBOX_URL, data_dir, **tenant)
    async with in_process(config, SandboxSettings(clock=clock), clock=clock) as stack:
        yield Proxy(clock, stack.proxy, sandbox_state(stack.sandbox))


def test_a_steady_poller_looks_its_system_up_about_once_a_day(tmp_path: Path) -> None:
    # Measured: the zone lookup was paced as a live key, a third of a Watt month.
    days, every = 2, 7200

    async def scenario() -> tuple[int, int]:
        async with proxy(tmp_path, plan="watt", per_month=1000, per_minute=10) as p:
            for _ in range(days * DAY // every):
                for route in ("summary", "stats"):
                    assert (await p.get(f"/api/v2/systems/1001/{route}")).status_code == 200
                p.clock.advance(every)
            return p.lookups(), p.sandbox.stats.api_calls

    lookups, calls = asyncio.run(scenario())
    assert lookups <= days + 1, (lookups, calls)


def test_inventory_meta_shows_a_status_change_within_the_live_freshness(tmp_path: Path) -> None:
    async def scenario() -> list[str]:
        async with proxy(tmp_path) as p:
            await p.get("/api/v2/systems/1001/stats")  # the zone is cached
            seen = [(await p.get("/api/v2/systems/1001/inventory")).json()["meta"]["status"]]
            p.set_status("comm")
            p.clock.advance(3 * HOUR)  # past the stale-while-revalidate span
            seen.append((await p.get("/api/v2/systems/1001/inventory")).json()["meta"]["status"])
            return seen

    assert asyncio.run(scenario()) == ["normal", "comm"]


def test_stats_too_old_for_v4_takes_meta_from_a_live_lookup(tmp_path: Path) -> None:
    # No telemetry reply carries meta then: v2's meta comes from the system body.
    async def scenario() -> tuple[str, str]:
        async with proxy(tmp_path) as p:
            old = JUNE_1 - 800 * DAY
            before = (await p.get("/api/v2/systems/1001/stats", start_at=old)).json()
            p.set_status("comm")
            p.clock.advance(3 * HOUR)  # past the stale-while-revalidate span
            after = (await p.get("/api/v2/systems/1001/stats", start_at=old)).json()
            return before["meta"]["status"], after["meta"]["status"]

    assert asyncio.run(scenario()) == ("normal", "comm")


def test_a_start_after_the_zone_lookups_last_energy_is_judged_on_a_fresh_lookup(
    tmp_path: Path,
) -> None:
    # The zone lookup is hours old: its last_energy_at is before a start that has data now.
    async def scenario() -> tuple[int, int, dict[str, Any]]:
        async with proxy(tmp_path, start=JUNE_1 + 20 * HOUR) as p:
            await p.get("/api/v2/systems/1001/stats")
            p.clock.advance(3 * HOUR)
            now = int(p.clock.now())
            later = await p.get("/api/v2/systems/1001/stats", start_at=now - 2 * HOUR)
            refused = await p.get("/api/v2/systems/1001/stats", start_at=now - 10)
            return later.status_code, refused.status_code, refused.json()

    later, refused, body = asyncio.run(scenario())
    assert (later, refused) == (200, 422)
    assert body["last_interval"] > body["start_at"] - 3600  # the fresh last_energy_at


def test_the_zone_lookups_age_is_not_the_answers(tmp_path: Path) -> None:
    async def scenario() -> int:
        async with proxy(tmp_path) as p:
            await p.get("/api/v2/systems/1001/stats")
            p.clock.advance(6 * HOUR)
            return int((await p.get("/api/v2/systems/1001/stats")).headers["Age"])

    assert asyncio.run(scenario()) < HOUR


class Fetch:
    """A fetch function answering ``status`` with a one-hour TTL, counting its calls."""

    def __init__(self, clock: VirtualClock, status: int = 200) -> None:
        self.clock, self.status, self.calls = clock, status, 0

    async def __call__(self) -> Entry:
        self.calls += 1
        return Entry(self.status, b"{}", "application/json", self.clock.now(), HOUR)


def test_every_keeps_a_2xx_reply_for_its_period_but_no_error() -> None:
    async def scenario() -> list[tuple[str, int]]:
        clock = VirtualClock(JUNE_1)
        cache = ReplyCache(MemoryReplyStore(100, 1 << 20), Cache(), clock=clock)
        found, missing = Fetch(clock), Fetch(clock, 404)
        seen = []
        for at in (0, 5 * HOUR, DAY + 1):
            clock.set(JUNE_1 + at)
            for key, fetch in (("found", found), ("missing", missing)):
                _, state, _ = await cache.get_or_fetch(key, fetch, every=DAY)
                seen.append((state, fetch.calls))
        await cache.close()
        return seen

    assert asyncio.run(scenario()) == [
        ("MISS", 1),
        ("MISS", 1),
        ("HIT", 1),  # five hours: past its TTL, within the caller's day
        ("MISS", 2),  # a 404 keeps its own TTL
        ("MISS", 2),
        ("MISS", 3),
    ]


NOW = JUNE_1 + 9 * DAY + 20 * HOUR
TIMES = {"last_interval_end_at": NOW, "last_report_at": NOW, "operational_at": JUNE_1}
LIFETIME = {"start_date": "2026-01-01", "production": [1]}


@pytest.mark.parametrize(
    ("endpoint", "query", "carried", "lacking"),
    [
        (stats.ENDPOINT, {}, [{"meta": support.meta()}], []),
        (stats.ENDPOINT, {}, [{"meta": support.meta()}], [{"intervals": []}]),
        (rgm_stats.ENDPOINT, {}, [{}, {"meta": support.meta()}], [{"meta": support.meta()}, {}]),
        (energy_lifetime.ENDPOINT, {}, [{**LIFETIME, "meta": support.meta()}], [LIFETIME]),
        (energy_lifetime.ENDPOINT, {}, [None], [{**LIFETIME, "meta": {"status": "normal"}}]),
        (monthly_production.ENDPOINT, {}, [{"meta": support.meta()}, {}, {}], [{}, {}, {}]),
        (production_meter_readings.ENDPOINT, {}, [{"meta": support.meta()}], [{"x": 1}]),
        (summary.ENDPOINT, {"datetime_format": "iso8601"}, [TIMES], [{"energy_today": 1}]),
        (summary.ENDPOINT, {"summary_date": "2026-06-01"}, [{"meta": support.meta()}], [{}]),
        (envoys.ENDPOINT, {"datetime_format": "iso8601"}, [{}, {}], []),
    ],
)
def test_the_system_body_is_read_live_only_when_no_reply_carries_its_live_fields(
    endpoint: Endpoint, query: dict[str, str], carried: list[Any], lacking: list[Any]
) -> None:
    req, system = support.request(NOW, **query), support.system()
    assert not endpoint.live_system(req, system, carried)
    assert endpoint.live_system(req, system, lacking) is (endpoint is not envoys.ENDPOINT)


def test_inventory_reads_the_system_body_live_whatever_v4_sends() -> None:
    devices: list[Any] = [{"devices": {"gateways": []}}]
    assert inventory.ENDPOINT.live_system(support.request(NOW), support.system(), devices)
