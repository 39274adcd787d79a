"""Nothing is spent on a request that will fail: parameters are checked before any upstream call."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from proxy.clock import VirtualClock
from proxy.sandbox import SandboxSettings, sandbox_state
from proxy.simulation import SANDBOX_URL, in_process
from tests import support

NOW = 1_780_272_000 + 9 * 86_400 + 20 * 3600  # 2026-06-10 20:00 UTC
AUTH = "key=demo-v2-key&user_id=demo-user"


async def ask(data_dir: Path, path: str) -> tuple[int, int]:
    """(status, upstream calls) of one legacy request to a fresh proxy."""
    clock = VirtualClock(NOW)
    config = support.proxy_config(SANDBOX_URL, data_dir)
    async with in_process(config, SandboxSettings(clock=clock), clock=clock) as stack:
        reply = await stack.proxy.get(f"{path}&{AUTH}")
        return reply.status_code, sandbox_state(stack.sandbox).stats.api_calls


@pytest.mark.parametrize(
    "path",
    [
        f"/api/v2/systems/1001/stats?start_at={NOW - 3600}&end_at={NOW - 7200}",
        f"/api/v2/systems/1001/stats?start_at={NOW + 86_400}",
        "/api/v2/systems/1001/stats?start_at=yesterday",
        f"/api/v2/systems/1002/consumption_stats?start_at={NOW - 60}&end_at={NOW - 9000}",
        f"/api/v2/systems/1002/rgm_stats?start_at={NOW + 7 * 86_400}",
        "/api/v2/systems/1001/summary?summary_date=2026-06-20",
        "/api/v2/systems/1001/energy_lifetime?start_date=2026-06-20",
        "/api/v2/systems/1002/consumption_lifetime?start_date=2026-06-11&end_date=2026-06-12",
    ],
)
def test_a_bad_parameter_is_answered_without_any_upstream_call(tmp_path: Path, path: str) -> None:
    status, calls = asyncio.run(ask(tmp_path, path))
    assert status == 422
    assert calls == 0
