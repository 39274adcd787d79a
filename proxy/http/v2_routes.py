"""The v2 routes as plain ASGI endpoints, and a dispatcher that reaches them ahead of the router."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Protocol, cast
from urllib.parse import parse_qsl

from cachetools import LRUCache
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from mappings.base import Endpoint
from mappings.registry import EMULATED, ENDPOINTS
from proxy.config import Client, Config, Tenant
from proxy.errors import NotAuthorized
from proxy.http import renderers
from proxy.http.clients import legacy_caller
from proxy.http.compression import asks_for_gzip
from proxy.http.middleware import Answerer, Complete, Whole
from proxy.observability import metrics
from proxy.quota import LEGACY_CLIENT
from proxy.upstream import Upstream
from proxy.v2 import Deferred, Memo, Outcome, UnknownIds, answer

CREDENTIAL_PARAMS = ("key", "user_id")


def outcome_whole(outcome: Outcome) -> Whole:
    """A v2 answer, whole: an error as the renderer shapes it, else the outcome itself."""
    if outcome.error is not None:
        return Complete.of(renderers.v2_response(outcome.error))
    return outcome


LegacyQuery = tuple[str | None, str | None, tuple[tuple[str, str], ...]]
QUERY_CACHE_BYTES = 1024 * 1024
PAIR_BYTES = 200  # two small str objects and their tuple, besides the characters


def legacy_query(raw: bytes) -> LegacyQuery:
    """(key, user_id, the other pairs in order) of a v2 query string.

    Blank values are kept; a repeated ``key`` or ``user_id`` counts with its last value.
    """
    pairs = parse_qsl(raw.decode("latin-1"), keep_blank_values=True)
    params = dict(pairs)
    rest = tuple((k, v) for k, v in pairs if k not in CREDENTIAL_PARAMS)
    return params.get("key"), params.get("user_id"), rest


def query_bytes(raw: bytes, parsed: LegacyQuery) -> int:
    """About how much memory ``raw`` and its parse hold."""
    return 2 * len(raw) + PAIR_BYTES * (len(parsed[2]) + 2)


Caller = tuple[Client, Tenant]


class QueryCache:
    """Parsed v2 query strings of authenticated requests and their caller (legacy clients
    repeat their URLs; the key and user_id in one are those of the caller, hashed once)."""

    def __init__(self, max_bytes: int = QUERY_CACHE_BYTES) -> None:
        self.parsed: LRUCache[bytes, tuple[LegacyQuery, Caller, int]] = LRUCache(
            max_bytes, getsizeof=lambda slot: slot[2]
        )

    def get(self, raw: bytes) -> tuple[LegacyQuery, Caller] | None:
        """The parse of ``raw`` and its caller, when kept."""
        try:  # not LRUCache.get, which looks the key up once more
            slot = self.parsed[raw]
        except KeyError:
            return None
        return slot[0], slot[1]

    def keep(self, raw: bytes, parsed: LegacyQuery, caller: Caller) -> None:
        """Keep the parse of an authenticated request's query (never before authentication)."""
        with contextlib.suppress(ValueError):  # larger than the whole cache
            self.parsed[raw] = (parsed, caller, query_bytes(raw, parsed))


class Answering(Protocol):
    """What a v2 route answers with: the worker's upstream, its memo of rendered answers, the
    system ids it answers locally and the requests it answers again after a busy minute."""

    upstream: Upstream
    memo: Memo
    unknown_ids: UnknownIds
    deferred: Deferred


