"""The token broker against the sandbox: grants, refresh paths, re-authorization, callback."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx2
import pytest
from prometheus_client import REGISTRY
from starlette.applications import Starlette
from starlette.testclient import TestClient

from proxy.app import opened_services
from proxy.cli.auth import authorize_url
from proxy.clock import VirtualClock
from proxy.config import Config
from proxy.errors import Reauthorization
from proxy.http import callback_route
from proxy.sandbox import DEMO, Running, SandboxSettings, serve_in_thread
from proxy.sandbox import create_app as create_sandbox
from proxy.tokens import NeedsReauthorization, TokenBroker, TokenError, TokenUnavailable
from proxy.tokens.login_state import PENDING_SECONDS, PendingLogins
from proxy.upstream.authorize import VERIFY_PAUSE
from tests import support

pytestmark = pytest.mark.anyio
MakeConfig = Callable[..., Config]  # a one-tenant config against the sandbox
SECRETS = ("sandbox-client-secret", "demo-password", "sandbox-api-key")


@pytest.fixture
def anyio_backend() -> str:
    """Async tests run on asyncio."""
    return "asyncio"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Running]:
    """The sandbox in a thread, with day-long access tokens."""
    with serve_in_thread(SandboxSettings()) as running:
        yield running


@pytest.fixture
def make_config(sandbox: Running, tmp_path: Path) -> MakeConfig:
    """A one-tenant config (unique tenant name) against the sandbox."""

    def make(**kwargs: Any) -> Config:
        kwargs.setdefault("tenant", f"t-{secrets.token_hex(4)}")
        return support.token_config(sandbox.url, tmp_path, **kwargs)

    return make


def tenant_of(config: Config) -> str:
    """The config's only tenant."""
    return next(iter(config.tenants))


def assert_secret_free(text: str, *extra: str | None) -> None:
    """No configured secret and none of ``extra`` occurs in ``text``."""
    for secret in (*SECRETS, *extra):
        assert not secret or secret not in text


def reauth_count(tenant: str) -> float:
    """The REAUTH_NEEDED counter for ``tenant``."""
    sample = "enphase_proxy_reauthorization_needed_total"
    return REGISTRY.get_sample_value(sample, {"tenant": tenant}) or 0.0


async def test_password_tenant_obtains_a_token_by_itself(
    make_config: MakeConfig, sandbox: Running
) -> None:
    config = make_config()
    tenant = tenant_of(config)
    broker = TokenBroker(config, detached=False)
    await broker.start()
    try:
        token = await broker.access_token(tenant)
        assert support.token_works(sandbox.url, token)
        assert await broker.access_token(tenant) == token
        [status] = await broker.status()
        assert (status.state, status.has_refresh_token) == ("ok", True)
        assert not broker.needs_reauthorization(tenant)
    finally:
        await broker.close()


@pytest.mark.slow
async def test_refresh_runs_in_a_detached_process(
    make_config: MakeConfig, sandbox: Running
) -> None:
    config = make_config()
    tenant = tenant_of(config)
    broker = TokenBroker(config)
    try:
        first = await broker.access_token(tenant)
        before = support.grants(sandbox.url)["refresh_token"]
        second = await broker.refresh(tenant)
        assert second != first and support.token_works(sandbox.url, second)
        assert support.grants(sandbox.url)["refresh_token"] == before + 1
        assert await broker.access_token(tenant) == second
    finally:
        await broker.close()


async def test_401_uses_a_newer_stored_token_else_refreshes_once(
    make_config: MakeConfig, sandbox: Running
) -> None:
    config = make_config()
    tenant = tenant_of(config)
    one, other = TokenBroker(config, detached=False), TokenBroker(config, detached=False)
    try:
        old = await one.access_token(tenant)
        newer = await other.refresh(tenant)
        before = support.grants(sandbox.url)["refresh_token"]
        assert await one.refresh_after_401(tenant, old) == newer
        assert support.grants(sandbox.url)["refresh_token"] == before
        results = await asyncio.gather(*(one.refresh_after_401(tenant, newer) for _ in range(20)))
        assert len(set(results)) == 1 and newer not in results
        assert support.token_works(sandbox.url, results[0])
        assert support.grants(sandbox.url)["refresh_token"] == before + 1
    finally:
        await one.close()
        await other.close()


