"""The /api/v4 broker route end to end: team keys, path safety, methods, writes, budget, cache."""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx2
import pytest

from proxy.config import Config, parse
from tests import support

TEAM_KEY = "demo-team-key"
WRITER_KEY = "writer-team-key"
STORM_GUARD = "/api/v4/systems/config/1001/storm_guard"
YEAR = 365 * 86400
DAY = 86400
WRITER_CLIENT = f"""
[[team_clients]]
name = "writer"
key = "{WRITER_KEY}"
tenants = ["demo"]
writes = true
"""


def bearer(key: str) -> dict[str, str]:
    """An Authorization header carrying ``key``."""
    return {"Authorization": f"Bearer {key}"}


TEAM = bearer(TEAM_KEY)


def api_calls(sandbox_url: str) -> int:
    """How many /api/v4 calls the sandbox has received."""
    calls: int = httpx2.get(sandbox_url + "/_sandbox/stats", verify=support.TLS).json()["api_calls"]
    return calls


@contextmanager
def no_upstream_call(sandbox_url: str) -> Iterator[None]:
    """Assert that the sandbox receives no /api/v4 call inside the block."""
    before = api_calls(sandbox_url)
    yield
    assert api_calls(sandbox_url) == before


def assert_v4_error(response: httpx2.Response, status: int) -> dict[str, Any]:
    """``response`` is a v4-shaped error with ``status``; returns its body."""
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["code"] == status
    assert isinstance(body["message"], str)
    assert isinstance(body["details"], str)
    return body


def raw_request(
    base_url: str, method: str, target: str, headers: dict[str, str]
) -> httpx2.Response:
    """Send ``target`` byte for byte (no client-side normalisation); the answer as httpx's."""
    address = urlsplit(base_url)
    connection = http.client.HTTPConnection(address.hostname or "", address.port, timeout=10)
    try:
        connection.request(method, target, headers=headers)
        answer = connection.getresponse()
        return httpx2.Response(answer.status, headers=answer.getheaders(), content=answer.read())
    finally:
        connection.close()


@pytest.fixture
def sandbox_url(servers: tuple[str, str]) -> str:
    """The module sandbox's URL."""
    return servers[1]


@pytest.mark.parametrize(
    ("headers", "params"),
    [(TEAM, {}), ({}, {"key": TEAM_KEY})],
    ids=["bearer", "query-key"],
)
def test_team_key_reads_through_the_broker(
    client: httpx2.Client, headers: dict[str, str], params: dict[str, str]
) -> None:
    """A team key in the Authorization header or in ``?key=`` gets the sandbox's v4 body."""
    response = client.get("/api/v4/systems/1001/summary", headers=headers, params=params)
    assert response.status_code == 200, response.text
    assert response.json()["system_id"] == 1001


@pytest.mark.parametrize(
    ("headers", "params"),
    [
        ({}, {}),
        (bearer("not-a-key"), {}),
        ({}, {"key": "not-a-key"}),
        (bearer("demo-v2-key"), {}),
        ({}, {"key": "demo-v2-key", "user_id": "demo-user"}),
    ],
    ids=["none", "unknown-bearer", "unknown-query", "v2-key", "v2-credentials"],
)
def test_other_keys_are_a_v4_401_without_upstream_call(
    client: httpx2.Client,
    sandbox_url: str,
    headers: dict[str, str],
    params: dict[str, str],
) -> None:
    """Missing, unknown and legacy v2 keys are refused with v4's 401 body."""
    with no_upstream_call(sandbox_url):
        response = client.get("/api/v4/systems/1001/summary", headers=headers, params=params)
    assert_v4_error(response, 401)


def test_the_sandbox_sees_the_tenant_key_never_the_proxy_key(
    client: httpx2.Client, sandbox_url: str
) -> None:
    """The proxy key is stripped; the upstream call carries the tenant's v4 API key."""
    response = client.get("/api/v4/systems/1003", params={"key": TEAM_KEY})
    assert response.status_code == 200, response.text
    calls = httpx2.get(sandbox_url + "/_sandbox/stats").json()["recent_calls"]
    mine = [call for call in calls if call["path"] == "/api/v4/systems/1003"]
    assert [call["query"] for call in mine] == ["key=sandbox-api-key"]
    assert not any(TEAM_KEY in json.dumps(call) for call in calls)


@pytest.mark.parametrize(
    "target",
    [
        "/api/v4/systems/1001/../1002/summary",
        "/api/v4/systems/1001/..%2f1002/summary",
        "/api/v4/systems/1001/..%2F1002/summary",
        "/api/v4/systems/1001/%2e%2e/1002/summary",
        "/api/v4/systems/%2e%2e/_sandbox/stats",
        "/api/v4/systems%2f1001%2fsummary",
        "/api/v4/systems/1001%2Fsummary",
        "/api/v4//systems/1001/summary",
        "/api/v4/systems//1001/summary",
        "/api/v4//evil.example/systems",
        "/api/v4/http://evil.example/systems",
        "/api/v4/@evil.example/systems/1001/summary",
        "/api/v4/systems/1001@evil.example/summary",
        "/api/v4/../_sandbox/stats",
        "/api/v4/oauth/token",
        "/api/v4/_sandbox/stats",
        "/api/v4/systems/1001/summary%00",
    ],
)
def test_unsafe_and_unpublished_paths_are_404_without_upstream_call(
    servers: tuple[str, str], sandbox_url: str, target: str
) -> None:
    """Traversal, encoded or doubled slashes, host tricks and unpublished paths never leave."""
    with no_upstream_call(sandbox_url):
        response = raw_request(servers[0], "GET", target, TEAM)
    assert_v4_error(response, 404)


