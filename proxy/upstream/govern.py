"""Upstream layer: every call spends the tenant's quota first; upstream 429s teach the quota."""

from __future__ import annotations

import httpx2
import orjson

from proxy.cache import REFRESHING, freshness
from proxy.clock import SYSTEM, Clock
from proxy.config import Cache, Tenant
from proxy.errors import QuotaRefused, SpentWindow
from proxy.quota import LEGACY_CLIENT, QuotaExhausted, QuotaGovernor
from proxy.upstream.call import Call, call_of

WRITE_CHARGED = "enphase_write_charged"  # request extension: this write spent its budget


class Govern(httpx2.AsyncBaseTransport):
    """Spends one call (and, once per write, one of the write budget) first; learns from 429s.

    A legacy client's GET of past data spends from its own share too (``proxy.quota.cold``); a
    refresh of a reply the cache holds leaves each minute's last calls to cold misses.

    A refused call raises QuotaRefused and never reaches the upstream.
    """

    def __init__(
        self,
        inner: httpx2.AsyncBaseTransport,
        governor: QuotaGovernor,
        clock: Clock = SYSTEM,
        cache: Cache | None = None,
    ) -> None:
        self.inner = inner
        self.governor = governor
        self.clock = clock
        self.cache = cache or Cache()

    def _cold(self, request: httpx2.Request, call: Call) -> str:
        """The legacy client whose share this call spends: a GET of past (final) data, which is
        never refreshed, so always a cold miss ("": none)."""
        client = LEGACY_CLIENT.get()
        if not client or request.method != "GET":
            return ""
        return (
            client
            if freshness.final(call.endpoint, call.params, self.clock.now(), self.cache)
            else ""
        )

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        """The reply to ``request``, if the tenant's budgets allow the call."""
        call = call_of(request)
        tenant = call.tenant
        now = self.clock.now
        try:
            write = call.endpoint is not None and request.method in call.endpoint.writes
            if write and not request.extensions.get(WRITE_CHARGED):
                await self.governor.acquire_write(tenant, now=now)
                request.extensions[WRITE_CHARGED] = True  # a resend after a 401 is the same write
            cold = self._cold(request, call)
            await self.governor.acquire(tenant, now=now, cold=cold, refresh=REFRESHING.get())
        except QuotaExhausted as exc:
            window = SpentWindow(exc.plan, exc.period, exc.period_start, exc.period_end, exc.limit)
            raise QuotaRefused(window, now(), exc.resume_at) from exc
        response = await self.inner.handle_async_request(request)
        if response.status_code == 429:
            clamped = await self._learn(tenant, await response.aread())
            if clamped is not None:
                content_type = {"Content-Type": response.headers.get("content-type", "")}
                return httpx2.Response(429, headers=content_type, content=clamped, request=request)
        return response

    async def _learn(self, tenant: Tenant, content: bytes) -> bytes | None:
        """The 429 body with the window as blocked: a period_end from an upstream clock far
        ahead is not passed on to clients either."""
        try:
            body = orjson.loads(content)
        except ValueError:
            return None
        if not isinstance(body, dict):
            return None
        blocked = await self.governor.observe_429(tenant, body, now=self.clock.now)
        if blocked is None:  # the month was blocked already, from the same period's 429
            return None
        return orjson.dumps(body | {"period_start": blocked.start, "period_end": blocked.end})
