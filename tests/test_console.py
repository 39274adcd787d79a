"""The console's JSON state and its protection: admin key, session cookie, agreeing numbers."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx2
import pytest
from prometheus_client.parser import text_string_to_metric_families

from proxy.console.routes import session_token, session_valid
from tests import support

AUTH = {"key": "demo-v2-key", "user_id": "demo-user"}
TEAM = {"Authorization": "Bearer demo-team-key"}
ADMIN_KEY = "test-admin-key"


def metric_sum(metrics_text: str, name: str, **labels: str) -> float:
    """The sum of metric ``name``'s samples whose labels include ``labels``."""
    return sum(
        sample.value
        for family in text_string_to_metric_families(metrics_text)
        for sample in family.samples
        if sample.name == name and labels.items() <= sample.labels.items()
    )


@contextmanager
def signed_in(proxy_url: str) -> Iterator[httpx2.Client]:
    """A client of the proxy holding a console session cookie."""
    with httpx2.Client(base_url=proxy_url, timeout=30) as client:
        response = client.post("/console/login", data={"key": ADMIN_KEY})
        assert response.status_code == 303
        yield client


def test_without_the_admin_key_the_console_shows_only_a_login_form(
    client: httpx2.Client,
) -> None:
    page = client.get("/console")
    assert page.status_code == 200
    assert '<form method="post" action="/console/login"' in page.text
    assert "console.js" not in page.text
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": ADMIN_KEY}):
        refused = client.get("/console/api/state", headers=headers)
        assert refused.status_code == 401
        assert "tenants" not in refused.text
    wrong = client.post("/console/login", data={"key": "wrong"})
    assert wrong.status_code == 401 and "set-cookie" not in wrong.headers
    assert "That is not the admin key." in wrong.text
    # the key in a URL is never accepted
    in_url = client.post("/console/login", params={"key": ADMIN_KEY})
    assert in_url.status_code == 401 and "set-cookie" not in in_url.headers
    forged = client.get("/console/api/state", headers={"Cookie": "console_session=9999999999.00"})
    assert forged.status_code == 401


def test_login_sets_a_strict_http_only_session_cookie(servers: tuple[str, str]) -> None:
    with httpx2.Client(base_url=servers[0]) as client:
        response = client.post("/console/login", data={"key": ADMIN_KEY})
        assert response.status_code == 303 and response.headers["location"] == "/console"
        cookie = response.headers["set-cookie"]
        assert ADMIN_KEY not in cookie
        flags = {part.strip().lower() for part in cookie.split(";")[1:]}
        assert {"httponly", "samesite=strict", "path=/console"} <= flags
        assert "console.js" in client.get("/console").text
        assert client.get("/console/api/state").status_code == 200
        client.post("/console/logout")
        assert client.get("/console/api/state").status_code == 401


def test_session_tokens_expire_and_die_with_the_admin_key() -> None:
    token = session_token("key-one", 1000)
    assert session_valid("key-one", token, 999)
    assert not session_valid("key-one", token, 1000)
    assert not session_valid("key-two", token, 999)
    assert not session_valid(None, token, 999)
    assert not session_valid("key-one", token.replace("1000.", "2000."), 999)


