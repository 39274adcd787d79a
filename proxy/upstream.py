"""Calls to the v4 upstream: key and bearer injection, quota, cache, one retry after a 401."""

from __future__ import annotations

import logging
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson

from proxy import freshness, metrics, v4shapes
from proxy.cache import Entry, ReplyCache, UpstreamUnavailable, cache_key
from proxy.config import Config, Tenant
from proxy.http1 import Answer, Http1Pool, UpstreamError, UpstreamTimeout
from proxy.pacer import Pacer
from proxy.quota import QuotaExhausted, QuotaGovernor
from proxy.tokens import TokenBroker

log = logging.getLogger("proxy.upstream")

Params = Sequence[tuple[str, str]]
RETRY_AFTER = 30


@dataclass(frozen=True)
class Reply:
    """A v4 answer as the service sees it: status, body and where it came from."""

    status: int
    raw: bytes
    content_type: str
    cache: str
    age: int
    key: str = ""
    stored_at: float = 0.0

    @cached_property
    def body(self) -> Any:
        """The JSON body, parsed once (None when empty or not JSON)."""
        return _parse(self.raw)

    @property
    def retry_after(self) -> int | None:
        """Seconds a client should wait before retrying a failed call."""
        return RETRY_AFTER if self.status >= 500 else None


class QuotaRefused(UpstreamUnavailable):
    """The local quota governor refused the call; ``exhausted`` says which window."""

    def __init__(self, exhausted: QuotaExhausted) -> None:
        super().__init__(max(0, exhausted.period_end - int(time.time())))
        self.exhausted = exhausted


class UpstreamGarbage(UpstreamUnavailable):
    """The upstream answered 2xx with a body that is not the data its endpoint sends."""

    def __init__(self, endpoint: str) -> None:
        super().__init__(RETRY_AFTER, f"upstream sent no {endpoint} data")
        self.endpoint = endpoint


class HttpxSender:
    """Upstream requests through httpx: behind an outbound proxy, or to an in-process app."""

    def __init__(self, client: httpx.AsyncClient, root: str) -> None:
        self.client = client
        self.root = root.rstrip("/")

    async def request(
        self,
        method: str,
        path: str,
        params: Params,
        headers: Sequence[tuple[str, str]],
        content: bytes | None = None,
    ) -> Answer:
        """One exchange, with httpx's errors as the upstream errors."""
        try:
            response = await self.client.request(
                method,
                self.root + path,
                params=list(params),
                headers=list(headers),
                content=content,
            )
        except httpx.TimeoutException as exc:
            raise UpstreamTimeout(type(exc).__name__) from exc
        except httpx.HTTPError as exc:
            raise UpstreamError(type(exc).__name__) from exc
        return Answer(
            response.status_code, response.headers.get("content-type", ""), response.content
        )

    async def aclose(self) -> None:
        """Close the httpx client."""
        await self.client.aclose()


Sender = Http1Pool | HttpxSender  # what sends upstream requests


def proxied(url: str) -> bool:
    """Whether the environment (HTTPS_PROXY, ALL_PROXY, NO_PROXY...) sends ``url`` via a proxy."""
    parts = urlsplit(url)
    proxies = urllib.request.getproxies()
    via = proxies.get(parts.scheme) or proxies.get("all")
    return bool(via) and not urllib.request.proxy_bypass(parts.hostname or "")


def open_http(config: Config) -> Sender:
    """The pooled client a worker uses for every upstream call (httpx when a proxy applies)."""
    up = config.upstream
    if proxied(up.api_root):
        timeout = httpx.Timeout(up.timeout, connect=up.connect_timeout)
        limits = httpx.Limits(max_connections=up.max_connections, max_keepalive_connections=50)
        client = httpx.AsyncClient(timeout=timeout, limits=limits, follow_redirects=False)
        return HttpxSender(client, up.api_root)
    return Http1Pool(
        up.api_root,
        timeout=up.timeout,
        connect_timeout=up.connect_timeout,
        max_connections=up.max_connections,
    )


def _parse(body: bytes) -> Any:
    """``body`` as JSON; None when empty or not JSON."""
    try:
        return orjson.loads(body) if body else None
    except ValueError:
        return None


