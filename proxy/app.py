"""The composition root: builds the services and hands them to the routes (``create_app``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx2
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from mappings.openapi import OPENAPI
from proxy.cache import ReplyCache, open_cache
from proxy.clock import SYSTEM, Clock
from proxy.config import Config
from proxy.console import Recorder, open_history
from proxy.console import routes as console_routes
from proxy.errors import NotAuthorized, Unprocessable
from proxy.http import (
    HANDLERS,
    GzipWhenAsked,
    LegacyDispatch,
    LegacyTable,
    ProxyApp,
    RequestContext,
    bearer,
    broker_route,
    callback_route,
    is_admin_key,
    key_matches,
    legacy_routes,
)
from proxy.observability import logs, metrics
from proxy.quota import Pacer, QuotaGovernor, open_governor, open_pacer
from proxy.storage import open_redis
from proxy.tokens import TokenBroker
from proxy.upstream import UNTAPPED, Taps, Upstream, layers, open_http
from proxy.v2 import Deferred, Memo, UnknownIds
from proxy.v4 import paths

log = logging.getLogger("proxy.app")


@dataclass
class Services:
    """What a worker holds open while it runs."""

    upstream: Upstream
    broker: TokenBroker
    cache: ReplyCache
    governor: QuotaGovernor
    pacer: Pacer
    recorder: Recorder  # the console's history of this worker's counters
    deferred: Deferred  # v2 requests the minute refused, answered again once it is over
    memo: Memo = field(default_factory=Memo)
    unknown_ids: UnknownIds = field(default_factory=UnknownIds)  # answered from systems lists
    redis: Any = None  # the worker's Redis client, when Redis is configured


REDIS_PROBE_TIMEOUT = 2.0  # seconds a readiness ping may take

ServicesOpener = Callable[[], contextlib.AbstractAsyncContextManager[Services]]


class Worker:
    """The worker's services once its lifespan opened them: what every route reads them from."""

    def __init__(self) -> None:
        self.opened: Services | None = None

    def services(self) -> Services:
        """The open services (a request never arrives before the lifespan opened them)."""
        if self.opened is None:
            raise RuntimeError("the proxy's services are not open")
        return self.opened


async def healthz(request: Request) -> Response:
    """200 while the process lives."""
    return JSONResponse({"status": "ok"})


async def redis_problems(client: Any) -> list[str]:
    """Why the configured Redis cannot be used, if it cannot (nothing when none is)."""
    if client is None:
        return []
    try:
        await asyncio.wait_for(client.ping(), REDIS_PROBE_TIMEOUT)
        return []
    except Exception as exc:
        return [f"redis unreachable: {type(exc).__name__}"]


async def openapi(request: Request) -> Response:
    """The OpenAPI description of the v2 surface."""
    return JSONResponse(OPENAPI)


def operator_routes(config: Config, worker: Worker) -> list[BaseRoute]:
    """Health, readiness, metrics and the cache purge, reading ``worker``'s services."""

    async def readyz(request: Request) -> Response:
        """200 when every tenant has (or can get itself) a usable token and Redis answers; else
        503. Why not is shown only to a caller with the scrape key: it names tenants."""
        svc = worker.services()
        needs = [s for s in await svc.broker.status() if s.needs_human]
        problems = [f"tenant {s.tenant}: {s.state}" for s in needs]
        problems += await redis_problems(svc.redis)
        status = 503 if problems else 200
        if not key_matches(config.server.scrape_key, bearer(request)):
            return JSONResponse({"ready": not problems}, status)
        return JSONResponse({"ready": not problems, "problems": problems}, status)

    async def metrics_endpoint(request: Request) -> Response:
        """Prometheus exposition of every worker's metrics, for a caller with the scrape key."""
        if not key_matches(config.server.scrape_key, bearer(request)):
            raise NotAuthorized()
        pacer = worker.services().pacer
        for tenant in config.tenants.values():
            try:
                await pacer.snapshot(tenant)
            except Exception:  # a quota store that cannot answer leaves the last figures
                log.warning("budget figures unavailable", extra={"tenant": tenant.name})
        body, content_type = metrics.render()
        return Response(body, headers={"Content-Type": content_type})

    async def purge(request: Request) -> Response:
        """Drop cached upstream replies: all, per tenant, or per tenant and system."""
        if not is_admin_key(config.server.admin_key, bearer(request)):
            raise NotAuthorized()
        tenant = request.query_params.get("tenant")
        system_id = request.query_params.get("system_id")
        if system_id and not tenant:
            raise Unprocessable("system_id needs tenant")
        removed = await worker.services().cache.purge(tenant, system_id)
        return JSONResponse({"purged": removed, "tenant": tenant, "system_id": system_id})

    return [
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics_endpoint),
        Route("/api/v2/openapi.json", openapi),
        Route("/admin/cache/purge", purge, methods=["POST"]),
    ]


