"""Token broker: obtains, stores and refreshes each tenant's Enphase v4 OAuth tokens.

Refresh tokens rotate: once the token endpoint accepts one, only the new set it answers
with works. Each renewal therefore runs in a short-lived child process in its own session
(unless an ``http`` client is given): if the worker that asked is killed, the child still
stores the new set and releases the lock, so no rotation is lost with the worker.
"""

from __future__ import annotations

import asyncio
import enum
import json
import logging
import os
import pickle
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from authlib.integrations.httpx_client import AsyncOAuth2Client, OAuthError
from starlette.requests import Request
from starlette.responses import PlainTextResponse

from proxy.config import Config, Tenant
from proxy.metrics import MULTIPROC_ENV, REAUTH_NEEDED, TOKEN_REFRESH
from proxy.tokenstore import LockTimeout, TokenRecord, TokenStore, open_store

log = logging.getLogger("proxy.tokens")

RETRY_DELAY = 5.0
REFUSAL_GUARD = 60.0  # seconds a token renewed because the upstream refused one is not renewed
_PACKAGE_ROOT = str(Path(__file__).resolve().parent.parent)
_RENEWAL_MAIN = "from proxy.tokens import renewal_process; renewal_process()"


class TokenError(Exception):
    """No usable access token for ``tenant``; the message never contains a secret."""

    def __init__(self, tenant: str, message: str) -> None:
        super().__init__(message)
        self.tenant = tenant


class NeedsReauthorization(TokenError):
    """A human must authorize the tenant again; ``hint`` says what to run."""

    def __init__(self, tenant: str, reason: str, hint: str) -> None:
        super().__init__(tenant, f"tenant {tenant!r} needs re-authorization ({reason}); {hint}")
        self.reason = reason
        self.hint = hint


class TokenUnavailable(TokenError):
    """The token could not be renewed right now (upstream or lock trouble); retry later."""


@dataclass(frozen=True)
class TokenStatus:
    """What the broker knows about one tenant's authorization, without secrets."""

    tenant: str
    state: str
    access_expires_at: int | None
    has_refresh_token: bool
    detail: str


@dataclass(frozen=True)
class Renewal:
    """What one renewal attempt did: outcome ``ok``, ``kept``, ``reauthorize`` or ``error``."""

    outcome: str
    grant: str = ""
    reason: str = ""


class _Action(enum.Enum):
    USE = "use"
    FAIL = "fail"
    REFRESH = "refresh"
    PASSWORD = "password"
    MARK = "mark"


_SETTLED = (_Action.USE, _Action.FAIL)
_TRANSIENT = (httpx.HTTPError, ValueError, KeyError)


def hint(tenant: Tenant) -> str:
    """The command that re-authorizes ``tenant``."""
    command = "password" if tenant.grant == "password" else "login"
    return f"run: enphase-proxy auth {command} --tenant {tenant.name}"


