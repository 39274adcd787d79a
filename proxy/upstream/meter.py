"""Upstream layer: Prometheus counts and latency of every call that reaches the upstream."""

from __future__ import annotations

import logging

import httpx2

from proxy.cache import freshness
from proxy.clock import SYSTEM, Clock
from proxy.errors import UpstreamTimeout, UpstreamUnavailable
from proxy.observability import metrics
from proxy.upstream.call import call_of

log = logging.getLogger("proxy.upstream")


class Meter(httpx2.AsyncBaseTransport):
    """Counts each call by endpoint and status (``timeout``, ``error``) and by proxy client, and
    observes its latency."""

    def __init__(self, inner: httpx2.AsyncBaseTransport, clock: Clock = SYSTEM) -> None:
        self.inner = inner
        self.clock = clock

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        """The reply to ``request``, counted."""
        call = call_of(request)
        endpoint = freshness.endpoint_name(call.endpoint)
        caller = metrics.CALLER.get()  # the proxy client whose request this call serves
        if caller:
            metrics.TALLY.inc(metrics.child(metrics.CLIENT_UPSTREAM, caller))
        started = self.clock.monotonic()
        try:
            response = await self.inner.handle_async_request(request)
        except UpstreamUnavailable as exc:
            outcome = "timeout" if isinstance(exc, UpstreamTimeout) else "error"
            metrics.TALLY.inc(metrics.child(metrics.UPSTREAM_REQUESTS, endpoint, outcome))
            extra = {"endpoint": endpoint, "request_id": call.request_id}
            log.warning("upstream %s: %s", outcome, exc, extra=extra)
            raise
        latency = self.clock.monotonic() - started
        metrics.TALLY.observe(metrics.child(metrics.UPSTREAM_LATENCY, endpoint), latency)
        status = str(response.status_code)
        metrics.TALLY.inc(metrics.child(metrics.UPSTREAM_REQUESTS, endpoint, status))
        return response