def test_absolute_form_target_cannot_change_the_upstream(
    servers: tuple[str, str], sandbox_url: str
) -> None:
    """An absolute request target naming another host is still answered by the configured v4."""
    before = api_calls(sandbox_url)
    target = "http://evil.example/api/v4/systems/1002"
    response = raw_request(servers[0], "GET", target, TEAM)
    assert response.status_code == 200, response.text
    assert response.json()["system_id"] == 1002
    assert api_calls(sandbox_url) == before + 1


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PATCH", "/api/v4/systems/1001/summary"),
        ("OPTIONS", "/api/v4/systems/1001/summary"),
        ("PATCH", STORM_GUARD),
        ("PUT", "/api/v4/systems/1001/summary"),
        ("DELETE", "/api/v4/systems"),
    ],
)
def test_methods_the_path_does_not_publish_are_405(
    client: httpx2.Client, sandbox_url: str, method: str, path: str
) -> None:
    """PATCH, OPTIONS and writes on GET-only paths are 405 without an upstream call (HEAD is
    answered where GET is: issue 23)."""
    with no_upstream_call(sandbox_url):
        response = client.request(method, path, headers=TEAM)
    assert_v4_error(response, 405)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PUT", STORM_GUARD),
        ("POST", "/api/v4/partner/activations"),
        ("DELETE", "/api/v4/partner/activations/55"),
    ],
)
def test_read_only_client_cannot_write(
    client: httpx2.Client, sandbox_url: str, method: str, path: str
) -> None:
    """The default team client is read-only: published writes are 403 with no upstream call."""
    with no_upstream_call(sandbox_url):
        response = client.request(method, path, headers=TEAM, json={"system": {}})
    assert_v4_error(response, 403)


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/api/v4/systems/1001/telemetry/production_micro", {"start_at": -3 * YEAR}),
        (
            "/api/v4/systems/1002/telemetry/consumption_meter",
            {"start_at": -10 * DAY, "end_at": -2 * DAY},
        ),
    ],
    ids=["start-3-years-ago", "span-over-a-week"],
)
def test_v4_date_rules_are_checked_locally(
    client: httpx2.Client, sandbox_url: str, path: str, params: dict[str, int]
) -> None:
    """Windows v4 would refuse (start > 2 years back, span > 1 week) are 422 before any call."""
    now = int(time.time())
    absolute = {name: now + offset for name, offset in params.items()}
    with no_upstream_call(sandbox_url):
        response = client.get(path, headers=TEAM, params=absolute)
    assert_v4_error(response, 422)


def test_broker_gets_are_cached(client: httpx2.Client, sandbox_url: str) -> None:
    """A second identical GET is a cache HIT with the same body and no upstream call."""
    first = client.get("/api/v4/systems/1004/devices", headers=TEAM)
    assert first.status_code == 200, first.text
    with no_upstream_call(sandbox_url):
        second = client.get("/api/v4/systems/1004/devices", headers=TEAM)
    assert second.headers["X-Cache"] == "HIT"
    assert second.content == first.content


def writer_config(sandbox_url: str, data_dir: Path, writes_per_month: int) -> Config:
    """A config with a writes-enabled team client and the write budget in a SQLite file."""
    memory = '[quota]\nbackend = "memory"'
    text = support.config_text(sandbox_url, data_dir, writes_per_month=writes_per_month)
    assert memory in text
    text = text.replace(memory, '[quota]\nbackend = "file"') + WRITER_CLIENT
    path = data_dir / "proxy.toml"
    path.write_text(text, encoding="utf-8")
    return parse(text, str(path))


@pytest.fixture
def writable(tmp_path: Path) -> Iterator[tuple[str, Config]]:
    """(sandbox URL, config) of a fresh sandbox and a writer config with 3 writes a month."""
    with support.sandbox() as (sandbox_url, _):
        yield sandbox_url, writer_config(sandbox_url, tmp_path, writes_per_month=3)


def put_storm_guard(proxy_url: str) -> httpx2.Response:
    """The writer client's PUT of storm guard settings for system 1001."""
    body = {"storm_guard": {"enabled": True}}
    return httpx2.put(proxy_url + STORM_GUARD, headers=bearer(WRITER_KEY), json=body, timeout=30)


