"""Calls to the v4 upstream: key and bearer injection, quota, cache, one retry after a 401."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import httpx
import orjson

from proxy import freshness, metrics
from proxy.cache import Entry, ReplyCache, UpstreamUnavailable, cache_key
from proxy.config import Config, Tenant
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


def open_http(config: Config) -> httpx.AsyncClient:
    """The pooled HTTP client a worker uses for every upstream call."""
    up = config.upstream
    timeout = httpx.Timeout(up.timeout, connect=up.connect_timeout)
    limits = httpx.Limits(max_connections=up.max_connections, max_keepalive_connections=50)
    return httpx.AsyncClient(timeout=timeout, limits=limits, follow_redirects=False)


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
        http: httpx.AsyncClient,
        broker: TokenBroker,
        cache: ReplyCache,
        governor: QuotaGovernor,
    ) -> None:
        self.config = config
        self.http = http
        self.broker = broker
        self.cache = cache
        self.governor = governor
        self.root = config.upstream.api_root.rstrip("/")

    async def get(self, tenant: Tenant, path: str, params: Params, request_id: str = "") -> Reply:
        """A cached GET of ``path`` for ``tenant``."""
        key = cache_key(tenant.name, path, params)

        async def fetch() -> Entry:
            return await self._fetch(tenant, path, params, request_id)

        entry, state, age = await self.cache.get_or_fetch(key, fetch)
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
        now = time.time()
        status = response.status_code
        ttl = freshness.ttl(path, params, now, status, self.config.cache)
        content_type = response.headers.get("content-type", "application/json")
        return Entry(status, response.content, content_type, now, ttl)

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
    ) -> httpx.Response:
        """One upstream call with quota, key and bearer; retried once with a new token on 401."""
        token = await self.broker.access_token(tenant.name)
        response = await self._send_once(
            tenant, method, path, params, token, content, headers, request_id
        )
        if response.status_code == 401:
            token = await self.broker.refresh_after_401(tenant.name, token)
            response = await self._send_once(
                tenant, method, path, params, token, content, headers, request_id
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
    ) -> httpx.Response:
        try:
            await self.governor.acquire(tenant)
        except QuotaExhausted as exc:
            raise QuotaRefused(exc) from exc
        endpoint = freshness.endpoint_name(path)
        request_headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        if request_id:
            request_headers["X-Request-Id"] = request_id
        request_headers.update(headers or {})
        started = time.perf_counter()
        try:
            response = await self.http.request(
                method,
                self.root + path,
                params=[*params, ("key", tenant.api_key)],
                content=content,
                headers=request_headers,
            )
        except httpx.TimeoutException as exc:
            metrics.UPSTREAM_REQUESTS.labels(endpoint, "timeout").inc()
            log.warning("upstream timeout", extra={"endpoint": endpoint, "request_id": request_id})
            raise UpstreamUnavailable(None) from exc
        except httpx.HTTPError as exc:
            metrics.UPSTREAM_REQUESTS.labels(endpoint, "error").inc()
            log.warning(
                "upstream unreachable: %s",
                type(exc).__name__,
                extra={"endpoint": endpoint, "request_id": request_id},
            )
            raise UpstreamUnavailable(None) from exc
        metrics.UPSTREAM_LATENCY.labels(endpoint).observe(time.perf_counter() - started)
        metrics.UPSTREAM_REQUESTS.labels(endpoint, str(response.status_code)).inc()
        if response.status_code == 429:
            body = _parse(response.content)
            if isinstance(body, dict):
                await self.governor.observe_429(tenant, body)
        return response
