"""The one token-maintenance loop: every tenant's token renewed before it is lost.

Two triggers, decided here for every tenant each round: the access token is within the refresh
margin of its expiry (the policy's EXPIRING), or the refresh token has aged KEEP_ALIVE_AGE
unused (``keepalive.aging``). Each round then publishes the token gauges. The broker runs it
from ``start``; it depends on nothing outside the token package, so no other loop can skip it.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from proxy.tokens import keepalive
from proxy.tokens.errors import TokenError

if TYPE_CHECKING:
    from proxy.tokens.broker import TokenBroker

log = logging.getLogger("proxy.tokens")


async def tend(broker: TokenBroker) -> None:
    """One round: renew each tenant's token that is due, then publish the token gauges."""
    for tenant in broker.config.tenants:
        try:
            await broker.renew_if_due(tenant)
        except TokenError:
            pass  # the broker logged it and its status says what a human must do
        except Exception as exc:
            log.warning("tenant %s: refresh check failed: %s", tenant, type(exc).__name__)
    try:
        await keepalive.keep_alive(broker, broker.clock.now())
        keepalive.publish(await keepalive.health(broker))
    except Exception as exc:  # a token store that cannot be read now: the next round retries
        log.warning("token keep-alive round failed: %s", type(exc).__name__)


async def run(broker: TokenBroker) -> None:
    """Tend every ``tokens.check_interval`` seconds until cancelled."""
    while True:
        await tend(broker)
        await broker.clock.sleep(broker.config.tokens.check_interval)