class Upstream:
    """The v4 API as one tenant-aware, cached, quota-paced client."""

    def __init__(
        self,
        config: Config,
        http: Sender,
        broker: TokenBroker,
        cache: ReplyCache,
        governor: QuotaGovernor,
        pacer: Pacer | None = None,
    ) -> None:
        self.config = config
        self.http = http
        self.broker = broker
        self.cache = cache
        self.governor = governor
        self.pacer = pacer

    async def get(self, tenant: Tenant, path: str, params: Params, request_id: str = "") -> Reply:
        """A cached GET of ``path`` for ``tenant``."""
        key = cache_key(tenant.name, path, params)

        async def fetch() -> Entry:
            entry = await self._fetch(tenant, path, params, request_id)
            if self.pacer is not None:
                await self.pacer.spent(tenant, key)
            return entry

        refresh = None
        if self.pacer is not None and self.pacer.settings.pacing:
            pacer, clock = self.pacer, self.cache.clock
            period = freshness.period(path, params, clock.now(), self.config.cache)
            span = freshness.span(path, params)

            async def refresh(entry: Entry) -> bool:
                age = entry.age(clock.now())
                return await pacer.allows_refresh(tenant, key, period, span, age)

        entry, state, age = await self.cache.get_or_fetch(key, fetch, refresh=refresh)
        return Reply(entry.status, entry.body, entry.content_type, state, age, key, entry.stored_at)

    async def unchanged(self, sources: tuple[tuple[str, float], ...], now: float) -> bool:
        """Whether each (cache key, stored_at) still names the fresh cached reply."""
        for key, stored_at in sources:
            entry = await self.cache.fresh_entry(key, now)
            if entry is None or entry.stored_at != stored_at:
                return False
        return True

    async def _fetch(self, tenant: Tenant, path: str, params: Params, request_id: str) -> Entry:
        response = await self.send(tenant, "GET", path, params, request_id=request_id)
        endpoint = freshness.endpoint_name(path)
        success = 200 <= response.status < 300 and response.status != 204
        if success and not v4shapes.usable(endpoint, _parse(response.content)):
            log.warning(
                "upstream answered %s without %s data",
                response.status,
                endpoint,
                extra={"endpoint": endpoint, "request_id": request_id},
            )
            raise UpstreamGarbage(endpoint)
        now = self.cache.clock.now()
        ttl = freshness.ttl(path, params, now, response.status, self.config.cache)
        content_type = response.content_type or "application/json"
        final = success and freshness.final(path, params, now, self.config.cache)
        return Entry(response.status, response.content, content_type, now, ttl, final)

    async def send(
        self,
        tenant: Tenant,
        method: str,
        path: str,
        params: Params,
        *,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
        request_id: str = "",
    ) -> Answer:
        """One upstream call with quota, key and bearer; retried once with a new token on 401.

        Not retried when the refused token was itself renewed after a refusal moments ago.
        """
        token = await self.broker.access_token(tenant.name)
        response = await self._send_once(
            tenant, method, path, params, token, content, headers, request_id
        )
        if response.status == 401:
            renewed = await self.broker.refresh_after_401(tenant.name, token)
            if renewed is not None:
                response = await self._send_once(
                    tenant, method, path, params, renewed, content, headers, request_id
                )
        return response

    async def _send_once(
        self,
        tenant: Tenant,
        method: str,
        path: str,
        params: Params,
        token: str,
        content: bytes | None,
        headers: dict[str, str] | None,
        request_id: str,
    ) -> Answer:
        try:
            await self.governor.acquire(tenant)
        except QuotaExhausted as exc:
            raise QuotaRefused(exc) from exc
        endpoint = freshness.endpoint_name(path)
        caller = metrics.CALLER.get()
        if caller:
            metrics.TALLY.inc(metrics.child(metrics.CLIENT_UPSTREAM, caller))
        request_headers = [("Authorization", f"Bearer {token}"), ("Accept", "application/json")]
        if request_id:
            request_headers.append(("X-Request-Id", request_id))
        request_headers += (headers or {}).items()
        started = time.perf_counter()
        try:
            response = await self.http.request(
                method, path, [*params, ("key", tenant.api_key)], request_headers, content
            )
        except UpstreamTimeout as exc:
            metrics.TALLY.inc(metrics.child(metrics.UPSTREAM_REQUESTS, endpoint, "timeout"))
            log.warning("upstream timeout", extra={"endpoint": endpoint, "request_id": request_id})
            raise UpstreamUnavailable(None) from exc
        except UpstreamError as exc:
            metrics.TALLY.inc(metrics.child(metrics.UPSTREAM_REQUESTS, endpoint, "error"))
            log.warning(
                "upstream unreachable: %s",
                exc,
                extra={"endpoint": endpoint, "request_id": request_id},
            )
            raise UpstreamUnavailable(None) from exc
        latency = time.perf_counter() - started
        metrics.TALLY.observe(metrics.child(metrics.UPSTREAM_LATENCY, endpoint), latency)
        metrics.TALLY.inc(metrics.child(metrics.UPSTREAM_REQUESTS, endpoint, str(response.status)))
        if response.status == 429:
            body = _parse(response.content)
            if isinstance(body, dict):
                await self.governor.observe_429(tenant, body)
        return response
