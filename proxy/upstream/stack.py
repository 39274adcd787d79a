"""The v4 upstream as the service uses it: httpx2 transport layers, each with one job.

    Caching(Authorize(Govern(Meter(Wire(client)))))

Wire (proxy.upstream.wire) sends through httpx2 within a deadline and a body cap; Meter counts
each call that reaches the upstream; Govern spends the tenant's quota first and learns from 429s;
Authorize adds the key and bearer token and retries once after a 401 (each try is governed and
metered, as each reaches the upstream); Caching answers GETs from the reply cache, refuses a 2xx
without its endpoint's data, and lets the pacer decide when a stale reply is refreshed.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, partial
from typing import Any

import httpx2
import orjson

from proxy.cache.generation import Checked
from proxy.cache.replies import ReplyCache
from proxy.clock import SYSTEM, Clock
from proxy.config import Config, Tenant
from proxy.errors import RETRY_AFTER
from proxy.quota.governor import QuotaGovernor
from proxy.quota.pacer import Pacer
from proxy.tokens import TokenBroker
from proxy.upstream.authorize import Authorize
from proxy.upstream.caching import Caching
from proxy.upstream.call import Call, Params, request
from proxy.upstream.govern import Govern
from proxy.upstream.meter import Meter
from proxy.upstream.wire import Wire, open_client

__all__ = ["Params", "Reply", "Upstream", "layers", "open_http"]


@dataclass(frozen=True)
class Reply:
    """A v4 answer as the service sees it: status, body and where it came from."""

    status: int
    raw: bytes
    content_type: str
    cache: str = ""
    age: int = 0
    key: str = ""
    stored_at: float = 0.0

    @cached_property
    def body(self) -> Any:
        """The JSON body, parsed once (None when empty or not JSON)."""
        try:
            return orjson.loads(self.raw) if self.raw else None
        except ValueError:
            return None

    @property
    def retry_after(self) -> int | None:
        """Seconds a client should wait before retrying a failed call."""
        return RETRY_AFTER if self.status >= 500 else None


def open_http(config: Config) -> httpx2.AsyncClient:
    """The pooled httpx2 client a worker sends every upstream call through."""
    up = config.upstream
    return open_client(up.timeout, up.connect_timeout, up.max_connections)


def layers(
    config: Config,
    http: httpx2.AsyncClient,
    broker: TokenBroker,
    cache: ReplyCache,
    governor: QuotaGovernor,
    pacer: Pacer | None = None,
    clock: Clock = SYSTEM,
) -> Caching:
    """The upstream stack over ``http``, top layer first."""
    wire = Wire(http, deadline=config.upstream.timeout)
    governed = Govern(Meter(wire, clock), governor, clock)
    return Caching(Authorize(governed, broker), cache, clock, pacer)


class Upstream:
    """The v4 API for one worker: cached GETs and uncached writes, per tenant."""

    def __init__(self, root: str, stack: Caching, clock: Clock = SYSTEM) -> None:
        self.root = root
        self.stack = stack
        self.clock = clock

    async def get(
        self,
        tenant: Tenant,
        path: str,
        params: Params,
        request_id: str = "",
        *,
        through: int | None = None,
        every: int | None = None,
    ) -> Reply:
        """A cached GET of ``path`` for ``tenant``, needing ``through``/``every`` (``Call``)."""
        call = Call(tenant, path, params, request_id, through, every)
        found = await self.stack.lookup(call, partial(request, self.root, call))
        entry = found.entry
        return Reply(
            entry.status,
            entry.body,
            entry.content_type,
            found.state,
            found.age,
            found.key,
            entry.stored_at,
        )

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
    ) -> Reply:
        """One uncached call (a write spends the tenant's write budget too)."""
        call = Call(tenant, path, params, request_id)
        sent = request(self.root, call, method, content=content, headers=headers)
        response = await self.stack.handle_async_request(sent)
        return Reply(
            response.status_code, response.content, response.headers.get("content-type", "")
        )

    async def stream(
        self, tenant: Tenant, path: str, params: Params, headers: dict[str, str], request_id: str
    ) -> httpx2.Response:
        """An uncached GET whose reply body is read as it arrives; the caller closes it."""
        call = Call(tenant, path, params, request_id)
        sent = request(self.root, call, headers=headers, stream=True)
        return await self.stack.handle_async_request(sent)

    async def unchanged(
        self, sources: tuple[tuple[str, float], ...], now: float, seen: Checked | None = None
    ) -> Checked | None:
        """Whether each (cache key, stored_at) still names the fresh cached reply: what was
        checked, else None (``ReplyCache.unchanged``)."""
        return await self.stack.unchanged(sources, now, seen)
