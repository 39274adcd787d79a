"""Upstream layer on top: GETs answered from the reply cache; fetched replies stored by freshness.

A cached reply carries its cache state in the response extensions: ``cache`` (HIT, MISS or
STALE), ``age`` (s), ``cache_key`` and ``stored_at``. Other methods pass through uncached.
A 2xx GET reply without its endpoint's data (``proxy.v4.shapes``) is refused, never stored.
A GET whose Call says what its answer needs (``through``, ``every``) is answered by the cache's
``through`` and ``every`` rules; the pacer weighs a stale 2xx reply of a GET refreshed only
``every`` seconds by that period, so a key asked that way counts as the rare refresh it is.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import httpx2
import orjson

from proxy.cache import Checked, Entry, ReplyCache, cache_key, freshness
from proxy.clock import SYSTEM, Clock
from proxy.errors import UpstreamGarbage
from proxy.quota import Pacer
from proxy.upstream.call import STREAM, Call, call_of
from proxy.v4 import shapes

log = logging.getLogger("proxy.upstream")


@dataclass(frozen=True, slots=True)
class Lookup:
    """A cached or fetched reply: the entry, HIT, MISS or STALE, its age (s) and cache key."""

    entry: Entry
    state: str
    age: int
    key: str


class Caching(httpx2.AsyncBaseTransport):
    """Answers GETs through ``cache``: one fetch per key for all callers, stale rules applied.

    With a ``pacer``, each fetch is counted against the tenant's month and a stale reply is
    refreshed only when the pacer allows it.
    """

    def __init__(
        self,
        inner: httpx2.AsyncBaseTransport,
        cache: ReplyCache,
        clock: Clock = SYSTEM,
        pacer: Pacer | None = None,
    ) -> None:
        self.inner = inner
        self.cache = cache
        # Whether a memo's check holds without a read (``ReplyCache.still``): the cache's own,
        # handed on, as asked on every cache hit.
        self.still: Callable[[Checked, float, int], bool] = cache.still
        self.clock = clock
        self.pacer = pacer

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        """The cached or fetched reply to a GET; any other method sent as is."""
        if request.method != "GET" or request.extensions.get(STREAM):
            return await self.inner.handle_async_request(request)
        found = await self.lookup(call_of(request), lambda: request)
        entry = found.entry
        extensions = {
            "cache": found.state,
            "age": found.age,
            "cache_key": found.key,
            "stored_at": entry.stored_at,
        }
        headers = {"Content-Type": entry.content_type}
        if entry.retry_after is not None:
            headers["Retry-After"] = str(entry.retry_after)
        return httpx2.Response(
            entry.status,
            headers=headers,
            content=entry.body,
            extensions=extensions,
        )

    async def lookup(self, call: Call, sent: Callable[[], httpx2.Request]) -> Lookup:
        """The cached or fetched reply to the GET ``call``; ``sent`` makes its request for a fetch.

        A reply served from the cache never builds an httpx2 request.
        """
        found = call.found
        system_id = found.path_params.get("system_id", "-") if found else "-"
        key = cache_key(call.tenant.name, call.path, call.params, system_id)

        async def fetch() -> Entry:
            entry = await self._fetch(sent(), call)
            if self.pacer is not None:
                await self.pacer.spent(call.tenant, key)
            return entry

        entry, state, age = await self.cache.get_or_fetch(
            key, fetch, refresh=self._paced(call, key), through=call.through, every=call.every
        )
        if self.pacer is not None:
            sightings = self.pacer.sightings
            sightings.learn(
                call.tenant.name, key, call.found, entry.status, entry.stored_at, entry.body
            )
        return Lookup(entry, state, age, key)

    def unchanged(
        self, sources: tuple[tuple[str, float], ...], now: float, seen: Checked | None = None
    ) -> Coroutine[Any, Any, Checked | None]:
        """Whether each (cache key, stored_at) still names the fresh cached reply: what was
        checked, else None (``ReplyCache.unchanged``). Its coroutine, handed on: asked on
        every cache hit, a coroutine of its own here cost a frame per hit."""
        return self.cache.unchanged(sources, now, seen)

    async def _fetch(self, request: httpx2.Request, call: Call) -> Entry:
        response = await self.inner.handle_async_request(request)
        status = response.status_code
        endpoint = freshness.endpoint_name(call.endpoint)
        success = 200 <= status < 300 and status != 204
        if success and not shapes.usable(endpoint, _json(response)):
            extra = {"endpoint": endpoint, "request_id": call.request_id}
            log.warning("upstream answered %s without %s data", status, endpoint, extra=extra)
            raise UpstreamGarbage(endpoint)
        now, settings = self.clock.now(), self.cache.settings
        ttl = freshness.ttl(call.endpoint, call.params, now, status, settings)
        final = success and freshness.final(call.endpoint, call.params, now, settings)
        content_type = response.headers.get("content-type") or "application/json"
        retry = retry_after(response.headers)
        return Entry(status, response.content, content_type, now, ttl, final, retry)

    def _paced(self, call: Call, key: str) -> Callable[[Entry], Awaitable[bool]] | None:
        """Whether the pacer lets a stale entry under ``key`` be refreshed now (None: no pacer),
        a 2xx one judged by the call's own refresh period ``every`` when longer."""
        pacer = self.pacer
        if pacer is None or not pacer.settings.pacing:
            return None
        clock, settings = self.clock, self.cache.settings
        period = freshness.period(call.endpoint, call.params, clock.now(), settings)
        span = freshness.span(call.endpoint, call.params)
        every = call.every

        async def refresh(entry: Entry) -> bool:
            judged = max(period, every) if every is not None and entry.status < 300 else period
            return await pacer.allows_refresh(
                call.tenant, key, judged, span, entry.age(clock.now())
            )

        return refresh


def retry_after(headers: httpx2.Headers) -> int | None:
    """The seconds of a reply's ``Retry-After`` (None when absent or an HTTP date)."""
    value = headers.get("retry-after", "").strip()
    return int(value) if value.isascii() and value.isdigit() and len(value) < 10 else None


def _json(response: httpx2.Response) -> object:
    """The reply body as JSON; None when empty or not JSON."""
    try:
        return orjson.loads(response.content) if response.content else None
    except ValueError:
        return None
