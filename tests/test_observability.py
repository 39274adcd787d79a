"""What an operator sees of `serve`: request ids end to end, access log lines, summed metrics."""

from __future__ import annotations

import json
import re
import time
from contextlib import ExitStack
from pathlib import Path

import httpx2
import pytest
from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.values import MutexValue

from proxy.observability import metrics
from tests import support
from tests.support import redis_server

AUTH = {"key": "demo-v2-key", "user_id": "demo-user"}
SUMMARY = "/api/v2/systems/1001/summary"
REQUESTS = 40


def summary_count(metrics_text: str) -> float:
    """enphase_proxy_requests_total for the v2 summary route with status 200."""
    pattern = r'enphase_proxy_requests_total\{route="/api/v2/systems/\{system_id\}/summary",'
    pattern += r'status="200"\} ([0-9.e+]+)'
    found = re.search(pattern, metrics_text)
    return float(found.group(1)) if found else 0.0


@pytest.mark.slow
def test_request_ids_access_log_and_metrics_across_workers(tmp_path: Path) -> None:
    with support.sandbox() as (sandbox_url, _):
        config = tmp_path / "proxy.toml"
        config.write_text(support.config_text(sandbox_url, tmp_path / "var"))
        with support.serve_process(config, 2) as url, httpx2.Client(base_url=url) as client:
            traced = client.get(SUMMARY, params=AUTH, headers={"X-Request-Id": "trace-abc.123"})
            assert traced.status_code == 200, traced.text
            assert traced.headers["X-Request-Id"] == "trace-abc.123"
            calls = httpx2.get(sandbox_url + "/_sandbox/stats").json()["recent_calls"]
            assert calls and {c["request_id"] for c in calls} == {"trace-abc.123"}

            ids = set()
            for _ in range(REQUESTS - 1):
                response = client.get(SUMMARY, params=AUTH, headers={"X-Request-Id": "bad id!"})
                assert response.status_code == 200
                ids.add(response.headers["X-Request-Id"])
            assert len(ids) == REQUESTS - 1
            assert all(re.fullmatch(r"[0-9a-f]{24}", i) for i in ids)

            # Each worker holds its counts for up to half a second; /metrics sums every worker.
            deadline = time.monotonic() + 5
            while summary_count(client.get("/metrics", headers=support.SCRAPE).text) < REQUESTS:
                assert time.monotonic() < deadline, "the workers' counts never added up"
                time.sleep(0.1)
            assert summary_count(client.get("/metrics", headers=support.SCRAPE).text) == REQUESTS
        log_text = support.SERVE_LOGS[-1].read_text()

    access = [json.loads(line) for line in log_text.splitlines() if '"proxy.access"' in line]
    summaries = [line for line in access if line["path"] == SUMMARY]
    assert len(summaries) == REQUESTS  # held lines were written at shutdown
    first = next(line for line in summaries if line["request_id"] == "trace-abc.123")
    assert first["route"] == "/api/v2/systems/{system_id}/summary"
    assert (first["status"], first["tenant"], first["method"]) == (200, "demo", "GET")
    assert "demo-v2-key" not in log_text and "key=" not in log_text


def test_readiness_follows_redis_and_tenant_authorization(tmp_path: Path) -> None:
    with support.sandbox() as (sandbox_url, _), ExitStack() as redis:
        redis_url = redis.enter_context(redis_server())
        extra = f'[redis]\nurl = "{redis_url}"\n'
        config = support.proxy_config(sandbox_url, tmp_path, extra)
        with support.proxy(config) as url, httpx2.Client(base_url=url) as client:
            ready = client.get("/readyz", headers=support.SCRAPE)
            assert ready.json() == {"ready": True, "problems": []}
            redis.close()  # the Redis server goes away under the running proxy
            down = client.get("/readyz", headers=support.SCRAPE)
            assert down.status_code == 503
            assert down.json()["problems"] == ["redis unreachable: ConnectionError"]
        code_grant = support.proxy_config(
            sandbox_url, tmp_path / "other", grant="authorization_code", username=None
        )
        with support.proxy(code_grant) as url, httpx2.Client(base_url=url) as client:
            ready = client.get("/readyz", headers=support.SCRAPE)
            assert ready.status_code == 503
            assert ready.json()["problems"] == ["tenant demo: missing"]
            refused = client.get(SUMMARY, params=AUTH)
            assert refused.status_code == 401 and "auth login" in refused.text


def test_held_observations_are_flushed_as_one_update_per_distinct_value(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """5,000 served ages held between flushes reach the histogram as the same figures as
    5,000 observations, in a few writes (each is a locked mmap write across workers)."""
    registry = CollectorRegistry()
    ages = Histogram("ages", "Served ages.", ["way"], buckets=(0, 60, 300), registry=registry)
    values = [n % 3 * 100 for n in range(5000)]
    for value in values:
        ages.labels("direct").observe(value)
    writes = 0
    inc = MutexValue.inc

    def counted(self: MutexValue, amount: float) -> None:
        nonlocal writes
        writes += 1
        inc(self, amount)  # type: ignore[no-untyped-call]  # prometheus_client is untyped

    monkeypatch.setattr(MutexValue, "inc", counted)
    tally = metrics.Tally()
    for value in values:
        tally.observe(ages.labels("tally"), value)
    tally.flush()
    (family,) = registry.collect()
    figures = {(s.name, s.labels.get("le"), s.labels["way"]): s.value for s in family.samples}
    direct = {(name, le): v for (name, le, way), v in figures.items() if way == "direct"}
    held = {(name, le): v for (name, le, way), v in figures.items() if way == "tally"}
    assert held.pop(("ages_count", None)) == direct.pop(("ages_count", None)) == 5000
    assert {k: v for k, v in held.items() if k[0] != "ages_created"} == {
        k: v for k, v in direct.items() if k[0] != "ages_created"
    }
    assert writes <= 6
