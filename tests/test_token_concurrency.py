"""One refresh at a time across processes, and no lost rotation when a broker is SIGKILLed."""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import random
import secrets
import signal
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx2
import pytest
import redis

from proxy.config import Config
from proxy.storage.redis_client import tenant_key
from proxy.tokens import TokenBroker
from proxy.tokens.store import REDIS_PREFIX, TokenFileStore, open_store
from tests import support
from tests.support import results_of

ROOT = Path(__file__).resolve().parent.parent
CLIENT = ("sandbox-client-id", "sandbox-client-secret")
FORK = multiprocessing.get_context("fork")
ConfigFor = Callable[..., Config]  # a config for the sandbox at a URL, on the test's store


async def seed(config: Config, tenant: str) -> None:
    """A first token set for ``tenant`` from the password grant."""
    broker = TokenBroker(config, detached=False)
    await broker.login_password(tenant, "demo-password")
    await broker.close()


@pytest.fixture(params=["file", "redis"])
def store_kind(request: pytest.FixtureRequest) -> str:
    """Which token store a test runs against."""
    kind: str = request.param
    return kind


@pytest.fixture
def config_for(store_kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> ConfigFor:
    """Builds a proxy_config over the parametrized store (a unique tenant per test)."""
    redis_url = request.getfixturevalue("redis_url") if store_kind == "redis" else None
    tenant = f"demo-{secrets.token_hex(4)}"

    def build(url: str, **kwargs: Any) -> Config:
        return support.token_config(url, tmp_path, tenant=tenant, redis_url=redis_url, **kwargs)

    return build


def raw_record(config: Config, tenant: str) -> dict[str, Any]:
    """The tenant's record exactly as persisted, parsed as JSON."""
    if config.redis_url:
        with redis.Redis.from_url(config.redis_url) as client:
            raw = client.get(tenant_key(REDIS_PREFIX, tenant))
    else:
        raw = TokenFileStore(config.data_path(config.tokens.path), 1.0).file(tenant).read_bytes()
    record: dict[str, Any] = json.loads(raw)
    return record


def _burst(config: Config, tenant: str, start_at: float, calls: int, results: Any) -> None:
    """Child process: a broker making ``calls`` concurrent access_token() calls at ``start_at``."""

    async def run() -> list[str]:
        broker = TokenBroker(config)
        await broker.start()
        await asyncio.sleep(max(0.0, start_at - time.time()))
        got = await asyncio.gather(
            *(broker.access_token(tenant) for _ in range(calls)), return_exceptions=True
        )
        await broker.close()
        return [t if isinstance(t, str) else f"error: {type(t).__name__}: {t}" for t in got]

    results.put(asyncio.run(run()))


@pytest.mark.slow
def test_one_refresh_for_four_processes_of_fifty_calls(
    config_for: ConfigFor, store_kind: str
) -> None:
    with support.sandbox_process() as url:
        config = config_for(url)
        tenant = next(iter(config.tenants))
        margin = config.tokens.refresh_margin
        expires_at = int(time.time()) + margin + 2
        asyncio.run(support.import_tokens(config, tenant, support.fresh_tokens(url), expires_at))
        before = support.stored(config, tenant)
        assert before is not None
        start_at = expires_at - margin + 0.05
        results = FORK.Queue()
        workers = [
            FORK.Process(target=_burst, args=(config, tenant, start_at, 50, results))
            for _ in range(4)
        ]
        tokens = results_of(workers, results, timeout=30)
        assert len(tokens) == 200
        assert not [t for t in tokens if t.startswith("error")], tokens[:3]
        assert support.grants(url)["refresh_token"] == 1
        after = support.stored(config, tenant)
        assert after is not None and set(tokens) == {after.access_token}
        assert after.access_token != before.access_token
        assert support.token_works(url, after.access_token)


def _refresh_forever(config: Config, tenant: str) -> None:
    """Child process: force a refresh again and again until killed."""

    async def run() -> None:
        broker = TokenBroker(config)
        while True:
            await broker.refresh(tenant)

    asyncio.run(run())


async def _check_and_continue(http: httpx2.Client, config: Config, tenant: str) -> None:
    """Under the lock: the stored set parses and its refresh token works; store the new set."""
    store = open_store(config)
    try:
        async with store.lock(tenant):
            data = raw_record(config, tenant)
            assert data["reauthorize"] is None
            form = {"grant_type": "refresh_token", "refresh_token": data["refresh_token"]}
            response = http.post("/oauth/token", data=form, auth=CLIENT)
            assert response.status_code == 200, response.json().get("error")
            body = response.json()
            record = await store.load(tenant)
            assert record is not None
            new = {"access_token": body["access_token"], "refresh_token": body["refresh_token"]}
            await store.save(tenant, replace(record, **new))
    finally:
        await store.close()


@pytest.mark.slow
def test_sigkill_never_loses_a_rotated_refresh_token(config_for: ConfigFor) -> None:
    with support.sandbox_process() as url, httpx2.Client(base_url=url) as http:
        config = config_for(url)
        tenant = next(iter(config.tenants))
        asyncio.run(seed(config, tenant))
        rng = random.Random()
        for _ in range(50):
            child = FORK.Process(target=_refresh_forever, args=(config, tenant))
            child.start()
            time.sleep(rng.uniform(0.05, 0.3))
            os.kill(support.present(child.pid), signal.SIGKILL)
            child.join(5)
            asyncio.run(_check_and_continue(http, config, tenant))
        time.sleep(1.0)
        asyncio.run(_check_and_continue(http, config, tenant))
        failures = http.get("/_sandbox/stats").json()["token_failures"]
        assert failures["refresh_token"] == 0
        assert support.grants(url)["refresh_token"] >= 51
