"""Runs a v2 mapping's plan through the upstream and answers with the v2 body."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

import orjson
from cachetools import LRUCache

from mappings import errors
from mappings.base import Endpoint, V2Error, V2Request, V2Response, V4Call
from proxy.cache import Checked, freshness
from proxy.config import Tenant
from proxy.errors import (
    InternalError,
    ProxyError,
    QuotaRefused,
    SpentWindow,
    TokenRefused,
    V2Refusal,
    proxy_error,
)
from proxy.quota import PERIODS, PROBE_AFTER, call_windows
from proxy.upstream import Reply, Upstream
from proxy.v2 import system_lookup
from proxy.v2.deferred import Deferred
from proxy.v2.membership import UnknownIds

log = logging.getLogger("proxy.legacy")

MemoKey = tuple[Any, ...]  # (route, tenant, path parameters, query, minute)
CACHE_RANK = {"HIT": 0, "STALE": 1, "MISS": 2}
MAX_FOLLOW_ROUNDS = 50
CONTENT_TYPE = "application/json; charset=utf-8"  # as v2 (a Rails app) sent it
RAW_CONTENT_TYPE = CONTENT_TYPE.encode()
FOREIGN = (403, 404)  # v4's refusals of a system the user does not have


def token_refused(reply: Reply) -> bool:
    """Whether a v4 reply refused the tenant's token rather than its API key.

    Authorize already retried with a renewed token: a token refused still is being replaced
    upstream, so the legacy client is told to come back (a 401 would read as its key
    revoked). A refused API key is a lasting misconfiguration and stays a 401.
    """
    body = reply.body if isinstance(reply.body, dict) else {}
    blamed = f"{body.get('message', '')} {body.get('details', '')}".lower()
    return reply.status == 401 and "api key" not in blamed


@dataclass(frozen=True)
class Outcome:
    """An encoded v2 answer plus the cache state and age of the upstream replies behind it.

    When ``error`` stopped the request, it is the answer (for the v2 renderer to shape), and
    ``status`` is its status, ``body`` empty.
    """

    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()
    cache: str | None = None
    age: int = 0
    fresh_for: int | None = None  # seconds until the first reply behind it is due a refresh
    error: ProxyError | None = None

    @cached_property
    def raw_headers(self) -> list[tuple[bytes, bytes]]:
        """``outcome_headers``, made once: a cache hit reuses its outcome for a second of age,
        and building them per hit cost a tenth of it."""
        return outcome_headers(self)


def outcome_headers(outcome: Outcome) -> list[tuple[bytes, bytes]]:
    """The raw headers of an encoded v2 answer (as Starlette's ``Response`` lists them): its
    own; the cache's where they describe it, a 2xx answer from the reply cache, aged 0 when
    fetched now (a composite's older parts aside); length and type where there is a body."""
    headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in outcome.headers]
    if outcome.cache and 200 <= outcome.status < 300:
        age = 0 if outcome.cache == "MISS" else outcome.age
        headers += ((b"x-cache", outcome.cache.encode()), (b"age", b"%d" % age))
        if outcome.fresh_for is not None:
            headers.append((b"cache-control", freshness.max_age(outcome.fresh_for).encode()))
    if outcome.status >= 200 and outcome.status not in (204, 304):  # those have no body
        headers.append((b"content-length", b"%d" % len(outcome.body)))
        headers.append((b"content-type", RAW_CONTENT_TYPE))
    return headers


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
    oldest: float = field(init=False)  # when the oldest source was stored: found once, not per hit

    def __post_init__(self) -> None:
        self.oldest = min(stored_at for _, stored_at in self.sources)

    def as_hit(self, now: float) -> Outcome:
        """The answer as a cache hit at ``now`` (made once per second of age), fresh for what
        was left of its freshness when rendered, less the time since."""
        age = int(now - self.oldest)
        if self.hit is None or self.hit.age != age:
            kept = self.outcome.fresh_for
            fresh = None if kept is None else max(0, kept - (age - self.outcome.age))
            self.hit = replace(self.outcome, cache="HIT", age=age, fresh_for=fresh)
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
        try:  # not LRUCache.get, which looks the key up (and hashes its tuples) once more
            return self.entries[key]
        except KeyError:
            return None

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
        self.refused = 0  # the v4 status of the reply that failed the answer (0: none)

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
            if reply.status == 429:
                raise refusal(self.tenant, reply.body, self.upstream.clock.now())
            if token_refused(reply):
                raise TokenRefused(reason=f"upstream 401 on {call.path}")
            if not 200 <= reply.status < 300:
                self.refused = reply.status
                raise errors.from_v4(reply.status, reply.body, reply.retry_after, call)
        return [reply.body for reply in replies]

    async def system(self, req: V2Request, live: bool) -> Any:
        """The v4 system body ``req``'s mapping reads: live, or for its zone (``system_lookup``)."""
        (body,) = await self.bodies([system_lookup.lookup(req, live)], aged=live)
        return body

    def outcome(self, response: V2Response) -> Outcome:
        """``response`` encoded, with the combined cache state of the replies used."""
        return Outcome(response.status, encode(response), response.headers, *self._cache())

    def failed(self, error: ProxyError) -> Outcome:
        """The request stopped by ``error``, with the combined cache state of the replies used."""
        return Outcome(error.status, b"", (), *self._cache(), error=error)

    def _cache(self) -> tuple[str | None, int, int | None]:
        """(the cache state of the replies used, their age, seconds until the first is due a
        refresh): HIT < STALE < MISS wins."""
        if not self.replies:
            return None, 0, None
        state = max((r.cache for r in self.replies), key=CACHE_RANK.__getitem__)
        fresh = [r.fresh_for for r in self.replies if r.fresh_for is not None]
        return state, max(self.ages, default=0), min(fresh, default=None)


def refusal(tenant: Tenant, body: Any, now: float) -> QuotaRefused:
    """An upstream 429 as the proxy's own refusal of the period it names: the configured plan
    and limit, the proxy's window (never the upstream's limit and bounds beside our plan); a
    month until its probe at the latest (a first month 429 blocks only provisionally)."""
    named = body.get("period") if isinstance(body, dict) else None
    period = named if named in PERIODS else "minute"
    own = next(w for w in call_windows(tenant, now) if w.period == period)
    window = SpentWindow(tenant.plan, period, own.start, own.end, own.limit)
    resume = min(own.end, int(now) + PROBE_AFTER) if period == "month" else None
    return QuotaRefused(window, now, resume)


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


async def _answer_known(
    endpoint: Endpoint, req: V2Request, run: Run, unknown: UnknownIds | None
) -> Outcome:
    """``_answer``, unless ``unknown`` answers the system id's 401 locally; it learns each
    refusal of the system (v4 403 or 404; a 401 refuses the credentials, not the system)."""
    if unknown is None:
        return await _answer(endpoint, req, run)
    await unknown.check(run.upstream, run.tenant, req, run.request_id)
    try:
        return await _answer(endpoint, req, run)
    except V2Error as exc:
        if exc.status == 401 and run.refused in FOREIGN:
            await unknown.learn(run.upstream, run.tenant, req, run.request_id)
        raise


def failure(exc: Exception, tenant: str = "") -> ProxyError:
    """The proxy's error for anything that stopped a request (never a traceback)."""
    if isinstance(exc, V2Error):  # the mapping's own refusal
        return V2Refusal(exc.response())
    error = proxy_error(exc)
    if isinstance(error, InternalError) and error is not exc:
        log.exception("unexpected error answering a v2 request", extra={"tenant": tenant})
    return error


async def answer(
    endpoint: Endpoint,
    path_params: dict[str, str],
    query: tuple[tuple[str, str], ...],
    upstream: Upstream,
    tenant: Tenant,
    request_id: str = "",
    memo: Memo | None = None,
    unknown: UnknownIds | None = None,
    deferred: Deferred | None = None,
) -> Outcome:
    """The v2 answer to one authenticated legacy request (``unknown``: the worker's ids
    refused before, answered from the tenant's systems list; ``deferred``: where a request
    the minute refused waits to be answered again, its replies then cached for the client)."""
    now = upstream.clock.now()
    key = (endpoint.route, tenant.name, tuple(path_params.items()), query, int(now) // 60)
    rendered = memo.get(key) if memo is not None else None
    if rendered is not None:
        seen = rendered.checked
        if seen is None or not upstream.still(seen, now, len(rendered.sources)):
            rendered.checked = await upstream.unchanged(rendered.sources, now, seen)
    if rendered is not None and rendered.checked is not None:
        return rendered.as_hit(now)
    req = V2Request(path_params, query, int(now))
    run = Run(upstream, tenant, request_id)
    try:
        outcome = await _answer_known(endpoint, req, run, unknown)
    except Exception as exc:
        error = failure(exc, tenant.name)
        if deferred is not None and isinstance(error, QuotaRefused) and error.minute:
            deferred.learn(endpoint.route, len(run.replies) + 1, answered=False)
            again = (endpoint, path_params, query, upstream, tenant, request_id, memo, unknown)
            at, limit = now + (error.retry_after or 0), error.window.limit
            held = deferred.later(
                key[:-1], endpoint.route, at, limit, lambda: answer(*again, deferred)
            )
            if held is not None:  # come back once it is answered again (a round trip or two)
                error.retry_after = max(error.retry_after or 0, int(held - now) + 2)
        return run.failed(error)
    if deferred is not None:
        deferred.learn(endpoint.route, len(run.replies))
    if memo is not None:
        memo.put(key, outcome, run.replies)
    return outcome