class LegacyEndpoint:
    """The ASGI app answering one v2 route through its mapping.

    ``emulated``: what answers a retired route instead, for legacy clients configured with
    ``emulate_retired = true``.
    """

    def __init__(
        self,
        config: Config,
        services: Callable[[], Answering],
        endpoint: Endpoint,
        emulated: Endpoint | None = None,
        queries: QueryCache | None = None,
    ) -> None:
        self.config = config
        self.services = services
        self.endpoint = endpoint
        self.emulated = emulated
        self.queries = queries or QueryCache()

    def _chosen(self, client: Client) -> Endpoint:
        if self.emulated is not None and client.emulate_retired:
            return self.emulated
        return self.endpoint

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        answer = await self.whole(scope)
        start = {"type": "http.response.start", "status": answer.status}
        # A copy: middleware may edit the list in place (gzip does), and a hit's is reused.
        await send({**start, "headers": list(answer.raw_headers)})
        await send({"type": "http.response.body", "body": answer.body})

    async def whole(self, scope: Scope) -> Whole:
        """The answer to the request in ``scope``, whole."""
        raw = scope["query_string"]
        kept = self.queries.get(raw)
        if kept is not None:
            (_, _, query), caller = kept
        else:
            key, user_id, query = parsed = legacy_query(raw)
            found = legacy_caller(self.config, key, user_id)
            if found is None:
                return Complete.of(renderers.v2_response(NotAuthorized()))
            caller = found
            self.queries.keep(raw, parsed, caller)
        client, tenant = caller
        state = scope["state"]
        state["tenant"] = tenant.name
        state["client"] = client.name
        metrics.CALLER.set(client.name)
        LEGACY_CLIENT.set(client.name)  # its calls on past data spend its own share
        services = self.services()
        outcome = await answer(
            self._chosen(client),
            scope["path_params"],
            query,
            services.upstream,
            tenant,
            state["request_id"],
            services.memo,
            services.unknown_ids,
            services.deferred,
        )
        if outcome.cache:
            metrics.TALLY.observe(metrics.child(metrics.SERVED_AGE, "v2"), outcome.age)
        return outcome_whole(outcome)


def routes(config: Config, services: Callable[[], Answering]) -> list[Route]:
    """One GET route per v2 endpoint, sharing one cache of parsed queries; each answers with
    the worker's ``services`` (read per request)."""
    queries = QueryCache()
    return [
        Route(
            e.route,
            LegacyEndpoint(config, services, e, EMULATED.get(e.route), queries),
            methods=["GET"],
            name=e.route,
        )
        for e in ENDPOINTS
    ]


class LegacyTable:
    """The v2 routes by the literal last segment each template ends in: one dict lookup and
    one regex match find a request's route, where the router would try each in turn.

    An API path ending in a slash is answered as without it (v2, a Rails app, did so; the
    router would answer a redirect).
    """

    def __init__(self, legacy: list[Route]) -> None:
        self.by_last_segment = {route.path.rpartition("/")[2]: route for route in legacy}
        if len(self.by_last_segment) != len(legacy) or "}" in "".join(self.by_last_segment):
            raise ValueError("every v2 route must end in its own literal segment")

    def route(self, scope: Scope) -> Route | None:
        """The v2 route an HTTP GET names, put in ``scope`` with its path parameters; else
        None. The path loses a trailing slash on the way, whatever the method."""
        path = scope["path"]
        if path[-1:] == "/" or "//" in path:  # else it has neither to drop
            _without_trailing_slash(scope)
            path = scope["path"]
        if scope["method"] != "GET":
            return None
        route = self.by_last_segment.get(path.rpartition("/")[2])
        match = route.path_regex.match(path) if route is not None else None
        if route is None or match is None:
            return None
        scope["route"] = route
        scope["path_params"] = match.groupdict()
        return route

    def direct(self, scope: Scope) -> Answerer | None:
        """What answers a v2 GET that does not ask for gzip whole (``Direct``); else None."""
        if asks_for_gzip(scope):
            return None
        route = self.route(scope)
        return None if route is None else cast(LegacyEndpoint, route.app).whole


class LegacyDispatch:
    """Middleware sending a GET on a v2 route straight to its endpoint; the rest go on."""

    def __init__(self, app: ASGIApp, table: LegacyTable) -> None:
        self.app = app
        self.table = table

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = self.table.route(scope) if scope["type"] == "http" else None
        if route is not None:
            await route.app(scope, receive, send)
        else:
            await self.app(scope, receive, send)


def _without_trailing_slash(scope: Scope) -> None:
    """Drop the one trailing slash of an ``/api/`` path (and of its raw form) in ``scope``, and
    the empty segments of a v2 one: ``/api/v2/systems//`` is answered as ``/api/v2/systems``,
    never redirected (a v4 path with one stays refused: the broker forwards its path)."""
    path = scope["path"]
    legacy = path.startswith("/api/v2/") and "//" in path
    if legacy or (path.startswith("/api/") and path.endswith("/") and not path.endswith("//")):
        scope["path"] = _canonical(path)
        raw = scope.get("raw_path")
        if raw is not None:
            scope["raw_path"] = _canonical(raw.decode("latin-1")).encode("latin-1")


def _canonical(path: str) -> str:
    return "/" + "/".join(part for part in path.split("/") if part)
