"""An upstream 200 that is not the data its endpoint sends is an upstream failure, never data.

The proxy runs in-process on a real socket; OAuth is the sandbox's, and the v4 API is a small
upstream on its own socket answering whatever body the test sets.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import orjson
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from proxy.config import parse
from tests import support

SUMMARY = (
    b'{"system_id":1001,"current_power":10,"energy_lifetime":5000,"energy_today":50,'
    b'"last_interval_end_at":1700000000,"last_report_at":1700000100,"modules":4,'
    b'"operational_at":1600000000,"size_w":1200,"source":"microinverters","status":"normal",'
    b'"summary_date":"2023-11-14"}'
)
GARBAGE = [
    (b"", "application/json"),
    (b"<html><body>Service maintenance</body></html>", "text/html"),
    (b"{}", "application/json"),
    (b"[1,2]", "application/json"),
    (b'"ok"', "application/json"),
    # an item of the wrong type: never a 0 in its place
    (SUMMARY.replace(b'"energy_lifetime":5000', b'"energy_lifetime":"many"'), "application/json"),
    (SUMMARY.replace(b'"energy_lifetime":5000', b'"energy_lifetime":null'), "application/json"),
]
JSON = "application/json"
V2 = "/api/v2/systems/1001/summary?key=demo-v2-key&user_id=demo-user"
V4 = "/api/v4/systems/1001/summary"
TEAM = {"Authorization": "Bearer demo-team-key"}
ADMIN = {"Authorization": "Bearer test-admin-key"}


@dataclass
class Upstream:
    """What the fake v4 API answers next, and the paths it was asked for."""

    body: bytes = SUMMARY
    content_type: str = "application/json"
    asked: list[str] = field(default_factory=list)
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)

    async def answer(self, request: Request) -> Response:
        """The set body, recording the path asked for."""
        self.asked.append(request.url.path)
        return Response(self.body, self.status, self.headers, media_type=self.content_type)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Upstream]]:
    """(proxy URL, the fake upstream), summaries fresh for one second and never revalidated."""
    upstream = Upstream()
    app = Starlette(routes=[Route("/api/v4/{path:path}", upstream.answer)])
    extra = "[cache]\nttl = { summary = 1 }\nstale_while_revalidate = false\n"
    with support.sandbox() as (sandbox_url, _), support.uvicorn_thread(app) as api_url:
        data_dir = Path(tmp_path_factory.mktemp("garbage"))
        text = support.config_text(sandbox_url, data_dir, extra).replace(
            f'api_root = "{sandbox_url}/api/v4"', f'api_root = "{api_url}/api/v4"'
        )
        config = parse(text, str(data_dir / "proxy.toml"))
        with support.proxy(config) as proxy_url:
            yield proxy_url, upstream


@pytest.mark.parametrize(("body", "content_type"), GARBAGE)
def test_garbage_is_a_503_for_v2_and_a_502_for_v4_and_never_cached(
    served: tuple[str, Upstream], body: bytes, content_type: str
) -> None:
    url, upstream = served
    upstream.body, upstream.content_type = body, content_type
    with httpx2.Client(base_url=url) as client:
        client.post("/admin/cache/purge", headers=ADMIN).raise_for_status()  # no earlier reply
        asked = len(upstream.asked)
        for _ in range(2):
            legacy = client.get(V2)
            assert legacy.status_code == 503, legacy.text
            assert set(legacy.json()) == {"errorCode", "errorMessages"}
            assert legacy.headers["Retry-After"]
            team = client.get(V4, headers=TEAM)
            assert team.status_code == 502, team.text
            assert team.json()["code"] == 502
        assert len(upstream.asked) - asked == 4  # every call asked again: nothing was cached


def test_garbage_serves_the_stale_reply_when_there_is_one(
    served: tuple[str, Upstream], caplog: pytest.LogCaptureFixture
) -> None:
    url, upstream = served
    upstream.body, upstream.content_type = SUMMARY, "application/json"
    with httpx2.Client(base_url=url) as client:
        client.post("/admin/cache/purge", headers=ADMIN).raise_for_status()
        fresh = client.get(V2)
        assert fresh.status_code == 200 and fresh.json()["energy_today"] == 50
        upstream.body = b"[1,2]"
        time.sleep(1.1)
        with caplog.at_level(logging.WARNING):
            stale = client.get(V2)
        assert stale.status_code == 200 and stale.headers["X-Cache"] == "STALE"
        assert stale.json() == fresh.json()
    garbage = [r for r in caplog.records if getattr(r, "endpoint", None) == "summary"]
    assert len(garbage) == 1, [r.getMessage() for r in caplog.records]


def test_an_array_where_the_system_belongs_is_a_503_not_a_500(
    served: tuple[str, Upstream],
) -> None:
    url, upstream = served
    upstream.body, upstream.content_type = b"[1,2]", "application/json"
    for route in ("stats", "inventory", "consumption_stats", "rgm_stats", "energy_lifetime"):
        answer = httpx2.get(f"{url}/api/v2/systems/1001/{route}?key=demo-v2-key&user_id=demo-user")
        assert answer.status_code == 503, (route, answer.text)


@pytest.mark.parametrize(
    ("status", "body", "content_type", "details"),
    [
        (500, b"<html><h1>500</h1><script>x()</script></html>", "text/html", "500"),
        (504, b"", "text/plain", "The upstream answered 504 without a body"),
        (503, b'{"errorCode":7,"errorMessages":["Data unavailable"]}', JSON, "Data unavailable"),
        (404, b'{"message":"Not Found","details":"No system","code":404}', JSON, "No system"),
    ],
)
def test_upstream_errors_are_v4_shaped_with_their_status_and_retry_after(
    served: tuple[str, Upstream], status: int, body: bytes, content_type: str, details: str
) -> None:
    url, upstream = served
    upstream.body, upstream.content_type, upstream.status = body, content_type, status
    upstream.headers = {"Retry-After": "120"}
    try:
        with httpx2.Client(base_url=url) as client:
            client.post("/admin/cache/purge", headers=ADMIN).raise_for_status()
            team = client.get(V4, headers=TEAM)
            legacy = client.get(V2) if status >= 500 else None
    finally:
        upstream.status, upstream.headers = 200, {}
    assert team.status_code == status
    assert team.headers["content-type"].startswith("application/json")
    assert team.json()["details"] == details and team.json()["code"] == status
    assert set(team.json()) == {"message", "details", "code"}
    assert team.headers["Retry-After"] == "120"
    if legacy is not None:
        assert legacy.status_code == 503 and legacy.headers["Retry-After"] == "120"


# Last in the module: it leaves the tenant's month blocked.
def test_a_409_after_an_upstream_429_names_one_plan_limit_and_month(
    served: tuple[str, Upstream],
) -> None:
    url, upstream = served
    v4_429: dict[str, Any] = {
        "message": "Too Many Requests",
        "details": "Usage limit exceeded for plan Watt",
    }
    v4_429 |= {"code": 429, "period": "month", "period_start": 0, "limit": 1000}
    v4_429 |= {"period_end": 4_102_444_799}  # one second before a month ends, as v4 sends
    upstream.body, upstream.status = orjson.dumps(v4_429), 429
    try:
        with httpx2.Client(base_url=url) as client:
            client.post("/admin/cache/purge", headers=ADMIN).raise_for_status()
            first = client.get(V2)  # the upstream's 429
            again = client.get(V2)  # the proxy's own refusal: the month is blocked now
    finally:
        upstream.status = 200
    assert first.status_code == again.status_code == 409
    assert first.json() == again.json()
    assert first.json()["message"] == ["Usage limit exceeded for plan Kilowatt"]
    assert first.json()["limit"] == 1_000_000  # the configured month, not the upstream's 1000
    assert first.json()["period_end"] % 3600 == 0  # the proxy's own month ends on the hour
