"""Upstream layer: the tenant's v4 API key and bearer token on every call, one retry after a 401."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TypeVar

import httpx2

from proxy.errors import AuthorizationUnavailable, Reauthorization
from proxy.tokens import NeedsReauthorization, TokenBroker, TokenUnavailable
from proxy.upstream.call import call_of

T = TypeVar("T", str, str | None)
VERIFY_PAUSE = 2.0  # seconds before a 401 on an irreplaceable token is asked again


class Authorize(httpx2.AsyncBaseTransport):
    """Adds ``key`` and ``Authorization: Bearer``; after a 401, retries once with a renewed token.

    No retry when the broker declines to renew (the refused token was itself renewed after a
    refusal moments ago: the token is not the problem). A token that nothing could replace is
    asked again after VERIFY_PAUSE seconds (on the broker's clock) instead.
    """

    def __init__(self, inner: httpx2.AsyncBaseTransport, broker: TokenBroker) -> None:
        self.inner = inner
        self.broker = broker

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        """The reply to ``request`` sent with the tenant's credentials."""
        tenant = call_of(request).tenant
        request.url = request.url.copy_add_param("key", tenant.api_key)
        token = await _token(self.broker.access_token(tenant.name))
        request.headers["Authorization"] = f"Bearer {token}"
        response = await self.inner.handle_async_request(request)
        if response.status_code == 401 and not await self.broker.renewable(tenant.name):
            # Nothing could replace this token: a 401 can also mean "API key and client
            # mismatch" for a moment, so ask once more before the tenant is marked.
            await response.aclose()
            await self.broker.clock.sleep(VERIFY_PAUSE)
            response = await self.inner.handle_async_request(request)
        if response.status_code != 401:
            return response
        renewed = await _token(self.broker.refresh_after_401(tenant.name, token))
        if renewed is None:
            return response
        await response.aclose()  # a streamed reply holds its connection until closed
        request.headers["Authorization"] = f"Bearer {renewed}"
        return await self.inner.handle_async_request(request)


async def _token(pending: Awaitable[T]) -> T:
    """The broker's answer, its failures as the proxy's errors."""
    try:
        return await pending
    except NeedsReauthorization as exc:
        raise Reauthorization(exc.hint) from exc
    except TokenUnavailable as exc:
        raise AuthorizationUnavailable(reason=str(exc)) from exc
