"""A system id the tenant does not have is answered from its systems list, not the upstream."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest

from mappings.systems import listed
from proxy.clock import VirtualClock
from proxy.sandbox import SandboxSettings, sandbox_state
from proxy.simulation import SANDBOX_URL, in_process
from tests import support

JUNE_1 = 1_780_272_000  # 2026-06-01 00:00 UTC
DAY = 86_400
AUTH = "key=demo-v2-key&user_id=demo-user"


async def settle() -> None:
    """Let background cache refreshes finish."""
    while pending := asyncio.all_tasks() - {asyncio.current_task()}:
        await asyncio.gather(*pending, return_exceptions=True)


def poll_wrong_id(data_dir: Path, days: int) -> tuple[int, Counter[int], int]:
    """Poll a foreign system's summary every 5 minutes for ``days`` days, and a real one's once
    an hour: (upstream calls for the foreign id and the list, statuses, real answers)."""
    clock = VirtualClock(JUNE_1)
    config = support.proxy_config(SANDBOX_URL, data_dir)

    async def run() -> tuple[int, Counter[int], int]:
        statuses: Counter[int] = Counter()
        real = 0
        async with in_process(config, SandboxSettings(clock=clock), clock=clock) as stack:
            for tick in range(days * DAY // 300):
                reply = await stack.proxy.get(f"/api/v2/systems/9999/summary?{AUTH}")
                statuses[reply.status_code] += 1
                if tick % 12 == 0:
                    ok = await stack.proxy.get(f"/api/v2/systems/1001/summary?{AUTH}")
                    real += ok.status_code == 200
                await settle()
                clock.advance(300)
            paths = sandbox_state(stack.sandbox).stats.api_calls_by_path
        spent = paths["/api/v4/systems"] + sum(n for p, n in paths.items() if "9999" in p)
        return spent, statuses, real

    return asyncio.run(run())


def test_a_wrong_id_polled_every_5_minutes_costs_at_most_a_call_a_day(tmp_path: Path) -> None:
    # Issue 20: one client polling a wrong id took 312 of a Watt month's 999 calls.
    spent, statuses, real = poll_wrong_id(tmp_path, days=2)
    assert statuses == Counter({401: 2 * 288})
    assert spent <= 3  # one lookup the upstream refuses, then the list once a day
    assert real == 2 * 24  # the tenant's own systems are answered as before


@pytest.mark.slow  # 30 virtual days, 9,360 requests (~8 s)
def test_over_a_month_a_wrong_id_costs_at_most_a_call_a_day(tmp_path: Path) -> None:
    spent, statuses, _ = poll_wrong_id(tmp_path, days=30)
    assert statuses == Counter({401: 30 * 288})
    assert spent <= 31


def test_an_id_refused_then_granted_is_answered_once_the_daily_list_holds_it(
    tmp_path: Path,
) -> None:
    clock = VirtualClock(JUNE_1)
    config = support.proxy_config(SANDBOX_URL, tmp_path)
    url = f"/api/v2/systems/3000/summary?{AUTH}"  # the fleet user's system, not demo's yet

    async def run() -> tuple[list[int], int]:
        async with in_process(config, SandboxSettings(clock=clock), clock=clock) as stack:
            sandbox = sandbox_state(stack.sandbox)
            statuses = [(await stack.proxy.get(url)).status_code]
            demo = sandbox.settings.users[0]
            granted = replace(demo, system_ids=(*demo.system_ids, 3000))
            sandbox.settings.users[0] = granted
            clock.advance(300)
            statuses.append((await stack.proxy.get(url)).status_code)  # the list: not yet
            before = sandbox.stats.api_calls
            clock.advance(DAY)
            statuses.append((await stack.proxy.get(url)).status_code)  # a new day's list
            return statuses, sandbox.stats.api_calls - before

    statuses, calls = asyncio.run(run())
    assert statuses == [401, 401, 200]
    assert calls >= 2  # the list page, then the system itself


def test_listed_reads_pages_by_increasing_id_only_as_far_as_needed() -> None:
    page = {"systems": [{"system_id": i} for i in range(1, 201, 2)], "total": 250}
    assert listed(7, [page]) is True
    assert listed(8, [page]) is False  # between two listed ids
    assert listed(500, [page]) is None  # the next page may hold it
    assert listed(500, [page, {"systems": [{"system_id": 201}], "total": 250}]) is False