def test_state_agrees_with_metrics_and_the_quota_count(servers: tuple[str, str]) -> None:
    proxy_url, _ = servers
    with signed_in(proxy_url) as client:
        # counters are per process (other tests' proxies may share it): compare what changed
        before, metrics_before = (
            client.get("/console/api/state").json(),
            client.get("/metrics", headers=support.SCRAPE),
        )
        for system in (1001, 1002, 1001):
            assert client.get(f"/api/v2/systems/{system}/summary", params=AUTH).status_code == 200
        assert client.get("/api/v4/systems/1003/summary", headers=TEAM).status_code == 200
        assert client.get("/api/v4/systems/1001/summary", headers=TEAM).status_code == 200
        state = client.get("/console/api/state").json()
        metrics_text = client.get("/metrics", headers=support.SCRAPE).text

    def gained(name: str, **labels: str) -> float:
        return metric_sum(metrics_text, name, **labels) - metric_sum(
            metrics_before.text, name, **labels
        )

    def traffic(answer: dict[str, Any], series: str) -> int:
        return sum(hour[series] for hour in answer["traffic"])

    upstream = gained("enphase_proxy_upstream_requests_total")
    assert upstream == 3  # 1001, 1002 and 1003
    assert traffic(state, "upstream") - traffic(before, "upstream") == upstream
    assert traffic(state, "hit") - traffic(before, "hit") == gained(
        "enphase_proxy_cache_total", result="hit"
    )
    assert len(state["traffic"]) == 24

    (tenant,) = state["tenants"]
    remaining = metric_sum(
        metrics_text, "enphase_proxy_quota_remaining", tenant="demo", period="month"
    )
    assert tenant["budget"]["remaining"] == remaining
    assert tenant["budget"]["used"] == 1_000_000 - remaining == traffic(state, "upstream")
    assert tenant["budget"]["per_day"][-1] == tenant["budget"]["used"]
    assert tenant["token"]["state"] == "ok" and not tenant["token"]["needs_reauthorization"]
    assert tenant["token"]["refresh_due"] <= tenant["token"]["valid_until"]

    clients = {c["name"]: c for c in state["clients"]}
    earlier = {c["name"]: c for c in before["clients"]}
    legacy, team = clients["legacy"], clients["team"]
    assert (legacy["kind"], team["kind"]) == ("legacy", "team")
    for name, asked in (("legacy", 3), ("team", 2)):
        requests = clients[name]["requests_today"] - earlier[name]["requests_today"]
        assert requests == asked == gained("enphase_proxy_client_requests_total", client=name)
    caused = {
        name: clients[name]["upstream_today"] - earlier[name]["upstream_today"] for name in clients
    }
    assert caused == {"legacy": 2, "team": 1}
    assert caused["team"] == gained("enphase_proxy_client_upstream_calls_total", client="team")
    total = traffic(state, "upstream")
    assert legacy["upstream_share"] == pytest.approx(legacy["upstream_today"] / total)
    assert team["upstream_share"] == pytest.approx(team["upstream_today"] / total)
    assert legacy["last_seen"] <= state["now"] and legacy["error_rate"] == 0.0


def test_upstream_errors_are_listed_without_query_or_secrets(servers: tuple[str, str]) -> None:
    proxy_url, _ = servers
    with signed_in(proxy_url) as client:
        missing = client.get("/api/v4/systems/9999/summary?size=1", headers=TEAM)
        assert missing.status_code == 404
        state = client.get("/console/api/state").json()
        raw = client.get("/console/api/state").text
    assert {"endpoint": "summary", "status": "404"}.items() <= state["errors"][0].items()
    assert abs(state["errors"][0]["at"] - time.time()) < 60
    team = next(c for c in state["clients"] if c["name"] == "team")
    assert team["error_rate"] > 0
    for secret in ("sandbox-api-key", "demo-team-key", "key=", "eyJ", "/9999", "?", "size"):
        assert secret not in raw


@pytest.mark.slow
def test_state_sums_every_worker_and_the_quota_file(tmp_path: Path) -> None:
    extra = '[quota]\nbackend = "file"\n'
    with support.sandbox() as (sandbox_url, _):
        config = tmp_path / "proxy.toml"
        text = support.config_text(sandbox_url, tmp_path / "var").replace(
            '[quota]\nbackend = "memory"\n', extra
        )
        config.write_text(text)
        with support.serve_process(config, 2) as url, signed_in(url) as client:
            for system in (1001, 1002, 1003, 1004):
                for _ in range(3):
                    client.get(f"/api/v2/systems/{system}/summary", params=AUTH)
            metrics_text = client.get("/metrics", headers=support.SCRAPE).text
            upstream = metric_sum(metrics_text, "enphase_proxy_upstream_requests_total")
            assert upstream == 4
            # each worker adds its counts to the shared history every few seconds
            deadline = time.monotonic() + 30
            while True:
                state = client.get("/console/api/state").json()
                if sum(hour["upstream"] for hour in state["traffic"]) == upstream:
                    break
                assert time.monotonic() < deadline, state["traffic"][-1]
                time.sleep(0.5)
            legacy = next(c for c in state["clients"] if c["name"] == "legacy")
            assert legacy["requests_today"] == 12
            assert state["tenants"][0]["budget"]["used"] == 4
