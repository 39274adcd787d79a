"""Errors in each surface's shape: v2 bodies on v2 routes, v4 on /api/v4; never a traceback."""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path
from typing import Any

import httpx2
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Route
from starlette.testclient import TestClient
from starlette.types import Message

from mappings.base import V2Error
from proxy.app import create_app
from proxy.errors import (
    InternalError,
    ProxyError,
    QuotaRefused,
    Reauthorization,
    SpentWindow,
    UpstreamTimeout,
    V2Refusal,
)
from proxy.http import renderers
from proxy.http.middleware import RequestContext
from tests import support

V4_BODY_KEYS = {"message", "details", "code"}


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> TestClient:
    """The proxy app, its lifespan not run: refusals and the router need no services."""
    config = support.proxy_config("http://127.0.0.1:9", tmp_path_factory.mktemp("render"))
    return TestClient(create_app(config))


def v4_error(response: httpx2.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == V4_BODY_KEYS and body["code"] == status
    return body


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"),
    [
        ("GET", "/api/v4/nothing", {"headers": {"Authorization": "Bearer demo-team-key"}}, 404),
        ("TRACE", "/api/v4/systems", {}, 405),
        ("POST", "/api/v4/systems/search", {"content": b" " * (1024 * 1024 + 1)}, 413),
        ("GET", "/api/v4/systems?pad=" + "x" * 5000, {}, 414),
        ("GET", "/api/v4/systems", {"headers": {f"X-{n}": "v" for n in range(200)}}, 431),
    ],
)
def test_v4_clients_get_v4_shaped_refusals(
    client: TestClient, method: str, path: str, kwargs: dict[str, Any], status: int
) -> None:
    v4_error(client.request(method, path, **kwargs), status)


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "body"),
    [
        ("GET", "/api/v2/nothing", {}, {"reason": "404", "errorMessages": ["No such endpoint."]}),
        (
            "POST",
            "/api/v2/systems/1/summary",
            {},
            {"reason": "405", "message": ["Method not allowed"]},
        ),
        (
            "GET",
            "/api/v2/systems?pad=" + "x" * 5000,
            {},
            {"reason": "414", "message": ["Request URI too long."]},
        ),
        (
            "GET",
            "/api/v2/systems",
            {"headers": {f"X-{n}": "v" for n in range(200)}},
            {"reason": "431", "message": ["Request header fields too large."]},
        ),
    ],
)
def test_v2_clients_keep_the_v2_bodies(
    client: TestClient, method: str, path: str, kwargs: dict[str, Any], body: dict[str, Any]
) -> None:
    response = client.request(method, path, **kwargs)
    assert (response.status_code, response.json()) == (int(body["reason"]), body)


async def crash(request: object) -> None:
    raise RuntimeError("a defect")


def test_a_crash_is_a_500_in_each_surface_shape() -> None:
    app = Starlette(
        routes=[Route("/api/v4/boom", crash), Route("/api/v2/boom", crash)],
        middleware=[Middleware(RequestContext)],
        exception_handlers=renderers.HANDLERS,
    )
    with TestClient(app, raise_server_exceptions=False) as c:
        v4 = v4_error(c.get("/api/v4/boom"), 500)
        assert v4["details"] == "Internal error in the proxy."
        v2 = c.get("/api/v2/boom")
        assert (v2.status_code, v2.json()) == (
            500,
            {"errorCode": 1, "errorMessages": ["Internal error in the proxy."]},
        )


def test_quota_refusals_carry_the_window_in_both_shapes() -> None:
    refused = QuotaRefused(SpentWindow("Watt", "minute", 1000, 1060, 10), now=1030)
    v4 = renderers.render("/api/v4/systems", refused)
    assert v4.status_code == 429 and v4.headers["Retry-After"] == "30"
    assert httpx2.Response(429, content=bytes(v4.body)).json() == {
        "message": "Too Many Requests",
        "details": "Usage limit exceeded for plan Watt",
        "code": 429,
        "period": "minute",
        "period_start": 1000,
        "period_end": 1060,
        "limit": 10,
    }
    v2 = renderers.v2(refused)
    assert v2.status == 409 and v2.body["period_end"] == 1060 and v2.body["reason"] == "409"


def test_upstream_failures_are_503_for_v2_and_say_so_for_v4() -> None:
    assert renderers.v2(UpstreamTimeout()).body == {
        "errorCode": 7,
        "errorMessages": ["Data temporarily unavailable."],
    }
    assert renderers.render("/api/v4/x", UpstreamTimeout()).status_code == 503
    reauth = renderers.v2(Reauthorization("run: enphase-proxy auth login --tenant t"))
    assert reauth.status == 401 and "auth login --tenant t" in reauth.body["message"][1]


def test_only_the_renderers_write_error_bodies() -> None:
    # The sandbox is the simulated v4 API: the bodies it writes are Enphase's, not the proxy's.
    root = Path(__file__).resolve().parent.parent / "proxy"
    writers = [
        str(path.relative_to(root))
        for path in root.rglob("*.py")
        if path.name != "renderers.py"
        and "sandbox" not in path.parts
        and re.search(r"""\{"(reason|errorCode|errorMessages|error)":""", path.read_text())
    ]
    assert writers == []


def test_a_mapping_error_is_no_second_root_of_the_renderers() -> None:
    assert set(renderers.HANDLERS) == {ProxyError, 404, 405}
    # a mapping's V2Error reaching a renderer is a defect: the v2 runner converts it first
    assert isinstance(renderers.lift(V2Error(409, {"reason": "409"})), InternalError)
    refusal = V2Refusal(V2Error(410, {"reason": "410"}, (("Deprecation", "@1"),)).response())
    response = renderers.render("/api/v2/systems", refusal)
    assert (response.status_code, response.headers["Deprecation"]) == (410, "@1")


@pytest.mark.parametrize(
    ("path", "query", "sender"),
    [
        ("/api/v4/nothing", b"", "Exchange.send"),  # through the app's layers
        ("/api/v2/systems", b"key=wrong&user_id=nobody", "Exchange.whole"),  # answered whole
    ],
)
def test_answers_reach_the_server_through_the_request_context_alone(
    path: str, query: bytes, sender: str, tmp_path: Path
) -> None:
    """Starlette's last-resort error layer is left out (RequestContext answers every error in
    its surface's shape): each message an answer sends reaches the server straight from
    RequestContext, not through another wrapper; a v2 GET's is sent by it whole."""
    app = create_app(support.proxy_config("http://127.0.0.1:9", tmp_path))
    callers: list[str] = []
    statuses: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        callers.append(sys._getframe(1).f_code.co_qualname)
        statuses.extend([message["status"]] if "status" in message else [])

    scope = {"type": "http", "method": "GET", "path": path, "headers": []}
    asyncio.run(app({**scope, "raw_path": path.encode(), "query_string": query}, receive, send))
    assert callers == [sender] * 2
    assert statuses == [401]  # neither caller is known
