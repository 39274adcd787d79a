"""The v4 upstream as the service uses it: httpx2 transport layers, each with one job.

    Caching(Authorize(Govern(Meter(Wire(client)))))

Wire (proxy.upstream.wire) sends through httpx2 within a deadline and a body cap; Meter counts
each call that reaches the upstream; Govern spends the tenant's quota first and learns from 429s;
Authorize adds the key and bearer token and retries once after a 401 (each try is governed and
metered, as each reaches the upstream); Caching answers GETs from the reply cache, refuses a 2xx
without its endpoint's data, and lets the pacer decide when a stale reply is refreshed.

``Taps`` are the public seam for watching calls (benchmarks): each GET asked of ``Upstream``,
and each call the cache layer sends on.
"""

from __future__ import annotations

import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass
from functools import cached_property, partial
from typing import Any

import httpx2
import orjson

from proxy.cache import Checked, ReplyCache
from proxy.clock import SYSTEM, Clock
from proxy.config import Config, Tenant, UpstreamSettings
from proxy.errors import RETRY_AFTER
from proxy.quota import Pacer, QuotaGovernor
from proxy.tokens import TokenBroker
from proxy.upstream.authorize import Authorize
from proxy.upstream.caching import Caching, retry_after
from proxy.upstream.call import Call, Params, request
from proxy.upstream.govern import Govern
from proxy.upstream.meter import Meter
from proxy.upstream.streams import StreamSlots
from proxy.upstream.wire import Wire, open_client

__all__ = ["UNTAPPED", "Params", "Reply", "Taps", "Upstream", "layers", "open_http"]


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
    upstream_retry_after: int | None = None  # the upstream's own Retry-After
    fresh_for: int | None = None  # seconds the cached reply stays fresh (None: not cached)

    @cached_property
    def body(self) -> Any:
        """The JSON body, parsed once (None when empty or not JSON)."""
        try:
            return orjson.loads(self.raw) if self.raw else None
        except ValueError:
            return None

    @property
    def retry_after(self) -> int | None:
        """Seconds a client should wait before retrying a failed call: the upstream's, else
        the proxy's own for a 5xx."""
        if self.upstream_retry_after is not None:
            return self.upstream_retry_after
        return RETRY_AFTER if self.status >= 500 else None


Fetched = Callable[[httpx2.Request, httpx2.Response], Awaitable[None]]


@dataclass(frozen=True)
class Taps:
    """Watchers of the upstream that change nothing: ``asked`` sees each GET a caller asks
    ``Upstream`` for, cached or not; ``fetched`` each call the cache layer sent on (a miss or a
    refresh) that quota and token let through, with its reply (whose call is
    ``call_of(request)``; a tap may read the reply's body, which stays readable)."""

    asked: Callable[[Call], None] | None = None
    fetched: Fetched | None = None


class Tapped(httpx2.AsyncBaseTransport):
    """A transport sending each request on to ``inner``, then showing it and its reply to
    ``fetched`` (a refused call raises before)."""

    def __init__(self, inner: httpx2.AsyncBaseTransport, fetched: Fetched) -> None:
        self.inner = inner
        self.fetched = fetched

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        """``inner``'s reply to ``request``, once ``fetched`` saw both."""
        response = await self.inner.handle_async_request(request)
        await self.fetched(request, response)
        return response


UNTAPPED = Taps()


def open_http(config: Config) -> httpx2.AsyncClient:
    """The pooled httpx2 client a worker sends every upstream call through."""
    up = config.upstream
    return open_client(up.timeout, up.connect_timeout, up.max_connections, up.max_streams)


def layers(
    config: Config,
    http: httpx2.AsyncClient,
    broker: TokenBroker,
    cache: ReplyCache,
    governor: QuotaGovernor,
    pacer: Pacer | None = None,
    clock: Clock = SYSTEM,
    taps: Taps = UNTAPPED,
) -> Caching:
    """The upstream stack over ``http``, top layer first; ``taps.fetched`` watches what the
    cache layer sends on."""
    wire = Wire(http, deadline=config.upstream.timeout)
    governed = Govern(Meter(wire, clock), governor, clock, config.cache)
    authorized: httpx2.AsyncBaseTransport = Authorize(governed, broker)
    if taps.fetched is not None:
        authorized = Tapped(authorized, taps.fetched)
    return Caching(authorized, cache, clock, pacer)


class Releasing(httpx2.AsyncByteStream):
    """A reply body that calls ``release`` when it is closed."""

    def __init__(self, inner: Any, release: Callable[[], None]) -> None:
        self.inner = inner
        self.release = release

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for part in self.inner:
            yield part

    async def aclose(self) -> None:
        """Close the body, then free its slot."""
        try:
            await self.inner.aclose()
        finally:
            self.release()


class Upstream:
    """The v4 API for one worker: cached GETs and uncached writes, per tenant."""

    def __init__(
        self, root: str, stack: Caching, clock: Clock = SYSTEM, taps: Taps = UNTAPPED
    ) -> None:
        self.root = root
        self.stack = stack
        # Whether a memo's check holds without a read (``ReplyCache.still``): the cache's own,
        # handed on, as asked on every cache hit.
        self.still: Callable[[Checked, float, int], bool] = stack.still
        self.clock = clock
        self.asked = taps.asked
        self.streams = StreamSlots()

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
        if self.asked is not None:
            self.asked(call)
        found = await self.stack.lookup(call, partial(request, self.root, call))
        entry, now = found.entry, self.clock.now()
        return Reply(
            entry.status,
            entry.body,
            entry.content_type,
            found.state,
            found.age,
            found.key,
            entry.stored_at,
            entry.retry_after,
            entry.ttl if entry.final else max(0, int(entry.stored_at + entry.ttl - now)),
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
        content_type = response.headers.get("content-type", "")
        retry = retry_after(response.headers)
        return Reply(
            response.status_code, response.content, content_type, upstream_retry_after=retry
        )

    async def stream(
        self,
        tenant: Tenant,
        path: str,
        params: Params,
        headers: dict[str, str],
        request_id: str,
        *,
        client: str,
        caps: UpstreamSettings,
    ) -> httpx2.Response:
        """An uncached GET whose reply body is read as it arrives; the caller closes it.

        It holds one of ``client``'s stream slots (within ``caps``) until it is closed.
        """
        release = self.streams.take(client, tenant.name, caps)
        call = Call(tenant, path, params, request_id)
        sent = request(self.root, call, headers=headers, stream=True)
        try:
            reply = await self.stack.handle_async_request(sent)
        except BaseException:
            release()
            raise
        reply.stream = Releasing(reply.stream, release)
        weakref.finalize(reply, release)  # a reply dropped unread (client gone before it started)
        return reply

    def unchanged(
        self, sources: tuple[tuple[str, float], ...], now: float, seen: Checked | None = None
    ) -> Coroutine[Any, Any, Checked | None]:
        """Whether each (cache key, stored_at) still names the fresh cached reply: what was
        checked, else None (``ReplyCache.unchanged``). Its coroutine, handed on: asked on
        every cache hit, a coroutine of its own here cost a frame per hit."""
        return self.stack.unchanged(sources, now, seen)
