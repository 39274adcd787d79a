"""A month of legacy polling on a small budget, simulated on a virtual clock in one process."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from proxy.clock import VirtualClock
from proxy.sandbox import SandboxSettings, sandbox_state
from proxy.simulation import SANDBOX_URL, in_process
from tests import support

JUNE_1 = 1_780_272_000  # 2026-06-01 00:00 UTC
DAY = 86_400
AUTH = "key=demo-v2-key&user_id=demo-user"
POLLED = (f"/api/v2/systems/1001/summary?{AUTH}", f"/api/v2/systems/1001/stats?{AUTH}")


async def settle() -> None:
    """Let background cache refreshes finish."""
    while pending := asyncio.all_tasks() - {asyncio.current_task()}:
        await asyncio.gather(*pending, return_exceptions=True)


async def poll(
    data_dir: Path, per_month: int, days: int, every: int, extra: str = ""
) -> dict[str, Any]:
    """Poll ``POLLED`` every ``every`` seconds for ``days`` days from June 1; the figures."""
    clock = VirtualClock(JUNE_1)
    config = support.proxy_config(
        SANDBOX_URL, data_dir, extra, per_month=per_month, per_minute=10, plan="watt"
    )
    answered: set[str] = set()
    refused_after_first = 0
    statuses: Counter[int] = Counter()
    async with in_process(config, SandboxSettings(clock=clock), clock=clock) as stack:
        for _ in range(days * DAY // every):
            for url in POLLED:
                status = (await stack.proxy.get(url)).status_code
                statuses[status] += 1
                refused_after_first += status == 409 and url in answered
                if status == 200:
                    answered.add(url)
            await settle()
            clock.advance(every)
        calls = sandbox_state(stack.sandbox).stats.api_calls
    return {"calls": calls, "refused_after_first": refused_after_first, "statuses": statuses}


@pytest.mark.slow  # a long simulation: 5,760 requests over 30 virtual days (~7 s)
def test_a_steady_poller_on_a_month_budget_of_100_is_never_refused_after_its_first_answer(
    tmp_path: Path,
) -> None:
    # Issue 12: a dashboard on a small plan spent the budget in days, then got 409s for weeks.
    figures = asyncio.run(poll(tmp_path, per_month=100, days=30, every=900))
    assert figures["refused_after_first"] == 0, figures
    assert figures["calls"] <= 100
    assert figures["calls"] >= 60  # the budget is spent on fresher data, not hoarded


def test_without_pacing_the_same_poller_runs_out_and_is_refused(tmp_path: Path) -> None:
    figures = asyncio.run(poll(tmp_path, 100, 3, 900, "pacing = false"))
    assert figures["refused_after_first"] > 0
