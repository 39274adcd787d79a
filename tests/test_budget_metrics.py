"""/metrics shows each tenant's budget: used, remaining, forecast, paced interval, served age."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from proxy.clock import VirtualClock
from proxy.sandbox import SandboxSettings
from proxy.simulation import SANDBOX_URL, in_process
from tests import support

JUNE_11 = 1_780_272_000 + 10 * 86_400
AUTH = "key=demo-v2-key&user_id=demo-user"
TEAM = {"Authorization": "Bearer demo-team-key"}
SERVED = "enphase_proxy_served_age_seconds"


def value(text: str, name: str, missing: float | None = None) -> float:
    """The value of the sample ``name`` (with its labels) in an exposition, else ``missing``."""
    match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    if match is None and missing is not None:
        return missing
    assert match, name
    return float(match.group(1))


def test_metrics_tell_the_budget_of_each_tenant_and_the_age_of_served_data(
    tmp_path: Path,
) -> None:
    async def scenario() -> str:
        clock = VirtualClock(JUNE_11)
        config = support.proxy_config(SANDBOX_URL, tmp_path, per_month=100, per_minute=10)
        async with in_process(config, SandboxSettings(clock=clock), clock=clock) as stack:
            for _ in range(4):
                reply = await stack.proxy.get(f"/api/v2/systems/1001/summary?{AUTH}")
                assert reply.status_code == 200
                clock.advance(600)
            return (await stack.proxy.get("/metrics", headers=support.SCRAPE)).text

    text = asyncio.run(scenario())
    for period, limit in (("month", 100), ("minute", 10), ("writes", 200)):
        labels = f'{{period="{period}",tenant="demo"}}'
        used = value(text, "enphase_proxy_quota_used" + labels)
        assert used + value(text, "enphase_proxy_quota_remaining" + labels) == limit
    assert value(text, 'enphase_proxy_quota_used{period="month",tenant="demo"}') >= 1
    assert value(text, 'enphase_proxy_paced_interval_seconds{tenant="demo"}') > 600
    assert value(text, 'enphase_proxy_budget_forecast_exhaustion{tenant="demo"}') >= 0
    assert value(text, 'enphase_proxy_served_age_seconds_count{surface="v2"}') >= 4


def test_the_broker_route_feeds_the_served_age_histogram_as_the_v4_surface(
    tmp_path: Path,
) -> None:
    """Team clients' answers count in the served-age histogram too, apart from v2 answers."""

    async def scenario() -> tuple[str, str]:
        clock = VirtualClock(JUNE_11)
        config = support.proxy_config(SANDBOX_URL, tmp_path, per_month=100, per_minute=10)
        async with in_process(config, SandboxSettings(clock=clock), clock=clock) as stack:
            before = (await stack.proxy.get("/metrics", headers=support.SCRAPE)).text
            for _ in range(2):  # a miss, then the same reply 60 s old
                reply = await stack.proxy.get("/api/v4/systems/1001/summary", headers=TEAM)
                assert reply.status_code == 200, reply.text
                clock.advance(60)
            assert reply.headers["Age"] == "60"
            return before, (await stack.proxy.get("/metrics", headers=support.SCRAPE)).text

    before, after = asyncio.run(scenario())

    def grew(sample: str) -> float:
        return value(after, sample, 0.0) - value(before, sample, 0.0)

    assert grew(SERVED + '_count{surface="v4"}') == 2
    assert grew(SERVED + '_sum{surface="v4"}') == 60
    assert grew(SERVED + '_bucket{le="60.0",surface="v4"}') == 2
    assert grew(SERVED + '_bucket{le="0.0",surface="v4"}') == 1
    assert grew(SERVED + '_count{surface="v2"}') == 0
