"""Spending the v4 quota well, end to end: single-flight and pacing against a real sandbox."""

from __future__ import annotations

import concurrent.futures
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from tests import support
from tests.support import validate

AUTH = {"key": "demo-v2-key", "user_id": "demo-user"}
DAY = 86400
SUMMARY = "/api/v2/systems/1003/summary"


def sandbox_stats(sandbox_url: str) -> dict[str, Any]:
    """The sandbox's call counters."""
    stats: dict[str, Any] = httpx2.get(sandbox_url + "/_sandbox/stats").json()
    return stats


def burst(call: Callable[[int], httpx2.Response], count: int) -> list[httpx2.Response]:
    """``count`` calls at once."""
    with concurrent.futures.ThreadPoolExecutor(count) as pool:
        return list(pool.map(call, range(count)))


def pool(proxy_url: str, count: int) -> httpx2.Client:
    """A client of the proxy holding up to ``count`` connections (one TLS setup, not ``count``)."""
    limits = httpx2.Limits(max_connections=count)
    return httpx2.Client(base_url=proxy_url, timeout=60, limits=limits)


def summary_burst(proxy_url: str, count: int) -> list[httpx2.Response]:
    """``count`` identical concurrent summary requests, each on a connection of its own."""
    with pool(proxy_url, count) as client:
        return burst(lambda _: client.get(SUMMARY, params=AUTH), count)


def test_100_identical_requests_make_one_upstream_call(tmp_path: Path) -> None:
    with support.sandbox() as (sandbox_url, _):
        httpx2.post(sandbox_url + "/_sandbox/faults", json={"latency": 0.3})
        with support.proxy(support.proxy_config(sandbox_url, tmp_path)) as proxy_url:
            responses = summary_burst(proxy_url, 100)
        assert {r.status_code for r in responses} == {200}
        assert sandbox_stats(sandbox_url)["api_calls_by_path"]["/api/v4/systems/1003/summary"] == 1


@pytest.mark.slow
def test_100_identical_requests_across_4_workers_share_one_call_through_redis(
    tmp_path: Path, redis_url: str
) -> None:
    extra = f'[cache]\nbackend = "redis"\n[redis]\nurl = "{redis_url}"\n'
    with support.sandbox() as (sandbox_url, _):
        path = tmp_path / "proxy.toml"
        path.write_text(support.config_text(sandbox_url, tmp_path / "var", extra))
        with support.serve_process(path, 4) as proxy_url:
            httpx2.get(proxy_url + "/api/v2/systems/1001/summary", params=AUTH, timeout=30)
            httpx2.post(sandbox_url + "/_sandbox/faults", json={"latency": 0.5})
            responses = summary_burst(proxy_url, 100)
        assert {r.status_code for r in responses} == {200}
        calls = sandbox_stats(sandbox_url)["api_calls_by_path"]
        assert calls["/api/v4/systems/1003/summary"] == 1


@pytest.fixture
def watt_tenant(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A proxy whose tenant is on the sandbox's Watt app: 10 calls a minute, no waiting."""
    with support.sandbox() as (sandbox_url, _):
        config = support.proxy_config(
            sandbox_url,
            tmp_path,
            # continues the harness's [quota] table; the bursts below make distinct calls by
            # asking past days, which a legacy client's own share would cap first
            "max_wait = 0.0\ncold_share = 0.0\n",
            api_key="sandbox-watt-key",
            client_id="sandbox-watt-client",
            client_secret="sandbox-watt-secret",
            plan="watt",
            per_minute=10,
            per_month=1000,
        )
        with support.proxy(config) as proxy_url:
            yield proxy_url, sandbox_url


def test_minute_budget_of_10_under_a_burst_of_50_never_draws_a_429(
    watt_tenant: tuple[str, str],
) -> None:
    proxy_url, sandbox_url = watt_tenant
    day = (int(time.time()) // DAY - 2) * DAY

    def call(i: int) -> httpx2.Response:
        # distinct days: shared windows cannot answer two of them from one call
        params: dict[str, str | int] = {
            **AUTH,
            "start_at": day - i * DAY,
            "end_at": day - i * DAY + DAY,
        }
        return client.get("/api/v2/systems/1002/stats", params=params)

    started = time.time()
    with pool(proxy_url, 50) as client:
        responses = burst(call, 50)
    ok = [r for r in responses if r.status_code == 200]
    refused = [r for r in responses if r.status_code != 200]
    stats = sandbox_stats(sandbox_url)
    assert stats["rate_limited"] == 0
    assert 10 <= stats["api_calls"] <= 20  # 10 per clock minute; a burst may straddle a boundary
    assert ok
    assert {r.status_code for r in refused} == {409}
    for response in refused:
        body = response.json()
        validate("/api/v2/systems/{system_id}/stats", 409, body)
        assert body["period"] == "minute"
        assert body["limit"] == 10
        assert body["period_end"] % 60 == 0
        assert started < body["period_end"] <= time.time() + 60
