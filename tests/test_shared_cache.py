"""The workers of one `serve` share live cached replies and their single-flight (no Redis).

Issue 12's finding: with the per-worker memory cache, every worker bought each key once, and
once the month was spent a key cached by one worker drew 409 (v2) or 429 (v4) from the other.
"""

from __future__ import annotations

import http.client
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx2
import pytest

from proxy.observability.metrics import FLUSH_SECONDS
from tests import support
from tests.support import pinned, pinned_get

pytestmark = pytest.mark.slow

AUTH = {"key": "demo-v2-key", "user_id": "demo-user"}
TEAM = {"key": "demo-team-key"}


def summary(system: int) -> str:
    return f"/api/v2/systems/{system}/summary"


@contextmanager
def two_workers(tmp_path: Path) -> Iterator[tuple[str, str, list[http.client.HTTPConnection]]]:
    """The shipped defaults (file quota and cache) on a Watt month of 12 calls, two workers:
    (sandbox URL, proxy URL, a keep-alive connection to each worker)."""
    with support.sandbox() as (sandbox_url, _):
        text = support.config_text(
            sandbox_url, tmp_path / "var", plan="watt", per_minute=100, per_month=12
        )
        path = tmp_path / "proxy.toml"
        path.write_text(text.replace('backend = "memory"', 'backend = "file"', 1))  # [quota]
        with support.serve_process(path, 2) as url, pinned(url, path, 2) as conns:
            yield sandbox_url, url, list(conns.values())


def upstream_calls(sandbox_url: str) -> dict[str, int]:
    """The sandbox's v4 calls by path."""
    by_path: dict[str, int] = httpx2.get(sandbox_url + "/_sandbox/stats").json()[
        "api_calls_by_path"
    ]
    return by_path


def test_ten_identical_requests_on_two_workers_make_one_upstream_call(tmp_path: Path) -> None:
    with two_workers(tmp_path) as (sandbox_url, url, conns):
        replies = [pinned_get(conns[n % 2], summary(1001), AUTH) for n in range(10)]
        calls = upstream_calls(sandbox_url)
        time.sleep(3 * FLUSH_SECONDS)  # the worker that stored the entry has set the gauge
        metrics = httpx2.get(url + "/metrics", headers=support.SCRAPE).text
    assert [r.status_code for r in replies] == [200] * 10
    assert [r.headers["X-Cache"] for r in replies] == ["MISS"] + ["HIT"] * 9
    assert calls["/api/v4/systems/1001/summary"] == 1
    assert set(calls.values()) == {1}  # no v4 reply was bought twice
    # the workers read one store: /metrics shows its entries once, not once per worker
    assert f"enphase_proxy_cache_entries {float(len(calls))}" in metrics.splitlines()


def test_with_the_month_spent_every_worker_answers_what_one_cached(tmp_path: Path) -> None:
    with two_workers(tmp_path) as (sandbox_url, _, (first, second)):
        assert pinned_get(first, "/api/v4/systems/1001/summary", TEAM).status_code == 200
        spent = [pinned_get(first, summary(system), AUTH) for system in range(1002, 1020)]
        statuses = [r.status_code for r in spent]
        assert 409 in statuses, statuses  # the month is used up
        cached = [
            system for system, s in zip(range(1002, 1020), statuses, strict=False) if s == 200
        ]
        late_v2 = [pinned_get(c, summary(s), AUTH) for c in (first, second) for s in cached]
        late_v4 = [pinned_get(c, "/api/v4/systems/1001/summary", TEAM) for c in (first, second)]
        calls = sum(upstream_calls(sandbox_url).values())
    assert cached
    late = late_v2 + late_v4  # v2 on each worker, then v4 on each: never 409 nor 429
    assert [r.status_code for r in late] == [200] * len(late)
    assert {r.headers["X-Cache"] for r in late} <= {"HIT", "STALE"}
    assert calls <= 12
