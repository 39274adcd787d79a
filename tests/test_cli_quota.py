"""``enphase-proxy quota`` prints each tenant's budget from the shared quota store."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from proxy.cli.main import main
from proxy.config import load
from proxy.quota.governor import open_governor
from proxy.quota.pacer import open_pacer
from tests import support


def test_quota_prints_used_remaining_forecast_interval_and_the_costliest_keys(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = support.config_text("http://127.0.0.1:9", tmp_path / "var", per_month=1000)
    path = tmp_path / "proxy.toml"
    path.write_text(text.replace('backend = "memory"', 'backend = "file"'))
    config = load(path)
    tenant = config.tenants["demo"]

    async def spend() -> None:  # what a worker does on three upstream calls
        governor = await open_governor(config)
        pacer = await open_pacer(config, governor)
        for key in ("v4:demo:1001:/systems/1001/summary?", "v4:demo:1001:/systems/1001/summary?"):
            await governor.acquire(tenant)
            await pacer.spent(tenant, key)
        await governor.acquire(tenant)
        await pacer.spent(tenant, "v4:demo:1002:/systems/1002?")
        await pacer.close()
        await governor.close()

    asyncio.run(spend())
    assert main(["quota", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    assert "tenant demo (kilowatt): 3 of 1000 calls used this month" in out
    assert "997 remaining" in out
    assert "paced refresh interval:" in out and "forecast exhaustion:" in out
    lines = out.splitlines()
    costliest = lines.index("  costliest keys this month:")
    assert lines[costliest + 1].split() == ["2", "v4:demo:1001:/systems/1001/summary?"]
    assert lines[costliest + 2].split() == ["1", "v4:demo:1002:/systems/1002?"]
