"""Upstream layer: every call spends the tenant's quota first; upstream 429s teach the quota."""

from __future__ import annotations

import httpx2
import orjson

from proxy.clock import SYSTEM, Clock
from proxy.config import Tenant
from proxy.errors import QuotaRefused, Window
from proxy.quota.governor import QuotaExhausted, QuotaGovernor
from proxy.upstream.call import call_of
from proxy.v4 import paths

WRITE_CHARGED = "enphase_write_charged"  # request extension: this write spent its budget


class Govern(httpx2.AsyncBaseTransport):
    """Spends one call (and, once per write, one of the write budget) first; learns from 429s.

    A refused call raises QuotaRefused and never reaches the upstream.
    """

    def __init__(
        self, inner: httpx2.AsyncBaseTransport, governor: QuotaGovernor, clock: Clock = SYSTEM
    ) -> None:
        self.inner = inner
        self.governor = governor
        self.clock = clock

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        """The reply to ``request``, if the tenant's budgets allow the call."""
        call = call_of(request)
        tenant = call.tenant
        now = self.clock.now
        try:
            write = paths.is_write(call.path, request.method)
            if write and not request.extensions.get(WRITE_CHARGED):
                await self.governor.acquire_write(tenant, now=now)
                request.extensions[WRITE_CHARGED] = True  # a resend after a 401 is the same write
            await self.governor.acquire(tenant, now=now)
        except QuotaExhausted as exc:
            window = Window(exc.plan, exc.period, exc.period_start, exc.period_end, exc.limit)
            raise QuotaRefused(window, now()) from exc
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
        return orjson.dumps(body | {"period_start": blocked.start, "period_end": blocked.end})