def test_writer_put_is_forwarded_and_audited(writable: tuple[str, Config]) -> None:
    """A writes-enabled client's PUT reaches the sandbox once and leaves one audit JSON line."""
    sandbox_url, config = writable
    started = int(time.time())
    with support.proxy(config) as proxy_url:
        response = put_storm_guard(proxy_url)
    stats = httpx2.get(sandbox_url + "/_sandbox/stats").json()
    assert stats["api_calls_by_path"] == {STORM_GUARD: 1}
    assert stats["recent_calls"][-1]["method"] == "PUT"
    lines = config.data_path("audit.log").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert started <= record.pop("time") <= time.time()
    assert record == {
        "client": "writer",
        "tenant": "demo",
        "method": "PUT",
        "path": "/systems/config/1001/storm_guard",
        "status": response.status_code,
    }


def assert_write_budget_spent(proxy_url: str, sandbox_url: str) -> None:
    """The next write is v4's 429 for the monthly write budget, with no upstream call."""
    with no_upstream_call(sandbox_url):
        body = assert_v4_error(put_storm_guard(proxy_url), 429)
    assert body["period"] == "month"
    assert body["limit"] == 3
    assert body["period_start"] <= time.time() < body["period_end"]


def test_write_budget_is_enforced_and_survives_a_restart(writable: tuple[str, Config]) -> None:
    """With writes_per_month = 3 the 4th write is 429, and still is after a proxy restart."""
    sandbox_url, config = writable
    with support.proxy(config) as proxy_url:
        statuses = [put_storm_guard(proxy_url).status_code for _ in range(3)]
        assert 429 not in statuses
        assert_write_budget_spent(proxy_url, sandbox_url)
    with support.proxy(config) as proxy_url:
        assert_write_budget_spent(proxy_url, sandbox_url)
    assert api_calls(sandbox_url) == 3
    audit = config.data_path("audit.log").read_text(encoding="utf-8").splitlines()
    assert len(audit) == 5  # three forwarded writes, then two the proxy refused itself
    assert [json.loads(line)["status"] for line in audit[3:]] == [429, 429]


def test_only_parameters_v4_defines_reach_the_upstream_and_the_cache_key(
    client: httpx2.Client, sandbox_url: str
) -> None:
    """Unknown names and other letter cases (``KEY``) are dropped, upstream and in the cache key.

    Issue 15, findings 8 and 9: they used to be sent upstream and (but for ``KEY``) keyed.
    """
    path = "/api/v4/systems/1002/energy_lifetime"
    asked = {"start_date": "2024-01-01", "KEY": "a", "junk": "1"}
    first = client.get(path, headers=TEAM, params=asked)
    assert first.status_code == 200, first.text
    calls = httpx2.get(sandbox_url + "/_sandbox/stats").json()["recent_calls"]
    sent = [call["query"] for call in calls if call["path"] == path]
    assert sent == ["start_date=2024-01-01&key=sandbox-api-key"]
    with no_upstream_call(sandbox_url):
        second = client.get(path, headers=TEAM, params={**asked, "KEY": "b", "junk": "2"})
    assert second.headers["X-Cache"] == "HIT"


def test_writes_the_proxy_refuses_are_audited(writable: tuple[str, Config]) -> None:
    """A read-only client's PUT and an unknown key's DELETE leave audit lines (issue 15, 9)."""
    sandbox_url, config = writable
    with support.proxy(config) as proxy_url, no_upstream_call(sandbox_url):
        body = {"storm_guard": {"enabled": True}}
        httpx2.put(proxy_url + STORM_GUARD, headers=TEAM, json=body, timeout=30)
        httpx2.delete(proxy_url + "/api/v4/partner/activations/55", headers=bearer("not-a-key"))
    audit = config.data_path("audit.log").read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in audit]
    assert [(r["client"], r["tenant"], r["method"], r["status"]) for r in records] == [
        ("team", "demo", "PUT", 403),
        (None, None, "DELETE", 401),
    ]


TEAM_SHARE_TENANT: support.PlanLimits = {"per_minute": 1000, "per_month": 20}


def test_a_team_client_cannot_drain_the_tenants_month(tmp_path: Path) -> None:
    """A team client spends at most its share (half by default); legacy clients still answered.

    Issue 15, finding 8: one script used to spend the whole month, leaving legacy clients 409s.
    """
    with support.sandbox() as (sandbox_url, _):
        config = support.proxy_config(sandbox_url, tmp_path, **TEAM_SHARE_TENANT)
        with support.proxy(config) as proxy_url, httpx2.Client(base_url=proxy_url) as client:
            path = "/api/v4/systems/1002/energy_lifetime"
            replies = [
                client.get(path, headers=TEAM, params={"start_date": f"2024-01-{day:02}"})
                for day in range(1, 16)
            ]
            legacy = client.get(
                "/api/v2/systems/1001/summary",
                params={"key": "demo-v2-key", "user_id": "demo-user"},
            )
    assert [r.status_code for r in replies] == [200] * 10 + [429] * 5
    body = assert_v4_error(replies[-1], 429)
    assert (body["period"], body["limit"]) == ("month", 10)
    assert legacy.status_code == 200, legacy.text
