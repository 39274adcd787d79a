"""Two ``serve`` processes sharing one Redis pace against one month budget."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import httpx2
import pytest

from tests import support

AUTH = {"key": "demo-v2-key", "user_id": "demo-user"}


@pytest.mark.slow
def test_two_serve_processes_sharing_redis_spend_one_budget_and_answer_stale_not_409(
    tmp_path: Path, redis_url: str
) -> None:
    # one data_dir, but each replica its own cache (memory, one worker), as on two hosts
    extra = f'[cache]\nbackend = "memory"\nttl = {{ summary = 1 }}\n[redis]\nurl = "{redis_url}"\n'
    name = f"t-{uuid.uuid4().hex[:8]}"  # a fresh tenant: no other test's Redis counts
    with support.sandbox() as (sandbox_url, _):
        text = support.config_text(sandbox_url, tmp_path / "var", extra, name=name, per_month=4)
        path = tmp_path / "proxy.toml"
        path.write_text(text.replace('backend = "memory"', 'backend = "redis"', 1))  # [quota]

        def get(proxy_url: str, system: int) -> httpx2.Response:
            url = f"{proxy_url}/api/v2/systems/{system}/summary"
            return httpx2.get(url, params=AUTH, timeout=30)

        with support.serve_process(path, 1) as first, support.serve_process(path, 1) as second:
            assert [get(first, s).status_code for s in (1001, 1002)] == [200, 200]
            assert [get(second, s).status_code for s in (1003, 1004)] == [200, 200]
            refused = get(second, 1001)  # nothing cached there, and the shared month is spent
            time.sleep(1.5)  # every cached summary is past its natural freshness
            stale = [get(first, 1001), get(second, 1003)]
        calls = httpx2.get(sandbox_url + "/_sandbox/stats").json()["api_calls"]
    assert refused.status_code == 409
    assert refused.json()["period"] == "month"
    assert [r.status_code for r in stale] == [200, 200]
    assert [r.headers["X-Cache"] for r in stale] == ["STALE", "STALE"]
    assert all(int(r.headers["Age"]) >= 1 for r in stale)
    assert calls == 4
