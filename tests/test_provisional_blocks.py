"""An upstream month 429 closes the month only once a probe confirms it; an operator clears it."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from pathlib import Path
from typing import Any, Literal

import pytest

from proxy.cli.main import main
from proxy.clock import VirtualClock
from proxy.config import Config, Limits, Quota, Server, Tenant, load
from proxy.quota.blocks import CONFIRM_WITHIN, PROBE_AFTER, month_block
from proxy.quota.governor import QuotaExhausted, open_governor
from proxy.quota.windows import Window, period_bounds
from proxy.sandbox import SandboxSettings, sandbox_state
from proxy.simulation import SANDBOX_URL, InProcess, in_process
from tests import support

DAY = 86_400
AUTH = "key=demo-v2-key&user_id=demo-user"


def summary(system_id: int) -> str:
    """A cold v2 summary request: each system costs its own upstream calls."""
    return f"/api/v2/systems/{system_id}/summary?{AUTH}"


def this_month() -> VirtualClock:
    """A clock in the real month: the CLI and the console read the real clock."""
    return VirtualClock(period_bounds("month", time.time())[0] + DAY)


def month_429(stack: InProcess, on: bool) -> None:
    """Make the sandbox refuse every call with a ``period=month`` 429 (or stop)."""
    sandbox_state(stack.sandbox).set_faults(force_429=on, force_429_period="month")


async def confirm_month_block(stack: InProcess, clock: VirtualClock) -> list[int]:
    """A month 429, its probe refused too, then an upstream that would answer: the statuses."""
    statuses = [(await stack.proxy.get(summary(1001))).status_code]
    month_429(stack, True)
    statuses.append((await stack.proxy.get(summary(1002))).status_code)
    clock.advance(PROBE_AFTER)
    statuses.append((await stack.proxy.get(summary(1002))).status_code)  # the probe: refused
    month_429(stack, False)
    clock.advance(PROBE_AFTER)
    statuses.append((await stack.proxy.get(summary(1003))).status_code)  # confirmed: closed
    return statuses


def test_one_month_429_whose_probe_succeeds_does_not_block_the_tenant(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Issue 20: one month 429 blocked the tenant until month end, its limit of 1,000,000
    # (the sandbox app's) believed over the configured plan's 50,000.
    clock = VirtualClock(1_780_272_000 + 5 * DAY)
    config = support.proxy_config(SANDBOX_URL, tmp_path, per_month=None, per_minute=1000)

    async def run() -> list[tuple[int, dict[str, Any], str | None]]:
        replies = []
        async with in_process(config, SandboxSettings(clock=clock), clock=clock) as stack:
            replies.append(await stack.proxy.get(summary(1001)))
            month_429(stack, True)
            replies.append(await stack.proxy.get(summary(1002)))
            month_429(stack, False)
            replies.append(await stack.proxy.get(summary(1003)))  # before the probe is due
            clock.advance(PROBE_AFTER)
            replies.append(await stack.proxy.get(summary(1003)))  # the probe
            replies.append(await stack.proxy.get(summary(1004)))
        return [(r.status_code, r.json(), r.headers.get("Retry-After")) for r in replies]

    with caplog.at_level(logging.WARNING, logger="proxy.quota"):
        replies = asyncio.run(run())
    assert [status for status, _, _ in replies] == [200, 409, 409, 200, 200]
    _, refused, retry_after = replies[2]
    assert refused["period"] == "month" and refused["limit"] == 50_000  # the plan's, not 10**6
    # provisional: the client may come back when the probe is due, not at the month's end
    assert retry_after is not None and 0 < int(retry_after) <= PROBE_AFTER
    assert "upstream 429 names a limit the configured plan contradicts" in caplog.text
    assert "upstream refused the month: provisional" in caplog.text


def test_clear_block_clears_a_confirmed_month_block_in_the_persistent_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clock = this_month()
    path = tmp_path / "proxy.toml"
    text = support.config_text(SANDBOX_URL, tmp_path / "var")
    path.write_text(text.replace('backend = "memory"', 'backend = "file"'))
    config = load(path)

    async def run() -> list[int]:
        statuses = []
        async with in_process(config, SandboxSettings(clock=clock), clock=clock) as stack:
            statuses += await confirm_month_block(stack, clock)
            quota = ["quota", "--config", str(path)]  # as an operator runs it, beside the proxy
            assert await asyncio.to_thread(main, quota) == 0
            assert await asyncio.to_thread(main, [*quota, "--clear-block", "demo"]) == 0
            statuses.append((await stack.proxy.get(summary(1003))).status_code)
        return statuses

    assert asyncio.run(run()) == [200, 409, 409, 409, 200]
    out = capsys.readouterr().out
    confirmed = "month refused by the upstream, confirmed by a probe: closed until"
    assert f"blocked: {confirmed}" in out and "--clear-block demo)" in out
    assert f"tenant demo (v4 app sandbox-client-id): cleared {confirmed}" in out
    assert main(["quota", "--config", str(path)]) == 0
    assert "blocked:" not in capsys.readouterr().out


def test_the_console_shows_and_clears_a_confirmed_block(tmp_path: Path) -> None:
    clock = this_month()
    config = support.proxy_config(SANDBOX_URL, tmp_path)
    admin = {"Authorization": "Bearer test-admin-key"}

    async def run() -> tuple[
        list[int], list[dict[str, Any]], dict[str, Any], list[dict[str, Any]], int
    ]:
        async with in_process(config, SandboxSettings(clock=clock), clock=clock) as stack:
            statuses = await confirm_month_block(stack, clock)
            before = (await stack.proxy.get("/console/api/state", headers=admin)).json()
            form = {"tenant": "demo"}
            cleared = await stack.proxy.post("/console/api/clear-block", data=form, headers=admin)
            after = (await stack.proxy.get("/console/api/state", headers=admin)).json()
            status = (await stack.proxy.get(summary(1003))).status_code
            anonymous = await stack.proxy.post("/console/api/clear-block", data=form)
            assert anonymous.status_code == 401
        return statuses, before["tenants"][0]["blocks"], cleared.json(), after["tenants"], status

    statuses, blocks, cleared, after, status = asyncio.run(run())
    assert statuses == [200, 409, 409, 409]
    [block] = blocks
    assert block["text"].startswith("month refused by the upstream, confirmed by a probe")
    assert cleared == {"tenant": "demo", "cleared": [block["text"]]}
    assert after[0]["blocks"] == [] and status == 200


def test_clear_block_of_an_unknown_tenant_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "proxy.toml"
    path.write_text(support.config_text(SANDBOX_URL, tmp_path / "var"))
    assert main(["quota", "--config", str(path), "--clear-block", "nobody"]) == 2
    assert "no tenant named 'nobody'" in capsys.readouterr().err


def test_only_a_probe_after_the_provisional_block_confirms_it() -> None:
    start, end = period_bounds("month", 1_780_272_000)
    month = Window("month", "month", start, end, 1000)
    t = start + 5 * DAY
    first = month_block(month, None, end, t)
    assert first == Window("month", "month", t, t + PROBE_AFTER, 1000)
    assert month_block(month, first, end, t + 5) is None  # a reply to a call sent before
    assert month_block(month, first, end, t + PROBE_AFTER) == month  # the probe: confirmed
    assert month_block(month, month, end, t + PROBE_AFTER + 5) is None  # stays confirmed
    later = t + PROBE_AFTER + CONFIRM_WITHIN  # long after a lifted block: provisional again
    assert month_block(month, first, end, later) == Window(
        "month", "month", later, later + 600, 1000
    )


@pytest.mark.parametrize("backend", ["memory", "file", "redis"])
def test_each_store_keeps_and_clears_a_confirmed_block(
    backend: Literal["file", "memory", "redis"], tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    redis_url = request.getfixturevalue("redis_url") if backend == "redis" else None
    clock = VirtualClock(1_780_272_000 + 5 * DAY)
    tenant = Tenant(f"t-{uuid.uuid4().hex[:8]}", "k", "c", "s", limits=Limits(10, 1000))
    config = Config(
        server=Server(data_dir=str(tmp_path)), quota=Quota(backend=backend), redis_url=redis_url
    )
    body = {"period": "month", "period_end": clock.now() + 30 * DAY, "limit": 1000}

    async def run() -> tuple[list[Window], list[Window]]:
        governor = await open_governor(config, clock=clock)
        await governor.observe_429(tenant, body)
        clock.advance(PROBE_AFTER)
        await governor.observe_429(tenant, body)  # the probe refused too
        with pytest.raises(QuotaExhausted):
            await governor.acquire(tenant)
        blocks = await governor.blocks(tenant)
        await governor.clear_blocks(tenant)
        await governor.acquire(tenant)
        after = await governor.blocks(tenant)
        await governor.close()
        return blocks, after

    blocks, after = asyncio.run(run())
    assert [(b.period, b.end) for b in blocks] == [("month", 1_780_272_000 + 30 * DAY)]
    assert after == []
