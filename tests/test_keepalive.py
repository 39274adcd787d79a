"""Keep-alive: a tenant with no traffic for 40 days still has a working token (virtual clock)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest
from prometheus_client import REGISTRY

from proxy.cli.auth import authorize_url
from proxy.clock import VirtualClock
from proxy.config import Config
from proxy.console.history import MemoryHistory
from proxy.console.recorder import Recorder
from proxy.quota.demand import MemoryDemandStore
from proxy.quota.governor import MemoryQuotaStore, QuotaGovernor
from proxy.quota.pacer import Pacer
from proxy.sandbox import SandboxSettings
from proxy.tokens import NeedsReauthorization, TokenBroker
from proxy.tokens.keepalive import KEEP_ALIVE_AGE, aging, health, keep_alive, publish, refresh_due
from proxy.tokens.store import TokenRecord
from tests import support

DAY = 86400
IDLE_DAYS = 40
TICK = 6 * 3600  # how often the simulated worker tends (in production: every 10 s)


def authorization_code(config: Config) -> str:
    """A fresh code from the sandbox's authorize endpoint, as a homeowner's browser gets it."""
    url = authorize_url(config, config.tenants["demo"], "test-state")
    redirect = httpx2.get(url).headers["location"]
    return parse_qs(urlsplit(redirect).query)["code"][0]


@pytest.mark.parametrize("kept_alive", [True, False], ids=["kept-alive", "left-alone"])
def test_a_tenant_idle_for_40_days_still_has_a_working_token(
    tmp_path: Path, kept_alive: bool
) -> None:
    clock = VirtualClock(time.time())
    settings = SandboxSettings(clock=clock)  # access tokens live a day, refresh tokens a week
    with support.sandbox(settings) as (sandbox_url, _):
        config = support.proxy_config(
            sandbox_url, tmp_path, grant="authorization_code", username=None, password=None
        )

        async def idle_for_40_days() -> None:
            broker = TokenBroker(config, clock=clock)
            try:
                await broker.authorize("demo", authorization_code(config))
                for _ in range(IDLE_DAYS * DAY // TICK):  # no request at all
                    clock.advance(TICK)
                    if kept_alive:  # the keep-alive half of the maintenance round
                        await keep_alive(broker, clock.now())
                        publish(await health(broker))
                if not kept_alive:
                    with pytest.raises(NeedsReauthorization):
                        await broker.access_token("demo")
                    (item,) = await health(broker)
                    assert item.needs_reauthorization
                    assert item.fix == "run: enphase-proxy auth login --tenant demo"
                    return
                token = await broker.access_token("demo")
                assert await asyncio.to_thread(support.token_works, sandbox_url, token)
                (item,) = await health(broker)
                assert not item.needs_reauthorization
                obtained = support.present(item.refresh_token_obtained)
                assert clock.now() - obtained < KEEP_ALIVE_AGE + TICK
                gauge = REGISTRY.get_sample_value(
                    "enphase_proxy_refresh_token_obtained_timestamp_seconds", {"tenant": "demo"}
                )
                assert gauge is not None and clock.now() - gauge < KEEP_ALIVE_AGE + TICK
            finally:
                await broker.close()

        asyncio.run(idle_for_40_days())
        grants = httpx2.get(f"{sandbox_url}/_sandbox/stats").json()["token_grants"]
    if kept_alive:  # one renewal per KEEP_ALIVE_AGE, not one per tick
        expected = IDLE_DAYS * DAY // KEEP_ALIVE_AGE
        assert expected - 1 <= grants["refresh_token"] <= expected + 2


def test_renewal_is_due_before_expiry_or_when_the_refresh_token_ages() -> None:
    record = TokenRecord("a", "r", expires_at=10 * DAY, obtained_at=0)
    assert refresh_due(record, 3600) == KEEP_ALIVE_AGE
    soon = TokenRecord("a", "r", expires_at=DAY, obtained_at=0)
    assert refresh_due(soon, 3600) == DAY - 3600
    assert refresh_due(TokenRecord("a", None, DAY, 0), 3600) is None
    assert refresh_due(TokenRecord("a", "r", DAY, 0, reauthorize="revoked"), 3600) is None
    assert not aging(record, KEEP_ALIVE_AGE - 1)
    assert aging(record, KEEP_ALIVE_AGE)
    assert not aging(TokenRecord("a", None, None, 0), KEEP_ALIVE_AGE)
    assert not aging(None, KEEP_ALIVE_AGE)


class BrokenHistory(MemoryHistory):
    """A console history whose every write fails, as a full disk or a lost Redis would."""

    async def update(
        self, bucket: str, added: Mapping[str, float], raised: Mapping[str, float], until: float
    ) -> None:
        raise OSError("console history unavailable")

    async def note_errors(self, errors: Sequence[Mapping[str, Any]]) -> None:
        raise OSError("console history unavailable")


def test_keep_alive_renews_a_3_day_old_refresh_token_while_console_history_fails(
    tmp_path: Path,
) -> None:
    start = time.time()
    clock = VirtualClock(start)
    # Access tokens outlive the test, so only the keep-alive trigger can renew.
    settings = SandboxSettings(clock=clock, access_token_ttl=30 * DAY)
    with support.sandbox(settings) as (sandbox_url, _):
        config = support.proxy_config(
            sandbox_url, tmp_path, grant="authorization_code", username=None, password=None
        )

        async def three_days_on() -> float:
            """When the stored refresh token was obtained, once the worker's loops ran a while."""
            broker = TokenBroker(config, clock=clock)
            governor = QuotaGovernor(MemoryQuotaStore(), 5.0, clock=clock)
            pacer = Pacer(governor, MemoryDemandStore(), config.quota, clock)
            recorder = Recorder(config, BrokenHistory(clock.now), broker, pacer, clock)
            await broker.authorize("demo", authorization_code(config))
            clock.advance(KEEP_ALIVE_AGE)
            await broker.start()  # the worker's background tasks, as its lifespan runs them
            console = asyncio.create_task(recorder.run())
            try:
                deadline = time.monotonic() + 10
                while clock.now() < start + KEEP_ALIVE_AGE + DAY and time.monotonic() < deadline:
                    record = await broker.store.load("demo")
                    if record is not None and record.obtained_at > start:
                        break
                    await asyncio.sleep(0.01)
                record = await broker.store.load("demo")
                assert record is not None
                return record.obtained_at
            finally:
                console.cancel()
                await asyncio.gather(console, return_exceptions=True)
                await broker.close()

        obtained = asyncio.run(three_days_on())
    assert start + KEEP_ALIVE_AGE <= obtained < start + KEEP_ALIVE_AGE + DAY
