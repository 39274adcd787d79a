"""Runs a v2 mapping's plan through the upstream and answers with the v2 body."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, replace
from typing import Any

import orjson
from cachetools import LRUCache

from mappings import errors
from mappings.base import Endpoint, V2Error, V2Request, V2Response, V4Call
from proxy.cache.generation import Checked
from proxy.config import Tenant
from proxy.errors import InternalError, ProxyError
from proxy.http import renderers
from proxy.upstream.stack import Reply, Upstream
from proxy.v2 import system_lookup

log = logging.getLogger("proxy.legacy")

MemoKey = tuple[Any, ...]  # (route, tenant, path parameters, query, minute)
CACHE_RANK = {"HIT": 0, "STALE": 1, "MISS": 2}
MAX_FOLLOW_ROUNDS = 50


@dataclass(frozen=True)
class Outcome:
    """An encoded v2 answer plus the cache state and age of the upstream replies behind it."""

    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()
    cache: str | None = None
    age: int = 0


def encode(response: V2Response) -> bytes:
    """The v2 body as compact JSON (empty for 204)."""
    if response.status == 204 or response.body is None:
        return b""
    return orjson.dumps(response.body)


@dataclass(slots=True)
class Rendered:
    """A 200 answer kept with the cached upstream replies it was made from, its size, when
    those were last found unchanged, and the answer served as a hit (its age: of the oldest)."""

    outcome: Outcome
    sources: tuple[tuple[str, float], ...]
    size: int
    checked: Checked | None = None
    hit: Outcome | None = None

    def as_hit(self, now: float) -> Outcome:
        """The answer as a cache hit at ``now`` (made once per second of age)."""
        age = int(now - min(stored_at for _, stored_at in self.sources))
        if self.hit is None or self.hit.age != age:
            self.hit = replace(self.outcome, cache="HIT", age=age)
        return self.hit


ITEM_BYTES = 100  # a small str object or tuple, besides its characters
ENTRY_BYTES = 256  # the Rendered, its Outcome and the LRU's bookkeeping


def key_bytes(key: tuple[object, ...]) -> int:
    """About how much memory a memo key holds: its strings and the tuples around them."""
    size = ITEM_BYTES
    for part in key:
        if isinstance(part, tuple):
            size += key_bytes(part)
        else:
            size += ITEM_BYTES + (len(part) if isinstance(part, str) else 0)
    return size


class Memo:
    """Recent rendered answers, reused while every upstream reply behind them is unchanged.

    Bounded by bytes counting keys as well as bodies: a key holds the whole v2 query.
    """

    def __init__(self, max_bytes: int = 16 * 1024 * 1024) -> None:
        self.entries: LRUCache[MemoKey, Rendered] = LRUCache(max_bytes, getsizeof=lambda r: r.size)

    def get(self, key: MemoKey) -> Rendered | None:
        """The rendered answer under ``key``."""
        return self.entries.get(key)

    def put(self, key: MemoKey, outcome: Outcome, replies: list[Reply]) -> None:
        """Keep a 200 answer whose replies all came from the cache or a fresh fetch."""
        if outcome.status == 200 and replies and all(r.cache != "STALE" for r in replies):
            sources = tuple((r.key, r.stored_at) for r in replies)
            size = len(outcome.body) + key_bytes(key) + key_bytes(sources) + ENTRY_BYTES
            with contextlib.suppress(ValueError):  # larger than the whole memo
                self.entries[key] = Rendered(outcome, sources, size)


class Run:
    """The upstream replies gathered while answering one v2 request."""

    def __init__(self, upstream: Upstream, tenant: Tenant, request_id: str) -> None:
        self.upstream = upstream
        self.tenant = tenant
        self.request_id = request_id
        self.replies: list[Reply] = []
        self.ages: list[int] = []  # of the replies whose age is the answer's

    async def bodies(self, calls: list[V4Call], *, aged: bool = True) -> list[Any]:
        """The 2xx bodies of ``calls``; the first failure becomes its v2 error.

        ``aged``: their age counts as the answer's (not a zone's lookup).
        """
        get, tenant, rid = self.upstream.get, self.tenant, self.request_id
        fetches = [
            get(tenant, c.path, c.params, rid, through=c.through, every=c.every) for c in calls
        ]
        replies = [await fetches[0]] if len(fetches) == 1 else await asyncio.gather(*fetches)
        self.replies.extend(replies)
        if aged:
            self.ages.extend(reply.age for reply in replies)
        for call, reply in zip(calls, replies, strict=True):
            if not 200 <= reply.status < 300:
                raise errors.from_v4(reply.status, reply.body, reply.retry_after, call)
        return [reply.body for reply in replies]

    async def system(self, req: V2Request, live: bool) -> Any:
        """The v4 system body ``req``'s mapping reads: live, or for its zone (``system_lookup``)."""
        (body,) = await self.bodies([system_lookup.lookup(req, live)], aged=live)
        return body

    def outcome(self, response: V2Response) -> Outcome:
        """``response`` encoded, with the combined cache state of the replies used."""
        body = encode(response)
        if not self.replies:
            return Outcome(response.status, body, response.headers)
        state = max((r.cache for r in self.replies), key=CACHE_RANK.__getitem__)
        age = max(self.ages, default=0)
        return Outcome(response.status, body, response.headers, state, age)