async def test_background_refresh_ahead(tmp_path: Path) -> None:
    with serve_in_thread(SandboxSettings(access_token_ttl=4)) as sandbox:
        config = support.token_config(
            sandbox.url, tmp_path, tokens="refresh_margin = 2\ncheck_interval = 1"
        )
        tenant = tenant_of(config)
        broker = TokenBroker(config, detached=False)
        await broker.start()
        try:
            first = await broker.access_token(tenant)
            deadline = time.monotonic() + 6
            while support.present(await broker.store.load(tenant)).access_token == first:
                assert time.monotonic() < deadline, "no refresh ahead of expiry"
                await asyncio.sleep(0.2)
            record = support.present(await broker.store.load(tenant))
            assert support.token_works(sandbox.url, record.access_token)
            assert support.grants(sandbox.url)["refresh_token"] >= 1
        finally:
            await broker.close()


async def test_import_without_refresh_token_serves_until_expiry(
    make_config: MakeConfig, sandbox: Running, caplog: pytest.LogCaptureFixture
) -> None:
    config = make_config(grant="authorization_code", password=False)
    tenant = tenant_of(config)
    tokens = support.fresh_tokens(sandbox.url)
    broker, other = TokenBroker(config, detached=False), TokenBroker(config, detached=False)
    caplog.set_level(logging.INFO, "proxy.tokens")
    try:
        await broker.import_tokens(tenant, tokens["access_token"], None, int(time.time()) + 2)
        assert await broker.access_token(tenant) == tokens["access_token"]
        await asyncio.sleep(2.1)
        failures = await asyncio.gather(
            *(broker.access_token(tenant) for _ in range(20)), return_exceptions=True
        )
        assert all(isinstance(f, NeedsReauthorization) for f in failures)
        assert f"auth login --tenant {tenant}" in cast(NeedsReauthorization, failures[0]).hint
        with pytest.raises(NeedsReauthorization):
            await other.access_token(tenant)
        await other.start()
        assert other.needs_reauthorization(tenant)
        errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert len(errors) == 1 and tenant in errors[0].getMessage()
        assert "auth login" in errors[0].getMessage()
        assert reauth_count(tenant) == 1
        text = caplog.text + "".join(map(str, failures))
        assert_secret_free(text, tokens["access_token"])
    finally:
        await broker.close()
        await other.close()


async def test_invalid_grant_needs_reauthorization_logged_once(
    make_config: MakeConfig, caplog: pytest.LogCaptureFixture
) -> None:
    config = make_config(grant="authorization_code", password=False)
    tenant = tenant_of(config)
    bogus = f"bogus-refresh-{secrets.token_hex(8)}"
    broker = TokenBroker(config)
    caplog.set_level(logging.INFO, "proxy.tokens")
    try:
        await broker.import_tokens(tenant, "expired-access", bogus, int(time.time()) - 10)
        failures = await asyncio.gather(
            *(broker.access_token(tenant) for _ in range(50)), return_exceptions=True
        )
        assert all(isinstance(f, NeedsReauthorization) for f in failures)
        with pytest.raises(NeedsReauthorization):
            await broker.refresh_after_401(tenant, "expired-access")
        errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert len(errors) == 1
        assert f"enphase-proxy auth login --tenant {tenant}" in errors[0].getMessage()
        assert reauth_count(tenant) == 1
        [status] = await broker.status()
        assert status.state == "needs_reauthorization" and "auth login" in status.detail
        assert broker.needs_reauthorization(tenant)
        assert support.present(await broker.store.load(tenant)).refresh_token == bogus
        text = caplog.text + "".join(map(str, failures)) + str(status)
        assert_secret_free(text, bogus, "expired-access")
    finally:
        await broker.close()


async def test_password_tenant_falls_back_to_password_on_invalid_grant(
    make_config: MakeConfig, sandbox: Running
) -> None:
    config = make_config()
    tenant = tenant_of(config)
    broker = TokenBroker(config, detached=False)
    try:
        await broker.import_tokens(tenant, "expired", "bogus-refresh", int(time.time()) - 10)
        assert support.token_works(sandbox.url, await broker.access_token(tenant))
        assert not broker.needs_reauthorization(tenant)
    finally:
        await broker.close()


