"""One renewal under the tenant's cross-process lock: re-read, decide, grant, store.

Refresh tokens rotate: once the token endpoint accepts one, only the new set it answers with
works. A renewal can therefore run ``detached``: in a child process in its own session
(proxy/tokens/renew.py), so that if the worker that asked is killed, the child still stores
the new set and releases the lock, and no rotation is lost with the worker.
"""

from __future__ import annotations

import asyncio
import enum
import json
import os
import sys
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from proxy.clock import Clock
from proxy.observability import metrics
from proxy.tokens import policy
from proxy.tokens.oauth import TRANSIENT, Credentials, OAuthError, TokenEndpoint
from proxy.tokens.store import LockTimeout, StoreSettings, TokenRecord, TokenStore

_PACKAGE_ROOT = str(Path(__file__).resolve().parent.parent.parent)


class RenewalOutcome(enum.StrEnum):
    """What a renewal attempt did."""

    OK = "ok"  # a new set is stored
    KEPT = "kept"  # another process had already stored a good set
    REAUTHORIZE = "reauthorize"  # stored that a human must authorize again
    ERROR = "error"  # nothing changed; retry later


@dataclass(frozen=True)
class Renewal:
    """What one renewal attempt did, with the grant tried and a secret-free reason."""

    outcome: RenewalOutcome
    grant: str = ""
    reason: str = ""

    def to_json(self) -> str:
        """The renewal as a JSON document."""
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str | bytes) -> Renewal:
        """A renewal from :meth:`to_json` output; raises ValueError or TypeError if malformed."""
        data = json.loads(text)
        return cls(RenewalOutcome(data["outcome"]), str(data["grant"]), str(data["reason"]))


@dataclass(frozen=True)
class Job:
    """Everything one renewal needs, as plain data: it crosses to a child process as JSON."""

    credentials: Credentials
    token_url: str
    timeout: float
    margin: float
    store: StoreSettings
    rejected: str | None = None
    force: bool = False

    def to_json(self) -> str:
        """The job as a JSON document (it holds secrets: send it through a pipe only)."""
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str | bytes) -> Job:
        """A job from :meth:`to_json` output."""
        data: dict[str, Any] = json.loads(text)
        data["credentials"] = Credentials(**data["credentials"])
        data["store"] = StoreSettings(**data["store"])
        return cls(**data)


async def renew(
    store: TokenStore,
    endpoint: TokenEndpoint,
    margin: float,
    clock: Clock,
    rejected: str | None = None,
    force: bool = False,
) -> Renewal:
    """Renew under the lock, re-reading what another process may have stored meanwhile."""
    credentials = endpoint.credentials
    try:
        async with store.lock(credentials.tenant):
            record = await store.load(credentials.tenant)
            action = policy.action(
                record,
                clock.now(),
                margin,
                can_password=credentials.can_password,
                rejected=rejected,
                force=force,
            )
            if action.settled:
                return Renewal(RenewalOutcome.KEPT)
            return await _perform(store, endpoint, record, action)
    except LockTimeout:
        return Renewal(RenewalOutcome.ERROR, reason="token lock busy")


async def _perform(
    store: TokenStore, endpoint: TokenEndpoint, record: TokenRecord | None, action: policy.Action
) -> Renewal:
    """Obtain and store a new set, or store that the tenant needs re-authorization."""
    tenant = endpoint.credentials.tenant
    if action is policy.Action.MARK:
        reason = "access token expired or rejected, no refresh token"
        return await _mark(store, tenant, record, "", reason)
    grant = "password"
    try:
        if action is policy.Action.REFRESH and record is not None:
            grant = "refresh_token"
            try:
                await store.save(
                    tenant, await endpoint.grant(grant, refresh_token=record.refresh_token)
                )
                return Renewal(RenewalOutcome.OK, grant)
            except OAuthError as exc:
                if exc.error != "invalid_grant" or not endpoint.credentials.can_password:
                    raise
            grant = "password"
        await store.save(tenant, await endpoint.password_grant())
        return Renewal(RenewalOutcome.OK, grant)
    except OAuthError as exc:
        if exc.error == "invalid_grant":
            return await _mark(store, tenant, record, grant, f"{grant} grant rejected")
        return Renewal(
            RenewalOutcome.ERROR, grant, f"token endpoint answered {str(exc.error)[:40]}"
        )
    except TRANSIENT as exc:
        return Renewal(RenewalOutcome.ERROR, grant, f"token request failed: {type(exc).__name__}")


async def _mark(
    store: TokenStore, tenant: str, record: TokenRecord | None, grant: str, reason: str
) -> Renewal:
    """Persist that the tenant needs re-authorization, keeping the old set."""
    await store.save(tenant, replace(record or TokenRecord(), reauthorize=reason))
    return Renewal(RenewalOutcome.REAUTHORIZE, grant, reason)


async def detached(job: Job) -> Renewal:
    """Run ``job`` in a child process in its own session and return what it did."""
    env = {k: v for k, v in os.environ.items() if k != metrics.MULTIPROC_ENV}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [_PACKAGE_ROOT, env.get("PYTHONPATH")]))
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "proxy.tokens.renew",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        env=env,
        start_new_session=True,
    )
    answer, _ = await child.communicate(job.to_json().encode())
    try:
        return Renewal.from_json(answer)
    except (ValueError, TypeError, KeyError):
        return Renewal(
            RenewalOutcome.ERROR, reason=f"renewal process exited with {child.returncode}"
        )