# Systems in the earliest and the latest time zone: a plan refused in both is refused in any.
ZONE_PROBES = ({"timezone": "Etc/GMT+12"}, {"timezone": "Etc/GMT-14"})


def refused_in_every_zone(endpoint: Endpoint, req: V2Request) -> V2Error | None:
    """The error ``endpoint`` answers ``req`` with whatever the system's zone, if it does.

    Checked before the system lookup, so a bad parameter costs no upstream call.
    """
    refusals = []
    for probe in ZONE_PROBES:
        try:
            endpoint.plan(req, probe)
        except V2Error as exc:
            refusals.append(exc)
        except Exception:  # the real system body decides
            return None
    return refusals[0] if len(refusals) == len(ZONE_PROBES) else None


async def _planned(endpoint: Endpoint, req: V2Request, run: Run) -> tuple[Any, bool, list[V4Call]]:
    """(system body or None, whether it is live, the calls) planned for ``req``.

    A refusal planned on a zone body is confirmed on a live one (``proxy.v2.system_lookup``).
    """
    if not endpoint.needs_system(req):
        return None, False, endpoint.plan(req, None)
    refused = refused_in_every_zone(endpoint, req)
    if refused is not None:
        raise refused
    system = await run.system(req, live=False)
    try:
        return system, False, endpoint.plan(req, system)
    except V2Error:
        system = await run.system(req, live=True)
        return system, True, endpoint.plan(req, system)


async def _answer(endpoint: Endpoint, req: V2Request, run: Run) -> Outcome:
    system, live, calls = await _planned(endpoint, req, run)
    replies = await run.bodies(calls) if calls else []
    follow = endpoint.follow
    for _ in range(MAX_FOLLOW_ROUNDS if follow else 0):
        more = follow(req, system, replies) if follow else []
        if not more:
            break
        replies += await run.bodies(more)
    if system is not None and not live and endpoint.live_system(req, system, replies):
        system = await run.system(req, live=True)
    return run.outcome(endpoint.shape(req, system, replies))


def failure(exc: Exception, tenant: str = "") -> V2Error:
    """The v2 error for anything that stopped a request (never a traceback)."""
    if not isinstance(exc, ProxyError | V2Error):
        log.exception("unexpected error answering a v2 request", extra={"tenant": tenant})
        exc = InternalError()
    return renderers.v2(exc)


async def answer(
    endpoint: Endpoint,
    path_params: dict[str, str],
    query: tuple[tuple[str, str], ...],
    upstream: Upstream,
    tenant: Tenant,
    request_id: str = "",
    memo: Memo | None = None,
) -> Outcome:
    """The v2 answer to one authenticated legacy request."""
    now = upstream.clock.now()
    key = (endpoint.route, tenant.name, tuple(path_params.items()), query, int(now) // 60)
    rendered = memo.get(key) if memo is not None else None
    if rendered is not None:
        rendered.checked = await upstream.unchanged(rendered.sources, now, rendered.checked)
    if rendered is not None and rendered.checked is not None:
        return rendered.as_hit(now)
    req = V2Request(path_params, query, int(now))
    run = Run(upstream, tenant, request_id)
    try:
        outcome = await _answer(endpoint, req, run)
    except Exception as exc:
        return run.outcome(failure(exc, tenant.name).response())
    if memo is not None:
        memo.put(key, outcome, run.replies)
    return outcome