def routes(config: Config, clock: Clock, worker: Worker, legacy: list[Route]) -> list[BaseRoute]:
    """Every route the proxy serves, ``legacy`` (the v2 routes) first, each handed what it uses."""
    return [
        *legacy,
        *operator_routes(config, worker),
        callback_route(lambda: worker.services().broker),
        *console_routes(config, clock, lambda: worker.services().recorder),
        broker_route(config, lambda: worker.services().upstream),
    ]


@contextlib.asynccontextmanager
async def opened_services(
    config: Config,
    http: httpx2.AsyncClient,
    broker: TokenBroker,
    *,
    clock: Clock = SYSTEM,
    taps: Taps = UNTAPPED,
    redis: Any = None,
) -> AsyncIterator[Services]:
    """A worker's services, sending upstream through ``http``, its token ``broker`` and
    ``redis`` (the worker's one Redis client, closed by the caller); all of them closed on exit.

    ``taps`` watch the upstream calls (benchmarks); every service reads time from ``clock``.
    """
    async with contextlib.AsyncExitStack() as opened:  # closes what opened, even on a failure
        opened.push_async_callback(broker.close)
        opened.push_async_callback(http.aclose)
        cache = await open_cache(config, redis, clock)
        opened.push_async_callback(cache.close)
        governor = await open_governor(config, redis=redis, clock=clock)
        opened.push_async_callback(governor.close)
        pacer = await open_pacer(config, governor, clock, redis)
        opened.push_async_callback(pacer.close)
        history = await open_history(config, clock.now, redis)
        opened.push_async_callback(history.close)
        stack = layers(config, http, broker, cache, governor, pacer, clock, taps)
        deferred = Deferred(clock)
        opened.push_async_callback(deferred.close)  # before the upstream it answers through
        yield Services(
            Upstream(config.upstream.api_root, stack, clock, taps),
            broker,
            cache,
            governor,
            pacer,
            Recorder(config, history, broker, pacer, clock),
            deferred,
            redis=redis,
        )


@contextlib.asynccontextmanager
async def worker_services(config: Config, clock: Clock = SYSTEM) -> AsyncIterator[Services]:
    """A gunicorn worker's services and its background tasks: its Redis client, its token
    broker, the metrics (declared at 0, then flushed) and the console recorder; all stopped and
    closed on exit."""
    async with contextlib.AsyncExitStack() as opened:
        redis = open_redis(config)
        if redis is not None:
            opened.push_async_callback(redis.aclose)
        broker = TokenBroker(config, redis=redis, clock=clock)
        await broker.start()
        services = await opened.enter_async_context(
            opened_services(config, open_http(config), broker, redis=redis, clock=clock)
        )
        clients = (*config.legacy_clients, *config.team_clients)
        endpoints = [e.name for e in paths.ENDPOINTS]
        metrics.declare(config.tenants, [c.name for c in clients], endpoints)
        flusher = asyncio.create_task(metrics.flush_periodically())
        recorder = asyncio.create_task(services.recorder.run())
        try:
            yield services
        finally:
            flusher.cancel()
            recorder.cancel()
            await asyncio.gather(flusher, recorder, return_exceptions=True)
            logs.ACCESS.flush()


def create_app(
    config: Config, clock: Clock = SYSTEM, services: ServicesOpener | None = None
) -> Starlette:
    """The proxy as an ASGI application on ``clock``; its lifespan opens ``services``.

    By default each worker opens its own (``worker_services``); a simulation hands in the
    services it opened on its own clock.
    """
    worker = Worker()
    opener = services or (lambda: worker_services(config, clock))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with opener() as opened:
            worker.opened = opened
            try:
                yield
            finally:
                worker.opened = None

    legacy = legacy_routes(config, worker.services)
    table = LegacyTable(legacy)
    return ProxyApp(
        routes=routes(config, clock, worker, legacy),
        lifespan=lifespan,
        middleware=[
            Middleware(
                RequestContext,
                max_url_length=config.server.max_url_length,
                access_log=config.server.access_log,
                direct=table.direct,  # a v2 GET without gzip: straight to its endpoint
            ),
            Middleware(GzipWhenAsked),  # leaves text/event-stream (live_data) alone
            Middleware(LegacyDispatch, table=table),
        ],
        exception_handlers=HANDLERS,
    )
