"""Tenants on one v4 app share its minute and month budget, as Enphase counts them."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from proxy.cli.main import main
from proxy.clock import VirtualClock
from proxy.config import ConfigError, load, parse
from proxy.quota.governor import open_governor
from proxy.sandbox import SandboxSettings, sandbox_state
from proxy.sandbox.demo import with_fleet_tenant
from proxy.simulation import SANDBOX_URL, in_process
from tests import support

JUNE_1 = 1_780_272_000  # 2026-06-01 00:00 UTC
DAY = 86_400
DEMO = "key=demo-v2-key&user_id=demo-user"
FLEET = "key=demo-v2-key&user_id=fleet-user"


def two_tenants(data_dir: Path, extra: str = "max_wait = 0.0\n", **app: Any) -> str:
    """Tenants ``demo`` and ``fleet`` on the sandbox's Watt app (10 a minute, 1,000 a month)."""
    return with_fleet_tenant(
        support.config_text(SANDBOX_URL, data_dir, extra, **support.WATT_APP, **app)
    )


async def settle() -> None:
    """Let background cache refreshes finish."""
    while pending := asyncio.all_tasks() - {asyncio.current_task()}:
        await asyncio.gather(*pending, return_exceptions=True)


def test_two_tenants_of_one_app_declaring_different_plans_are_refused() -> None:
    text = two_tenants(Path("var")).replace('plan = "watt"', 'plan = "kilowatt"', 1)
    with pytest.raises(ConfigError) as caught:
        parse(text, "proxy.toml")
    [problem] = caught.value.problems
    assert "tenants[1].plan: app 'sandbox-watt-client' is kilowatt" in problem
    assert "but watt" in problem


def test_one_api_key_on_two_client_ids_is_refused() -> None:
    text = two_tenants(Path("var")).replace(
        'client_id = "sandbox-watt-client"', 'client_id = "other"', 1
    )
    with pytest.raises(ConfigError, match=r"tenants\[1\]\.client_id: shares its api_key"):
        parse(text, "proxy.toml")


def test_in_one_minute_two_tenants_of_one_app_spend_its_10_calls_together(
    tmp_path: Path,
) -> None:
    # Issue 20: the proxy counted 4 + 7 calls (each under 10) and the upstream refused the 11th.
    clock = VirtualClock(JUNE_1 + 5)
    config = parse(two_tenants(tmp_path), str(tmp_path / "proxy.toml"))

    async def burst() -> tuple[int, int, list[int], str]:
        async with in_process(config, SandboxSettings(clock=clock), clock=clock) as stack:
            urls = [f"/api/v2/systems/{i}/summary?{DEMO}" for i in (1001, 1002, 1003, 1004)]
            urls += [f"/api/v2/systems/{i}/summary?{FLEET}" for i in range(3000, 3007)]
            statuses = [(await stack.proxy.get(url)).status_code for url in urls]
            stats = sandbox_state(stack.sandbox).stats
            metrics = (await stack.proxy.get("/metrics", headers=support.SCRAPE)).text
            return stats.api_calls, stats.rate_limited, statuses, metrics

    calls, refused_upstream, statuses, metrics = asyncio.run(burst())
    for tenant in ("demo", "fleet"):
        app = f'enphase_proxy_tenant_app{{app="sandbox-watt-client",tenant="{tenant}"}} 1.0'
        assert app in metrics
        assert f'enphase_proxy_quota_remaining{{period="minute",tenant="{tenant}"}} 0.0' in metrics
    assert refused_upstream == 0
    assert calls <= 10
    assert statuses.count(200) >= 2 and set(statuses) <= {200, 409}
    assert 409 in statuses[4:]  # the second tenant is refused for the app's minute


@pytest.mark.slow  # 30 virtual days of two dashboards (~7 s)
def test_over_a_month_two_tenants_of_one_app_are_never_refused_upstream(tmp_path: Path) -> None:
    clock = VirtualClock(JUNE_1)
    config = parse(two_tenants(tmp_path, ""), str(tmp_path / "proxy.toml"))
    polled = [f"/api/v2/systems/1001/{e}?{DEMO}" for e in ("summary", "stats")]
    polled += [f"/api/v2/systems/3000/{e}?{FLEET}" for e in ("summary", "stats")]

    async def month() -> tuple[int, int, int]:
        served = 0
        async with in_process(config, SandboxSettings(clock=clock), clock=clock) as stack:
            for _ in range(30 * DAY // 1800):
                for url in polled:
                    served += (await stack.proxy.get(url)).status_code == 200
                await settle()
                clock.advance(1800)
            stats = sandbox_state(stack.sandbox).stats
            return stats.api_calls, stats.rate_limited, served

    calls, refused_upstream, served = asyncio.run(month())
    assert refused_upstream == 0
    assert 600 <= calls <= 1000  # the app's month, spent on both tenants' keys
    assert served == 4 * 30 * DAY // 1800


def test_quota_prints_the_app_budget_each_of_its_tenants_spends(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "proxy.toml"
    path.write_text(two_tenants(tmp_path / "var").replace('backend = "memory"', 'backend = "file"'))
    config = load(path)

    async def spend() -> None:  # two workers' calls: 3 for demo, 4 for fleet
        governor = await open_governor(config)
        for name, calls in (("demo", 3), ("fleet", 4)):
            for _ in range(calls):
                await governor.acquire(config.tenants[name])
        await governor.close()

    asyncio.run(spend())
    assert main(["quota", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.count(" 7 of 1000 calls used this month") == 2, out
    assert out.count("v4 app sandbox-watt-client: budget shared by demo, fleet") == 2
