"""Fixtures: a sandbox on a real loopback socket with a fixed clock, and token helpers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx2
import pytest

from proxy.sandbox import DEMO, SandboxSettings, serve_in_thread
from tests.support import TLS

Api = Callable[..., httpx2.Response]  # GET (or POST with json=) an /api/v4 path as the demo user
NOW = int(datetime(2026, 6, 21, 18, 0, tzinfo=UTC).timestamp())


def fixed_clock() -> float:
    """The tests' clock: midsummer 2026, 18:00 UTC."""
    return float(NOW)


@pytest.fixture(scope="session")
def base_url() -> Iterator[str]:
    """URL of one sandbox served by uvicorn in a thread for the whole session."""
    with serve_in_thread(SandboxSettings(clock=fixed_clock)) as running:
        yield running.url


@pytest.fixture
def http(base_url: str) -> Iterator[httpx2.Client]:
    """A client of the served sandbox, reset before each test."""
    with httpx2.Client(base_url=base_url, timeout=10, verify=TLS) as client:
        client.post("/_sandbox/reset").raise_for_status()
        yield client


def password_token(
    client: httpx2.Client,
    username: str = DEMO.username,
    password: str = DEMO.password,
    app: tuple[str, str] = (DEMO.client_id, DEMO.client_secret),
) -> dict[str, Any]:
    """A token response from the password grant."""
    params = {"grant_type": "password", "username": username, "password": password}
    response = client.post("/oauth/token", params=params, auth=app)
    response.raise_for_status()
    tokens: dict[str, Any] = response.json()
    return tokens


@pytest.fixture(scope="session")
def demo_token(base_url: str) -> str:
    """An access token of the demo user for the Kilowatt app."""
    with httpx2.Client(base_url=base_url) as client:
        token: str = password_token(client)["access_token"]
        return token


@pytest.fixture(scope="session")
def fleet_token(base_url: str) -> str:
    """An access token of the fleet installer for the Kilowatt app."""
    with httpx2.Client(base_url=base_url) as client:
        token: str = password_token(client, DEMO.fleet_username, DEMO.fleet_password)[
            "access_token"
        ]
        return token


@pytest.fixture
def api(http: httpx2.Client, demo_token: str) -> Api:
    """GET (or POST with ``json=``) an /api/v4 path as the demo user with the demo key."""

    def call(
        path: str, token: str = demo_token, key: str = DEMO.api_key, **kwargs: Any
    ) -> httpx2.Response:
        params = {"key": key, **kwargs.pop("params", {})}
        headers = {"Authorization": f"Bearer {token}"}
        method = "POST" if "json" in kwargs else "GET"
        return http.request(method, f"/api/v4{path}", params=params, headers=headers, **kwargs)

    return call
