"""Keep every tenant authorized: renew a token before its refresh token ages out unused.

A refresh token that is not used expires (after 30 days, a week on developer plans), and then
a human must authorize the tenant again. Traffic alone does not keep it alive when access
tokens outlive the gap or carry no expiry, so the proxy refreshes any token whose refresh
token is older than KEEP_ALIVE_AGE. A refresh spends no API budget.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from proxy.observability import metrics
from proxy.tokens.errors import TokenError, hint
from proxy.tokens.store import TokenRecord

if TYPE_CHECKING:
    from proxy.tokens.broker import TokenBroker

log = logging.getLogger("proxy.keepalive")

KEEP_ALIVE_AGE = 3 * 86400  # well inside the shortest refresh token lifetime (a week)
REFRESH_TOKEN_LIFETIME = 30 * 86400  # unused for this long, a v4 refresh token is dead


@dataclass(frozen=True)
class TokenHealth:
    """One tenant's token as an operator needs to see it; no secrets."""

    tenant: str
    state: str
    valid_until: int | None
    refresh_due: int | None
    refresh_token_obtained: int | None
    needs_reauthorization: bool
    fix: str | None
    detail: str


def refresh_due(record: TokenRecord | None, margin: int) -> int | None:
    """When the proxy renews this token next: before its expiry, or to keep it alive."""
    if record is None or record.reauthorize or not record.refresh_token:
        return None
    due = record.obtained_at + KEEP_ALIVE_AGE
    if record.expires_at is not None:
        due = min(due, record.expires_at - margin)
    return due


def aging(record: TokenRecord | None, now: float) -> bool:
    """Whether the record's refresh token is old enough to be renewed to keep it alive."""
    return (
        record is not None
        and not record.reauthorize
        and bool(record.refresh_token)
        and now - record.obtained_at >= KEEP_ALIVE_AGE
    )


async def health(broker: TokenBroker) -> list[TokenHealth]:
    """Every tenant's token health, read from the token store."""
    found = []
    margin = broker.config.tokens.refresh_margin
    for status in await broker.status():
        record = await broker.store.load(status.tenant)
        stuck = status.needs_human
        usable = record is not None and bool(record.refresh_token) and not record.reauthorize
        found.append(
            TokenHealth(
                tenant=status.tenant,
                state=str(status.state),
                valid_until=status.access_expires_at,
                refresh_due=refresh_due(record, margin),
                refresh_token_obtained=record.obtained_at if usable and record else None,
                needs_reauthorization=stuck,
                fix=hint(broker.config.tenants[status.tenant]) if stuck else None,
                detail=status.detail,
            )
        )
    return found


async def keep_alive(broker: TokenBroker, now: float) -> list[str]:
    """Renew each token whose refresh token is aging; the tenants renewed."""
    renewed = []
    for tenant in broker.config.tenants:
        if not aging(await broker.store.load(tenant), now):
            continue
        try:
            await broker.refresh(tenant)
        except TokenError as exc:
            log.warning("tenant %s: keep-alive refresh failed: %s", tenant, exc)
            continue
        log.info("tenant %s: token renewed to keep its refresh token alive", tenant)
        renewed.append(tenant)
    return renewed


def publish(healths: list[TokenHealth]) -> None:
    """Set the refresh-token age and re-authorization gauges."""
    for item in healths:
        metrics.NEEDS_REAUTHORIZATION.labels(item.tenant).set(int(item.needs_reauthorization))
        if item.refresh_token_obtained is not None:
            obtained = item.refresh_token_obtained
            metrics.REFRESH_TOKEN_OBTAINED.labels(item.tenant).set(obtained)