class _Through(httpx.AsyncBaseTransport):
    """Sends authlib's token requests through a caller-supplied client."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self.client.send(request, stream=True)


class TokenBroker:
    """Hands out each tenant's access token, refreshing it once at a time across processes.

    Token requests go through ``http`` when given. Renewals run in a detached child process
    when ``detached`` (by default: when no ``http`` client is given), else in this process.
    """

    def __init__(
        self,
        config: Config,
        http: httpx.AsyncClient | None = None,
        *,
        detached: bool | None = None,
    ) -> None:
        self.config = config
        self.store: TokenStore = open_store(config)
        self._http = http
        self._detached = http is None if detached is None else detached
        self._oauth: dict[str, AsyncOAuth2Client] = {}
        self._cached: dict[str, TokenRecord] = {}
        self._states: dict[str, str] = {}
        self._warned: set[str] = set()
        self._retry_at: dict[str, float] = {}
        self._renewed_on_refusal: dict[str, tuple[float, str]] = {}
        self._locks = {name: asyncio.Lock() for name in config.tenants}
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Read every tenant's state and start refreshing tokens ahead of expiry."""
        for name in self.config.tenants:
            await self._load(name)
        self._task = asyncio.create_task(self._refresh_ahead())

    async def close(self) -> None:
        """Stop the background task and release connections."""
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task
        for client in self._oauth.values():
            await client.aclose()
        await self.store.close()

    async def access_token(self, tenant: str) -> str:
        """A valid access token; raises NeedsReauthorization or TokenUnavailable."""
        record = self._cached.get(tenant)
        if record and record.access_token and self._action(tenant, record) is _Action.USE:
            return record.access_token
        return await self._token(tenant)

    async def refresh_after_401(self, tenant: str, rejected: str) -> str | None:
        """A token other than ``rejected``: a newer stored one, else a refreshed one.

        None when ``rejected`` is itself what this worker renewed after a refusal less than
        REFUSAL_GUARD seconds ago: then the token is not the problem (a wrong API key, say),
        and renewing again would spend the token endpoint on every request.
        """
        renewed = self._renewed_on_refusal.get(tenant)
        if renewed and renewed[1] == rejected and time.time() - renewed[0] < REFUSAL_GUARD:
            return None
        return await self._token(tenant, rejected=rejected)

    async def refresh(self, tenant: str) -> str:
        """Refresh the tenant's token now, whatever its expiry."""
        return await self._token(tenant, force=True)

    def obtains_tokens_itself(self, tenant: str) -> bool:
        """Whether a token can be had for the tenant with no one authorizing (password grant)."""
        return self._can_password(tenant)

    def needs_reauthorization(self, tenant: str) -> bool:
        """Whether the tenant was last seen needing a human to authorize it (for readiness)."""
        return self._states.get(tenant) in ("needs_reauthorization", "missing")

    async def status(self) -> list[TokenStatus]:
        """Every tenant's current authorization state, read from the store."""
        return [self._status(name, await self._load(name)) for name in self.config.tenants]

    async def authorize(self, tenant: str, code: str) -> None:
        """Exchange an authorization code (from /oauth/authorize) and store the tokens."""
        redirect_uri = self._tenant(tenant).redirect_uri
        await self._replace(tenant, "authorization_code", code=code, redirect_uri=redirect_uri)

    async def login_password(self, tenant: str, password: str) -> None:
        """Obtain tokens with the password grant and store them."""
        username = self._tenant(tenant).username or ""
        await self._replace(tenant, "password", username=username, password=password)

    async def import_tokens(
        self, tenant: str, access_token: str, refresh_token: str | None, expires_at: int | None
    ) -> None:
        """Store tokens obtained elsewhere (without a refresh token they serve until expiry)."""
        record = TokenRecord(access_token, refresh_token, expires_at, int(time.time()))
        async with self._exclusive(tenant):
            await self.store.save(tenant, record)

    def _tenant(self, name: str) -> Tenant:
        try:
            return self.config.tenants[name]
        except KeyError:
            raise ValueError(f"unknown tenant {name!r}") from None

    def _client(self, tenant: str) -> AsyncOAuth2Client:
        if tenant not in self._oauth:
            settings = self._tenant(tenant)
            timeout = min(self.config.upstream.timeout, self.config.tokens.lock_timeout / 2)
            self._oauth[tenant] = AsyncOAuth2Client(
                client_id=settings.client_id,
                client_secret=settings.client_secret,
                token_endpoint_auth_method="client_secret_basic",
                timeout=timeout,
                transport=_Through(self._http) if self._http is not None else None,
            )
        return self._oauth[tenant]

    async def _load(self, tenant: str) -> TokenRecord | None:
        record = await self.store.load(tenant)
        self._states[tenant] = self._state(record)
        return record

    def _state(self, record: TokenRecord | None) -> str:
        if record is not None and record.reauthorize:
            return "needs_reauthorization"
        if record is None or not record.access_token:
            return "missing"
        if _expired(record):
            return "expired"
        return "expiring" if self._expiring(record) else "ok"

    def _expiring(self, record: TokenRecord) -> bool:
        margin = self.config.tokens.refresh_margin
        return record.expires_at is not None and record.expires_at - margin <= time.time()

    def _can_password(self, tenant: str) -> bool:
        settings = self._tenant(tenant)
        return settings.grant == "password" and bool(settings.username and settings.password)

    def _action(
        self,
        tenant: str,
        record: TokenRecord | None,
        rejected: str | None = None,
        force: bool = False,
    ) -> _Action:
        """What to do so that the caller gets a good token from ``record``."""
        if record is None or not record.access_token:
            return _Action.PASSWORD if self._can_password(tenant) else _Action.FAIL
        if record.reauthorize:
            return _Action.FAIL
        dead = _expired(record) or record.access_token == rejected
        if not (dead or force or self._expiring(record)):
            return _Action.USE
        if record.refresh_token:
            return _Action.REFRESH
        if self._can_password(tenant):
            return _Action.PASSWORD
        return _Action.MARK if dead else _Action.USE

    async def _token(self, tenant: str, rejected: str | None = None, force: bool = False) -> str:
        """The access token after renewing it if ``_action`` says so."""
        self._tenant(tenant)
        async with self._locks[tenant]:
            record = await self._load(tenant)
            wanted = self._action(tenant, record, rejected, force) not in _SETTLED
            if wanted and (force or self._retry_at.get(tenant, 0.0) <= time.time()):
                renewal = await asyncio.shield(self._renew(tenant, rejected, force))
                self._report(tenant, renewal)
                token = self._serve(tenant, await self._load(tenant), rejected)
                if rejected is not None:
                    self._renewed_on_refusal[tenant] = (time.time(), token)
                return token
            return self._serve(tenant, record, rejected)

    async def _renew(self, tenant: str, rejected: str | None, force: bool) -> Renewal:
        """Renew in a detached child process, or here when not ``detached``."""
        if not self._detached:
            return await self._renew_locked(tenant, rejected, force)
        job = pickle.dumps((self.config, tenant, rejected, force))
        env = {k: v for k, v in os.environ.items() if k != MULTIPROC_ENV}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [_PACKAGE_ROOT, env.get("PYTHONPATH")]))
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            _RENEWAL_MAIN,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env=env,
            start_new_session=True,
        )
        answer, _ = await child.communicate(job)
        try:
            return Renewal(**json.loads(answer))
        except (ValueError, TypeError):
            return Renewal("error", reason=f"renewal process exited with {child.returncode}")

    async def _renew_locked(self, tenant: str, rejected: str | None, force: bool) -> Renewal:
        """Renew under the cross-process lock, re-reading what another process may have stored."""
        self._client(tenant)
        try:
            async with self.store.lock(tenant):
                record = await self.store.load(tenant)
                action = self._action(tenant, record, rejected, force)
                if action in _SETTLED:
                    return Renewal("kept")
                return await self._perform(tenant, record, action)
        except LockTimeout:
            return Renewal("error", reason="token lock busy")

    async def _perform(self, tenant: str, record: TokenRecord | None, action: _Action) -> Renewal:
        """Obtain and store a new set, or store that the tenant needs re-authorization."""
        if action is _Action.MARK:
            reason = "access token expired or rejected, no refresh token"
            return await self._mark(tenant, record, "", reason)
        grant = "password"
        try:
            if action is _Action.REFRESH and record is not None:
                grant = "refresh_token"
                try:
                    await self._grant(tenant, grant, refresh_token=record.refresh_token)
                    return Renewal("ok", grant)
                except OAuthError as exc:
                    if exc.error != "invalid_grant" or not self._can_password(tenant):
                        raise
                grant = "password"
            settings = self._tenant(tenant)
            await self._grant(tenant, grant, username=settings.username, password=settings.password)
            return Renewal("ok", grant)
        except OAuthError as exc:
            if exc.error == "invalid_grant":
                return await self._mark(tenant, record, grant, f"{grant} grant rejected")
            return Renewal("error", grant, f"token endpoint answered {str(exc.error)[:40]}")
        except _TRANSIENT as exc:
            return Renewal("error", grant, f"token request failed: {type(exc).__name__}")

    async def _grant(self, tenant: str, grant_type: str, **params: Any) -> None:
        """Call the token endpoint and durably store the new set before anything uses it."""
        client = self._client(tenant)
        url = self.config.upstream.token_url
        started = int(time.time())
        if grant_type == "refresh_token":
            token = await client.refresh_token(url, **params)
        else:
            token = await client.fetch_token(url, grant_type=grant_type, **params)
        expires_in = token.get("expires_in")
        record = TokenRecord(
            access_token=token["access_token"],
            refresh_token=token.get("refresh_token"),
            expires_at=started + int(expires_in) if expires_in is not None else None,
            obtained_at=started,
        )
        await self.store.save(tenant, record)

    async def _mark(
        self, tenant: str, record: TokenRecord | None, grant: str, reason: str
    ) -> Renewal:
        """Persist that the tenant needs re-authorization, keeping the old set."""
        await self.store.save(tenant, replace(record or TokenRecord(), reauthorize=reason))
        return Renewal("reauthorize", grant, reason)

    def _report(self, tenant: str, renewal: Renewal) -> None:
        """Metrics and one log line for a renewal this process asked for."""
        if renewal.outcome == "ok":
            TOKEN_REFRESH.labels(tenant, "ok").inc()
            log.info("tenant %s: new token from the %s grant", tenant, renewal.grant)
        elif renewal.outcome == "reauthorize":
            TOKEN_REFRESH.labels(tenant, "rejected").inc()
            REAUTH_NEEDED.labels(tenant).inc()
            what = self._hint(tenant)
            log.error("tenant %s needs re-authorization (%s); %s", tenant, renewal.reason, what)
        elif renewal.outcome == "error":
            TOKEN_REFRESH.labels(tenant, "error").inc()
            self._retry_at[tenant] = time.time() + RETRY_DELAY
            log.warning("tenant %s: token renewal failed (%s); will retry", tenant, renewal.reason)

    async def _replace(self, tenant: str, grant_type: str, **params: str) -> None:
        """Obtain a fresh set with a first-time grant, replacing whatever is stored."""
        async with self._exclusive(tenant):
            try:
                await self._grant(tenant, grant_type, **params)
            except OAuthError as exc:
                message = f"{grant_type} grant failed: {str(exc.error)[:40]}"
                raise TokenError(tenant, message) from None
            except _TRANSIENT as exc:
                message = f"token request failed: {type(exc).__name__}"
                raise TokenUnavailable(tenant, message) from None

    def _serve(self, tenant: str, record: TokenRecord | None, rejected: str | None) -> str:
        """The record's access token, or the error that explains why there is none."""
        self._cached.pop(tenant, None)
        if (record is None or not record.access_token) and self._can_password(tenant):
            raise TokenUnavailable(tenant, f"tenant {tenant!r}: no token obtained yet")
        if record is None or not record.access_token:
            if tenant not in self._warned:
                self._warned.add(tenant)
                log.warning("tenant %s has no token; %s", tenant, self._hint(tenant))
            raise NeedsReauthorization(tenant, "no token stored", self._hint(tenant))
        if record.reauthorize:
            raise NeedsReauthorization(tenant, record.reauthorize, self._hint(tenant))
        if _expired(record) or record.access_token == rejected:
            raise TokenUnavailable(tenant, f"tenant {tenant!r}: access token could not be renewed")
        self._cached[tenant] = record
        return record.access_token

    def _hint(self, tenant: str) -> str:
        return hint(self._tenant(tenant))

    def _status(self, tenant: str, record: TokenRecord | None) -> TokenStatus:
        state = self._state(record)
        if state == "missing" and self._can_password(tenant):
            detail = "no token yet; obtained automatically with the configured password"
        elif state in ("missing", "needs_reauthorization"):
            reason = record.reauthorize if record and record.reauthorize else "no token stored"
            detail = f"{reason}; {self._hint(tenant)}"
        else:
            assert record is not None
            expiry = "no expiry" if record.expires_at is None else _iso(record.expires_at)
            refresh = "refresh token stored" if record.refresh_token else "no refresh token"
            detail = f"access token {state}, expires {expiry}; {refresh}"
        return TokenStatus(
            tenant=tenant,
            state=state,
            access_expires_at=record.expires_at if record else None,
            has_refresh_token=bool(record and record.refresh_token),
            detail=detail,
        )

    async def _refresh_ahead(self) -> None:
        """Forever: renew each tenant's token once it is within the refresh margin."""
        while True:
            for tenant in self.config.tenants:
                try:
                    await self._token(tenant)
                except TokenError:
                    pass
                except Exception as exc:
                    log.warning("tenant %s: refresh check failed: %s", tenant, type(exc).__name__)
            await asyncio.sleep(self.config.tokens.check_interval)

    @asynccontextmanager
    async def _exclusive(self, tenant: str) -> AsyncIterator[None]:
        """Hold both locks while a human-supplied token set replaces the stored one."""
        self._tenant(tenant)
        async with self._locks[tenant], self.store.lock(tenant):
            yield
        self._cached.pop(tenant, None)
        self._warned.discard(tenant)