async def test_upstream_trouble_keeps_a_valid_token_and_backs_off(
    make_config: MakeConfig, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[httpx2.Request] = []

    def down(request: httpx2.Request) -> httpx2.Response:
        calls.append(request)
        return httpx2.Response(503, text="maintenance")

    config = make_config(grant="authorization_code")
    tenant = tenant_of(config)
    broker = TokenBroker(config, httpx2.MockTransport(down))
    caplog.set_level(logging.INFO, "proxy.tokens")
    try:
        soon = int(time.time()) + 60
        await broker.import_tokens(tenant, "still-valid", "some-refresh", soon)
        assert await broker.access_token(tenant) == "still-valid"
        assert await broker.access_token(tenant) == "still-valid"
        assert len(calls) == 1
        assert calls[0].headers["authorization"].startswith("Basic ")
        with pytest.raises(TokenUnavailable):
            await broker.refresh_after_401(tenant, "still-valid")
        await broker.import_tokens(tenant, "expired", "some-refresh", int(time.time()) - 1)
        with pytest.raises(TokenUnavailable):
            await broker.access_token(tenant)
        assert_secret_free(caplog.text, "some-refresh", "still-valid")
    finally:
        await broker.close()


async def test_code_tenant_without_token(
    make_config: MakeConfig, caplog: pytest.LogCaptureFixture
) -> None:
    config = make_config(grant="authorization_code", password=False)
    tenant = tenant_of(config)
    broker = TokenBroker(config)
    caplog.set_level(logging.INFO, "proxy.tokens")
    await broker.start()
    try:
        assert broker.needs_reauthorization(tenant)
        for _ in range(3):
            with pytest.raises(NeedsReauthorization, match="no token stored"):
                await broker.access_token(tenant)
        assert len(caplog.records) == 1 and "auth login" in caplog.records[0].getMessage()
        [status] = await broker.status()
        assert status.state == "missing"
    finally:
        await broker.close()


def code_and_state(url: str, **extra: str) -> tuple[str, str]:
    """(code, state) from the sandbox's authorize redirect; ``extra`` picks another user."""
    redirect = httpx2.get(f"{url}&{urlencode(extra)}" if extra else url).headers["location"]
    query = parse_qs(urlsplit(redirect).query)
    return query["code"][0], query.get("state", [""])[0]


def callback_app(broker: TokenBroker) -> Starlette:
    """The callback route alone, on ``broker``."""
    return Starlette(routes=[callback_route(lambda: broker)])


def test_oauth_callback_completes_a_pending_login_once(
    make_config: MakeConfig, sandbox: Running
) -> None:
    config = make_config(grant="authorization_code", password=False)
    tenant = tenant_of(config)
    broker = TokenBroker(config, detached=False)
    pending = PendingLogins(config, broker.clock)
    state = asyncio.run(pending.begin(tenant))
    url = authorize_url(config, config.tenants[tenant], state)
    assert httpx2.get(url).headers["location"].startswith(config.tenants[tenant].redirect_uri)
    code, echoed = code_and_state(url)
    assert echoed == state and len(state) >= 40
    with TestClient(callback_app(broker)) as client:
        done = client.get("/oauth/callback", params={"code": code, "state": state})
        assert done.status_code == 200 and tenant in done.text
        record = support.present(support.stored(config, tenant))
        assert support.token_works(sandbox.url, record.access_token)
        assert_secret_free(done.text, record.access_token, record.refresh_token, code, state)
        again = client.get("/oauth/callback", params={"code": code, "state": state})
        assert again.status_code == 400 and code not in again.text
        state = asyncio.run(pending.begin(tenant))
        denied = client.get("/oauth/callback", params={"error": "access_denied", "state": state})
        assert denied.status_code == 400
    assert support.stored(config, tenant) == record


def test_oauth_callback_cannot_rebind_a_tenant_to_another_account(
    make_config: MakeConfig, sandbox: Running
) -> None:
    """``state=<tenant>`` with a code of another account changes nothing (issue 15, finding 2).

    Neither does a state that expired or one made for another tenant's login.
    """
    config = make_config(grant="authorization_code", password=False)
    tenant = tenant_of(config)
    broker = TokenBroker(config, detached=False)
    pending = PendingLogins(config, broker.clock)
    own, state = code_and_state(authorize_url(config, config.tenants[tenant], "x"))
    with TestClient(callback_app(broker)) as client:
        state = asyncio.run(pending.begin(tenant))
        accepted = client.get("/oauth/callback", params={"code": own, "state": state})
        assert accepted.status_code == 200
        before = support.stored(config, tenant)
        expired = asyncio.run(
            PendingLogins(config, VirtualClock(time.time() - PENDING_SECONDS - 1)).begin(tenant)
        )
        for forged in (tenant, "", expired, secrets.token_urlsafe(32)):
            url = authorize_url(config, config.tenants[tenant], forged)
            other, _ = code_and_state(url, username=DEMO.fleet_username)
            refused = client.get("/oauth/callback", params={"code": other, "state": forged})
            assert refused.status_code == 400
    assert support.stored(config, tenant) == before


async def test_unknown_tenant_is_a_programming_error(make_config: MakeConfig) -> None:
    broker = TokenBroker(make_config(), detached=False)
    try:
        with pytest.raises(ValueError):
            await broker.access_token("nobody")
    finally:
        await broker.close()
    assert issubclass(NeedsReauthorization, TokenError)


async def test_an_idle_tenant_keeps_a_working_token_for_40_days_on_a_virtual_clock(
    tmp_path: Path,
) -> None:
    clock = VirtualClock(1_781_542_800)
    sandbox = create_sandbox(SandboxSettings(clock=clock.now))  # refresh tokens live 7 days
    config = support.token_config(
        "http://sandbox",
        tmp_path,
        grant="authorization_code",
        password=False,
        tokens="check_interval = 3600",
    )
    transport = httpx2.ASGITransport(sandbox)
    async with httpx2.AsyncClient(transport=transport, base_url="http://sandbox") as http:
        user = {"username": "demo@example.com", "password": "demo-password"}
        form = {"grant_type": "password", **user}
        tokens = (await http.post("/oauth/token", data=form, auth=support.CLIENT)).json()
        broker = TokenBroker(config, transport, clock=clock)
        access, refresh = tokens["access_token"], tokens["refresh_token"]
        await broker.import_tokens("demo", access, refresh, int(clock.now()) + tokens["expires_in"])
        await broker.start()  # no request comes: only the refresh-ahead task runs
        try:
            end = clock.now() + 40 * 86400
            while clock.now() < end:
                await asyncio.sleep(0)
            record = await broker.store.load("demo")
            assert record is not None and not record.reauthorize
            auth = {"Authorization": f"Bearer {record.access_token}"}
            key = {"key": "sandbox-api-key"}
            reply = await http.get("/api/v4/systems", params=key, headers=auth)
            assert reply.status_code == 200
            refreshes = (await http.get("/_sandbox/stats")).json()["token_grants"]["refresh_token"]
            assert refreshes >= 40
        finally:
            await broker.close()


@pytest.mark.parametrize(("answers", "marked"), [((401, 200), False), ((401, 401), True)])
async def test_a_401_on_a_token_without_refresh_token_is_verified_before_marking(
    make_config: MakeConfig, answers: tuple[int, int], marked: bool
) -> None:
    """One 401 is asked again after a pause; only a second one marks the tenant (issue 15, 9).

    The upstream is a MockTransport: the sandbox cannot answer 401 for a moment.
    """
    config = make_config(grant="authorization_code", password=False)
    tenant = tenant_of(config)
    clock = VirtualClock(time.time())
    broker = TokenBroker(config, detached=False, clock=clock)
    await broker.import_tokens(tenant, "imported-access", None, int(time.time()) + 3600)
    replies = iter(answers)
    seen: list[tuple[float, str]] = []

    def upstream(request: httpx2.Request) -> httpx2.Response:
        seen.append((clock.now(), request.headers["authorization"]))
        status = next(replies)
        body: dict[str, object] = (
            {"systems": []} if status == 200 else {"message": "Not Authorized"}
        )
        return httpx2.Response(status, json=body)

    client = httpx2.AsyncClient(transport=httpx2.MockTransport(upstream))
    async with opened_services(config, client, broker, clock=clock) as services:
        send = services.upstream.send(config.tenants[tenant], "GET", "/systems", [])
        if marked:
            with pytest.raises(Reauthorization):
                await send
        else:
            assert (await send).status == 200
        assert broker.needs_reauthorization(tenant) is marked
    assert [auth for _, auth in seen] == ["Bearer imported-access"] * 2
    assert seen[1][0] - seen[0][0] >= VERIFY_PAUSE


def test_a_code_for_another_account_than_the_configured_user_is_refused(
    make_config: MakeConfig, sandbox: Running
) -> None:
    """After the exchange the token's user (v4 puts it in the token) must be the tenant's."""
    config = make_config(grant="authorization_code", password=False)  # user: demo@example.com
    tenant = tenant_of(config)
    broker = TokenBroker(config, detached=False)
    pending = PendingLogins(config, broker.clock)
    url = authorize_url(config, config.tenants[tenant], "x")
    with TestClient(callback_app(broker)) as client:
        other, _ = code_and_state(url, username=DEMO.fleet_username)
        state = asyncio.run(pending.begin(tenant))
        refused = client.get("/oauth/callback", params={"code": other, "state": state})
        assert refused.status_code == 502 and "another Enphase account" in refused.text
        assert support.stored(config, tenant) is None
        own, _ = code_and_state(url)
        state = asyncio.run(pending.begin(tenant))
        accepted = client.get("/oauth/callback", params={"code": own, "state": state})
        assert accepted.status_code == 200
    assert support.token_works(
        sandbox.url, support.present(support.stored(config, tenant)).access_token
    )
