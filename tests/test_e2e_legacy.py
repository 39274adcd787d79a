"""Legacy v2 endpoints end to end: client -> proxy -> sandbox, all over loopback HTTP."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx2
import pytest

from tests import support
from tests.support import validate

AUTH = {"key": "demo-v2-key", "user_id": "demo-user"}
V2_401 = {"reason": "401", "message": ["Not authorized to access requested resource."]}


def sandbox_calls(servers: tuple[str, str]) -> int:
    calls: int = httpx2.get(servers[1] + "/_sandbox/stats").json()["api_calls"]
    return calls


def get(client: httpx2.Client, path: str, **params: Any) -> httpx2.Response:
    return client.get(path, params={**AUTH, **params})


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"key": "demo-v2-key"},
        {"user_id": "demo-user"},
        {"key": "wrong", "user_id": "demo-user"},
        {"key": "demo-v2-key", "user_id": "someone-else"},
        {"key": "demo-v2-key ", "user_id": "demo-user"},
    ],
)
def test_unauthorized_requests_get_the_v2_401_body(
    client: httpx2.Client, params: dict[str, Any]
) -> None:
    response = client.get("/api/v2/systems/1001/summary", params=params)
    assert response.status_code == 401
    assert response.json() == V2_401


ENDPOINTS = [
    ("/api/v2/systems/{system_id}/summary", "/api/v2/systems/1001/summary", {}),
    ("/api/v2/systems/{system_id}/stats", "/api/v2/systems/1002/stats", {}),
    ("/api/v2/systems/{system_id}/consumption_stats", "/api/v2/systems/1002/consumption_stats", {}),
    ("/api/v2/systems/{system_id}/inventory", "/api/v2/systems/1002/inventory", {}),
    ("/api/v2/systems/{system_id}/energy_lifetime", "/api/v2/systems/1001/energy_lifetime", {}),
    (
        "/api/v2/systems/{system_id}/consumption_lifetime",
        "/api/v2/systems/1002/consumption_lifetime",
        {},
    ),
    (
        "/api/v2/systems/{system_id}/production_meter_readings",
        "/api/v2/systems/1004/production_meter_readings",
        {},
    ),
    ("/api/v2/systems/{system_id}/rgm_stats", "/api/v2/systems/1004/rgm_stats", {}),
    (
        "/api/v2/systems/inverters_summary_by_envoy_or_site",
        "/api/v2/systems/inverters_summary_by_envoy_or_site",
        {"site_id": 1001},
    ),
    ("/api/v2/systems", "/api/v2/systems", {}),
    (
        "/api/v2/systems/search_system_id",
        "/api/v2/systems/search_system_id",
        {"serial_num": "122100001003"},
    ),
]


@pytest.mark.parametrize(("template", "path", "params"), ENDPOINTS)
@pytest.mark.parametrize("datetime_format", [None, "iso8601"])
def test_every_endpoint_answers_a_valid_v2_body(
    client: httpx2.Client,
    template: str,
    path: str,
    params: dict[str, Any],
    datetime_format: str | None,
) -> None:
    if datetime_format:
        params = {**params, "datetime_format": datetime_format}
    response = get(client, path, **params)
    assert response.status_code == 200, response.text
    validate(template, 200, response.json())
    assert response.headers["X-Cache"] in ("HIT", "MISS", "STALE")
    again = get(client, path, **params)
    assert again.headers["X-Cache"] == "HIT"
    assert again.json() == response.json()


def test_iso8601_renders_times_in_the_system_zone(client: httpx2.Client) -> None:
    body = get(client, "/api/v2/systems/1002/summary", datetime_format="iso8601").json()
    stamp = dt.datetime.fromisoformat(body["last_report_at"])
    assert stamp.utcoffset() == stamp.astimezone(ZoneInfo("Europe/Berlin")).utcoffset()


def test_search_system_id_finds_the_system_and_404s_unknown_serials(client: httpx2.Client) -> None:
    found = get(client, "/api/v2/systems/search_system_id", serial_num="122100001003")
    assert found.json() == {"system_id": 1003}
    missing = get(client, "/api/v2/systems/search_system_id", serial_num="000000000000")
    assert missing.status_code == 404
    assert missing.json()["reason"] == "404"
    validate("/api/v2/systems/search_system_id", 404, missing.json())


def test_unknown_system_is_v2s_401(client: httpx2.Client) -> None:
    response = get(client, "/api/v2/systems/999999/summary")
    assert response.status_code == 401
    assert response.json() == V2_401


@pytest.mark.parametrize("endpoint", ["envoys", "monthly_production"])
def test_deprecated_endpoints_answer_410_without_upstream_calls(
    client: httpx2.Client, servers: tuple[str, str], endpoint: str
) -> None:
    before = sandbox_calls(servers)
    response = get(client, f"/api/v2/systems/1001/{endpoint}")
    assert response.status_code == 410
    assert response.headers["Deprecation"].startswith("@")
    assert 'rel="successor-version"' in response.headers["Link"]
    assert "/api/v4/systems/" in response.headers["Link"]
    assert sandbox_calls(servers) == before


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/api/v2/systems/1001/stats", {"start_at": "yesterday"}),
        ("/api/v2/systems/1001/stats", {"start_at": 1_700_000_600, "end_at": 1_700_000_000}),
        ("/api/v2/systems/1001/summary", {"summary_date": "2999-01-01"}),
        ("/api/v2/systems/1001/summary", {"summary_date": "not-a-date"}),
        ("/api/v2/systems/1002/consumption_stats", {"end_at": "1e9"}),
    ],
)
def test_bad_parameters_are_v2_422(
    client: httpx2.Client, path: str, params: dict[str, Any]
) -> None:
    response = get(client, path, **params)
    assert response.status_code == 422
    body = response.json()
    assert body["reason"] == body["message"]  # v2's text in reason


def test_start_older_than_two_years_costs_no_upstream_call(
    client: httpx2.Client, servers: tuple[str, str]
) -> None:
    before = sandbox_calls(servers)
    old = int(dt.datetime.now(dt.UTC).timestamp()) - 800 * 86400
    response = get(client, "/api/v2/systems/1001/stats", start_at=old)
    assert response.status_code == 200
    assert response.json()["intervals"] == []
    assert sandbox_calls(servers) == before


def test_a_past_day_is_consistent_across_stats_energy_lifetime_and_summary(
    client: httpx2.Client,
) -> None:
    zone = ZoneInfo("America/Los_Angeles")
    day = dt.datetime.now(zone).date() - dt.timedelta(days=3)
    start = int(dt.datetime.combine(day, dt.time(), zone).timestamp())
    end = int(dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), zone).timestamp())
    stats = get(client, "/api/v2/systems/1001/stats", start_at=start, end_at=end).json()
    day_total = sum(i["enwh"] for i in stats["intervals"])
    assert day_total > 0
    lifetime = get(
        client,
        "/api/v2/systems/1001/energy_lifetime",
        start_date=day.isoformat(),
        end_date=day.isoformat(),
    ).json()
    assert lifetime["production"][0] == day_total
    summary = get(client, "/api/v2/systems/1001/summary", summary_date=day.isoformat()).json()
    assert summary["energy_today"] == day_total
    assert summary["current_power"] == 0


def test_v2_openapi_lists_every_route(client: httpx2.Client) -> None:
    doc = client.get("/api/v2/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    for template, _, _ in ENDPOINTS:
        assert template in doc["paths"]


def test_unknown_paths_and_methods_are_v2_shaped(client: httpx2.Client) -> None:
    response = client.get("/api/v2/nothing/here", params=AUTH)
    assert response.status_code == 404
    assert response.json()["reason"] == "404"
    response = client.post("/api/v2/systems/1001/summary", params=AUTH)
    assert response.status_code == 405
    assert response.json()["reason"] == "405"
    for path in ("/api/v2/systems//summary", "/api/v2/summary", "/api/v2/systems/1/2/summary"):
        response = client.get(path, params=AUTH)
        assert (response.status_code, response.json()["reason"]) == (404, "404"), path


def test_head_takes_the_router_and_a_trailing_slash_is_answered(client: httpx2.Client) -> None:
    got = get(client, "/api/v2/systems/1001/summary")
    head = client.head("/api/v2/systems/1001/summary", params=AUTH)
    assert (head.status_code, head.content) == (200, b"")
    assert head.headers["X-Cache"] == "HIT"
    assert head.headers["Content-Length"] == got.headers["Content-Length"]
    slash = client.get("/api/v2/systems/1001/summary/", params=AUTH)
    assert (slash.status_code, slash.json()) == (200, got.json())


def test_health_and_readiness(client: httpx2.Client) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.text


@pytest.fixture
def faulty(tmp_path: Path) -> Iterator[tuple[httpx2.Client, str]]:
    """A fresh proxy (empty cache) on its own sandbox, for fault injection."""
    with support.sandbox() as (sandbox_url, _):
        config = support.proxy_config(sandbox_url, tmp_path, "", per_minute=1000)
        with support.proxy(config) as proxy_url, httpx2.Client(base_url=proxy_url) as c:
            yield c, sandbox_url


def test_upstream_5xx_becomes_v2_503_with_retry_after(faulty: tuple[httpx2.Client, str]) -> None:
    client, sandbox_url = faulty
    httpx2.post(sandbox_url + "/_sandbox/faults", json={"error_rate": 1.0})
    response = get(client, "/api/v2/systems/1001/summary")
    assert response.status_code == 503
    body = response.json()
    assert set(body) == {"errorCode", "errorMessages"}
    assert "Retry-After" in response.headers


def test_upstream_429_becomes_v2_409(faulty: tuple[httpx2.Client, str]) -> None:
    client, sandbox_url = faulty
    httpx2.post(sandbox_url + "/_sandbox/faults", json={"force_429": True})
    response = get(client, "/api/v2/systems/1001/summary")
    assert response.status_code == 409
    body = response.json()
    assert body["reason"] == "409"
    assert body["period_end"] > body["period_start"] > 0
    validate("/api/v2/systems/{system_id}/summary", 409, body)


def test_stale_entry_served_when_upstream_fails(tmp_path: Path) -> None:
    extra = "[cache]\nttl = { summary = 1 }\nstale_while_revalidate = false"
    with support.sandbox() as (sandbox_url, _):
        config = support.proxy_config(sandbox_url, tmp_path, extra)
        with support.proxy(config) as proxy_url, httpx2.Client(base_url=proxy_url) as client:
            fresh = get(client, "/api/v2/systems/1001/summary")
            assert fresh.headers["X-Cache"] == "MISS"
            httpx2.post(sandbox_url + "/_sandbox/faults", json={"error_rate": 1.0})
            time.sleep(1.5)
            stale = get(client, "/api/v2/systems/1001/summary")
            assert stale.status_code == 200
            assert stale.headers["X-Cache"] == "STALE"
            assert int(stale.headers["Age"]) >= 1
            assert stale.json() == fresh.json()
            admin = {"Authorization": "Bearer test-admin-key"}
            assert client.post("/admin/cache/purge", headers=admin).json()["purged"] >= 1
            assert client.post("/admin/cache/purge").status_code == 401
            gone = get(client, "/api/v2/systems/1001/summary")
            assert gone.status_code == 503


def test_a_poller_just_past_freshness_gets_the_fresh_reply_when_the_budget_allows(
    tmp_path: Path,
) -> None:
    """Stale only when it must be: an affordable refresh is waited for, not left to the next."""
    extra = "[cache]\nttl = { summary = 1 }"
    with support.sandbox() as (sandbox_url, _):
        config = support.proxy_config(sandbox_url, tmp_path, extra, per_month=100_000_000)
        with support.proxy(config) as proxy_url, httpx2.Client(base_url=proxy_url) as client:
            assert get(client, "/api/v2/systems/1001/summary").headers["X-Cache"] == "MISS"
            time.sleep(1.3)  # past the 1 s freshness, within twice it
            polled = get(client, "/api/v2/systems/1001/summary")
        stats = httpx2.get(sandbox_url + "/_sandbox/stats").json()
    assert polled.status_code == 200
    assert (polled.headers["X-Cache"], polled.headers["Age"]) == ("MISS", "0")
    assert stats["api_calls_by_path"]["/api/v4/systems/1001/summary"] == 2


def test_a_refused_api_key_does_not_renew_the_token_on_every_request(tmp_path: Path) -> None:
    with support.sandbox() as (sandbox_url, _):
        config = support.proxy_config(sandbox_url, tmp_path, api_key="not-the-apps-key")
        with support.proxy(config) as url, httpx2.Client(base_url=url, timeout=30) as client:
            answers = [get(client, "/api/v2/systems/1001/summary") for _ in range(6)]
        stats = httpx2.get(sandbox_url + "/_sandbox/stats").json()
    assert [(a.status_code, a.json()) for a in answers] == [(401, V2_401)] * 6
    # One renewal after the first refusal; the renewed token refused too means it is not
    # the token: later requests get the refusal without spending the token endpoint.
    assert stats["token_grants"]["refresh_token"] == 1
    assert stats["api_calls"] == 7


@pytest.mark.parametrize(
    "authorization",
    ["test-admin-key", "bearer test-admin-ke", "Bearer test-admin-keyy", "Basic test-admin-key"],
)
def test_admin_purge_needs_the_bearer_scheme_and_the_exact_key(
    client: httpx2.Client, authorization: str
) -> None:
    """The admin key without ``Bearer `` (or any near miss) is refused (issue 15, finding 9)."""
    response = client.post("/admin/cache/purge", headers={"Authorization": authorization})
    assert response.status_code == 401
    accepted = client.post("/admin/cache/purge", headers={"Authorization": "bearer test-admin-key"})
    assert accepted.status_code == 200


def test_metrics_and_readiness_details_need_the_scrape_key(client: httpx2.Client) -> None:
    """Tenant names and quota are shown only with the scrape key (issue 15, finding 9)."""
    for headers in ({}, {"Authorization": "Bearer test-admin-key"}):
        assert client.get("/metrics", headers=headers).status_code == 401
        assert client.get("/readyz", headers=headers).json() == {"ready": True}
    metrics = client.get("/metrics", headers=support.SCRAPE)
    assert metrics.status_code == 200 and "enphase_proxy_requests_total" in metrics.text
    ready = client.get("/readyz", headers=support.SCRAPE).json()
    assert ready == {"ready": True, "problems": []}