def _expired(record: TokenRecord) -> bool:
    return record.expires_at is not None and record.expires_at <= time.time()


def _iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def _renew_alone(config: Config, tenant: str, rejected: str | None, force: bool) -> Renewal:
    broker = TokenBroker(config, detached=False)
    try:
        return await broker._renew_locked(tenant, rejected, force)
    finally:
        await broker.close()


def renewal_process() -> None:
    """Child-process entry: a pickled (config, tenant, rejected, force) on stdin, JSON out."""
    try:
        config, tenant, rejected, force = pickle.loads(sys.stdin.buffer.read())
        renewal = asyncio.run(_renew_alone(config, tenant, rejected, force))
    except Exception as exc:
        renewal = Renewal("error", reason=f"renewal process failed: {type(exc).__name__}")
    with suppress(BrokenPipeError):
        print(json.dumps(asdict(renewal)), flush=True)


async def oauth_callback(request: Request) -> PlainTextResponse:
    """``GET /oauth/callback``: completes a code login; ``state`` names the tenant.

    The broker is the app's ``state.services.broker``.
    """
    broker: TokenBroker = request.app.state.services.broker
    params = request.query_params
    tenants = list(broker.config.tenants)
    tenant = params.get("state") or (tenants[0] if len(tenants) == 1 else "")
    if tenant not in broker.config.tenants:
        return PlainTextResponse("Unknown tenant: 'state' must name a tenant.\n", 400)
    if "error" in params or not params.get("code"):
        error = params.get("error", "no code")
        return PlainTextResponse(f"Tenant {tenant} was not authorized ({error:.40}).\n", 400)
    try:
        await broker.authorize(tenant, params["code"])
    except TokenError as exc:
        return PlainTextResponse(f"Authorization failed: {exc}\n", 502)
    message = f"Tenant {tenant} is authorized; the proxy keeps its token fresh.\n"
    return PlainTextResponse(message + "You can close this page.\n")
