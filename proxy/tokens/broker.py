"""The token broker: hands out each tenant's access token, renewing it once at a time."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import httpx2

from proxy.clock import SYSTEM, Clock
from proxy.config import Config, Tenant
from proxy.observability import metrics
from proxy.tokens import maintenance, policy
from proxy.tokens.errors import NeedsReauthorization, TokenError, TokenUnavailable, hint
from proxy.tokens.oauth import TRANSIENT, Credentials, OAuthError, TokenEndpoint
from proxy.tokens.renewal import Job, Renewal, RenewalOutcome, detached, renew
from proxy.tokens.store import StoreSettings, TokenRecord, TokenStore

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger("proxy.tokens")

RETRY_DELAY = 5.0
REFUSAL_GUARD = 60.0  # seconds a token renewed because the upstream refused one is not renewed


@dataclass(frozen=True)
class TokenStatus:
    """What the broker knows about one tenant's authorization, without secrets."""

    tenant: str
    state: policy.State
    access_expires_at: int | None
    has_refresh_token: bool
    detail: str
    needs_human: bool = False


class TokenBroker:
    """Hands out each tenant's access token, refreshing it once at a time across processes.

    Token requests go through ``transport`` when given (tests, in-process benches). Renewals
    run in a detached child process (proxy.tokens.renew) when ``detached``; by default when
    neither a transport nor a clock other than the system's is given, since a child process
    reaches neither. ``clock`` is the only source of time. A Redis token store uses ``redis``
    (the worker's client) when given.
    """

    def __init__(
        self,
        config: Config,
        transport: httpx2.AsyncBaseTransport | None = None,
        *,
        detached: bool | None = None,
        clock: Clock = SYSTEM,
        store: TokenStore | None = None,
        redis: Redis | None = None,
    ) -> None:
        self.config = config
        self.clock = clock
        self._store_settings = StoreSettings.of(config)
        self.store = store if store is not None else self._store_settings.open(clock, redis)
        self._transport = transport
        in_process = transport is not None or clock is not SYSTEM
        self._detached = not in_process if detached is None else detached
        self._endpoints: dict[str, TokenEndpoint] = {}
        self._cached: dict[str, TokenRecord] = {}
        self._states: dict[str, policy.State] = {}
        self._warned: set[str] = set()
        self._retry_at: dict[str, float] = {}
        self._renewed_on_refusal: dict[str, tuple[float, str]] = {}
        self._locks = {name: asyncio.Lock() for name in config.tenants}
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Read every tenant's state and start the token maintenance (``maintenance.run``)."""
        for name in self.config.tenants:
            await self._load(name)
        self._task = asyncio.create_task(maintenance.run(self))

    async def close(self) -> None:
        """Stop the background task and release connections."""
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task
        for endpoint in self._endpoints.values():
            await endpoint.aclose()
        await self.store.close()

    async def access_token(self, tenant: str) -> str:
        """A valid access token; raises NeedsReauthorization or TokenUnavailable."""
        record = self._cached.get(tenant)
        if record and record.access_token and self._action(tenant, record) is policy.Action.USE:
            return record.access_token
        return await self._token(tenant)

    async def refresh_after_401(self, tenant: str, rejected: str) -> str | None:
        """A token other than ``rejected``: a newer stored one, else a refreshed one.

        None when ``rejected`` is itself what this worker renewed after a refusal less than
        REFUSAL_GUARD seconds ago: then the token is not the problem (a wrong API key, say),
        and renewing again would spend the token endpoint on every request.
        """
        renewed = self._renewed_on_refusal.get(tenant)
        if renewed and renewed[1] == rejected and self.clock.now() - renewed[0] < REFUSAL_GUARD:
            return None
        return await self._token(tenant, rejected=rejected)

    async def renewable(self, tenant: str) -> bool:
        """Whether a refused token can be replaced with no human: a refresh token or a password."""
        record = await self._load(tenant)
        return bool(record and record.refresh_token) or self._credentials(tenant).can_password

    async def renew_if_due(self, tenant: str) -> None:
        """Renew the tenant's token if it is within the refresh margin of its expiry."""
        await self._token(tenant)

    async def refresh(self, tenant: str) -> str:
        """Refresh the tenant's token now, whatever its expiry."""
        return await self._token(tenant, force=True)

    def obtains_tokens_itself(self, tenant: str) -> bool:
        """Whether a token can be had for the tenant with no one authorizing (password grant)."""
        return self._credentials(tenant).can_password

    def needs_reauthorization(self, tenant: str) -> bool:
        """Whether the tenant was last seen needing a human to authorize it (for readiness)."""
        return self._states.get(tenant) in (
            policy.State.NEEDS_REAUTHORIZATION,
            policy.State.MISSING,
        )

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
        record = TokenRecord(access_token, refresh_token, expires_at, int(self.clock.now()))
        async with self._exclusive(tenant):
            await self.store.save(tenant, record)

    def _tenant(self, name: str) -> Tenant:
        try:
            return self.config.tenants[name]
        except KeyError:
            raise ValueError(f"unknown tenant {name!r}") from None

    def _credentials(self, tenant: str) -> Credentials:
        return Credentials.of(self._tenant(tenant))

    def _endpoint(self, tenant: str) -> TokenEndpoint:
        if tenant not in self._endpoints:
            self._endpoints[tenant] = TokenEndpoint(
                self._credentials(tenant),
                self.config.upstream.token_url,
                self._grant_timeout(),
                self.clock,
                self._transport,
            )
        return self._endpoints[tenant]

    def _grant_timeout(self) -> float:
        """Short enough that a grant ends while the lock that guards it is surely held."""
        return min(self.config.upstream.timeout, self.config.tokens.lock_timeout / 2)

    async def _load(self, tenant: str) -> TokenRecord | None:
        record = await self.store.load(tenant)
        self._states[tenant] = self._state(record)
        return record

    def _state(self, record: TokenRecord | None) -> policy.State:
        return policy.state(record, self.clock.now(), self.config.tokens.refresh_margin)

    def _action(
        self,
        tenant: str,
        record: TokenRecord | None,
        rejected: str | None = None,
        force: bool = False,
    ) -> policy.Action:
        return policy.action(
            record,
            self.clock.now(),
            self.config.tokens.refresh_margin,
            can_password=self._credentials(tenant).can_password,
            rejected=rejected,
            force=force,
        )

    async def _token(self, tenant: str, rejected: str | None = None, force: bool = False) -> str:
        """The access token after renewing it if the policy says so."""
        self._tenant(tenant)
        async with self._locks[tenant]:
            record = await self._load(tenant)
            wanted = not self._action(tenant, record, rejected, force).settled
            if wanted and (force or self._retry_at.get(tenant, 0.0) <= self.clock.now()):
                renewal = await asyncio.shield(self._renew(tenant, rejected, force))
                self._report(tenant, renewal)
                token = self._serve(tenant, await self._load(tenant), rejected)
                if rejected is not None:
                    self._renewed_on_refusal[tenant] = (self.clock.now(), token)
                return token
            return self._serve(tenant, record, rejected)

    async def _renew(self, tenant: str, rejected: str | None, force: bool) -> Renewal:
        """Renew in a detached child process, or here when not ``detached``."""
        margin = self.config.tokens.refresh_margin
        if not self._detached:
            endpoint = self._endpoint(tenant)
            return await renew(self.store, endpoint, margin, self.clock, rejected, force)
        job = Job(
            credentials=self._credentials(tenant),
            token_url=self.config.upstream.token_url,
            timeout=self._grant_timeout(),
            margin=margin,
            store=self._store_settings,
            rejected=rejected,
            force=force,
        )
        return await detached(job)

    def _report(self, tenant: str, renewal: Renewal) -> None:
        """Metrics and one log line for a renewal this process asked for."""
        if renewal.outcome is RenewalOutcome.OK:
            metrics.TOKEN_REFRESH.labels(tenant, "ok").inc()
            log.info("tenant %s: new token from the %s grant", tenant, renewal.grant)
        elif renewal.outcome is RenewalOutcome.REAUTHORIZE:
            metrics.TOKEN_REFRESH.labels(tenant, "rejected").inc()
            metrics.REAUTH_NEEDED.labels(tenant).inc()
            what = self._hint(tenant)
            log.error("tenant %s needs re-authorization (%s); %s", tenant, renewal.reason, what)
        elif renewal.outcome is RenewalOutcome.ERROR:
            metrics.TOKEN_REFRESH.labels(tenant, "error").inc()
            self._retry_at[tenant] = self.clock.now() + RETRY_DELAY
            log.warning("tenant %s: token renewal failed (%s); will retry", tenant, renewal.reason)

    async def _replace(self, tenant: str, grant_type: str, **params: str) -> None:
        """Obtain a fresh set with a first-time grant, replacing whatever is stored."""
        async with self._exclusive(tenant):
            try:
                record = await self._endpoint(tenant).grant(grant_type, **params)
            except OAuthError as exc:
                message = f"{grant_type} grant failed: {str(exc.error)[:40]}"
                raise TokenError(tenant, message) from None
            except TRANSIENT as exc:
                message = f"token request failed: {type(exc).__name__}"
                raise TokenUnavailable(tenant, message) from None
            expected = self._tenant(tenant).username
            user = policy.jwt_claims(record.access_token or "").get("user_name")
            if expected and user is not None and str(user).lower() != expected.lower():
                raise TokenError(tenant, "the authorization is for another Enphase account")
            await self.store.save(tenant, record)

    def _serve(self, tenant: str, record: TokenRecord | None, rejected: str | None) -> str:
        """The record's access token, or the error that explains why there is none."""
        self._cached.pop(tenant, None)
        if record is None or not record.access_token:
            if self._credentials(tenant).can_password:
                raise TokenUnavailable(tenant, f"tenant {tenant!r}: no token obtained yet")
            if tenant not in self._warned:
                self._warned.add(tenant)
                log.warning("tenant %s has no token; %s", tenant, self._hint(tenant))
            raise NeedsReauthorization(tenant, "no token stored", self._hint(tenant))
        if record.reauthorize:
            raise NeedsReauthorization(tenant, record.reauthorize, self._hint(tenant))
        if self._state(record) is policy.State.EXPIRED or record.access_token == rejected:
            raise TokenUnavailable(tenant, f"tenant {tenant!r}: access token could not be renewed")
        self._cached[tenant] = record
        return record.access_token

    def _hint(self, tenant: str) -> str:
        return hint(self._tenant(tenant))

    def _status(self, tenant: str, record: TokenRecord | None) -> TokenStatus:
        current = self._state(record)
        can_password = self._credentials(tenant).can_password
        if current is policy.State.MISSING and can_password:
            detail = "no token yet; obtained automatically with the configured password"
        elif current in (policy.State.MISSING, policy.State.NEEDS_REAUTHORIZATION):
            reason = record.reauthorize if record and record.reauthorize else "no token stored"
            detail = f"{reason}; {self._hint(tenant)}"
        else:
            assert record is not None
            expiry = "no expiry" if record.expires_at is None else _iso(record.expires_at)
            refresh = "refresh token stored" if record.refresh_token else "no refresh token"
            detail = f"access token {current}, expires {expiry}; {refresh}"
        has_refresh = bool(record and record.refresh_token)
        return TokenStatus(
            tenant=tenant,
            state=current,
            access_expires_at=record.expires_at if record else None,
            has_refresh_token=has_refresh,
            detail=detail,
            needs_human=policy.needs_human(current, has_refresh, can_password),
        )

    @asynccontextmanager
    async def _exclusive(self, tenant: str) -> AsyncIterator[None]:
        """Hold both locks while a human-supplied token set replaces the stored one."""
        self._tenant(tenant)
        async with self._locks[tenant], self.store.lock(tenant):
            yield
        self._cached.pop(tenant, None)
        self._warned.discard(tenant)


def _iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
