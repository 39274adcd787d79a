"""create_app(config) -> the proxy's Starlette application: routes, lifespan, middleware."""

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

from mappings import errors
from mappings.openapi import OPENAPI
from proxy import console
from proxy.cache.replies import ReplyCache, open_cache
from proxy.clock import SYSTEM, Clock
from proxy.config import Config
from proxy.console.history import open_history
from proxy.console.recorder import Recorder
from proxy.http import oauth_callback, renderers, v2_routes, v4_route
from proxy.http.admin import bearer, is_admin_key, key_matches
from proxy.http.middleware import RequestContext
from proxy.http.v2_routes import LegacyDispatch
from proxy.observability import logs, metrics
from proxy.quota.governor import QuotaGovernor, open_governor
from proxy.quota.pacer import Pacer, open_pacer
from proxy.storage.redis_client import open_redis
from proxy.tokens import TokenBroker
from proxy.upstream.stack import Upstream, layers, open_http
from proxy.v2 import runner
from proxy.v4.paths import ENDPOINTS

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
    clock: Clock = SYSTEM
    memo: runner.Memo = field(default_factory=runner.Memo)
    redis: Any = None  # the worker's Redis client, when Redis is configured


REDIS_PROBE_TIMEOUT = 2.0  # seconds a readiness ping may take


def services(request: Request) -> Services:
    """The worker's open services."""
    opened: Services = request.app.state.services
    return opened


async def healthz(request: Request) -> Response:
    """200 while the process lives."""
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    """200 when every tenant has (or can get itself) a usable token and Redis answers; else 503.

    Why not is shown only to a caller with the scrape key: it names tenants.
    """
    svc = services(request)
    problems = [f"tenant {s.tenant}: {s.state}" for s in await svc.broker.status() if s.needs_human]
    problems += await redis_problems(svc.redis)
    status = 503 if problems else 200
    if not key_matches(request.app.state.config.server.scrape_key, bearer(request)):
        return JSONResponse({"ready": not problems}, status)
    return JSONResponse({"ready": not problems, "problems": problems}, status)


async def redis_problems(client: Any) -> list[str]:
    """Why the configured Redis cannot be used, if it cannot (nothing when none is)."""
    if client is None:
        return []
    try:
        await asyncio.wait_for(client.ping(), REDIS_PROBE_TIMEOUT)
        return []
    except Exception as exc:
        return [f"redis unreachable: {type(exc).__name__}"]


def unauthorized() -> Response:
    """The v2-shaped 401 of the operator routes."""
    return JSONResponse({"reason": "401", "message": [errors.NOT_AUTHORIZED]}, 401)


async def metrics_endpoint(request: Request) -> Response:
    """Prometheus exposition of every worker's metrics, for a caller with the scrape key."""
    if not key_matches(request.app.state.config.server.scrape_key, bearer(request)):
        return unauthorized()
    pacer = services(request).pacer
    for tenant in request.app.state.config.tenants.values():
        try:
            await pacer.snapshot(tenant)
        except Exception:  # a quota store that cannot answer leaves the last figures
            log.warning("budget figures unavailable", extra={"tenant": tenant.name})
    body, content_type = metrics.render()
    return Response(body, headers={"Content-Type": content_type})


async def openapi(request: Request) -> Response:
    """The OpenAPI description of the v2 surface."""
    return JSONResponse(OPENAPI)


async def purge(request: Request) -> Response:
    """Drop cached upstream replies: all, per tenant, or per tenant and system."""
    if not is_admin_key(request.app.state.config.server.admin_key, bearer(request)):
        return unauthorized()
    tenant = request.query_params.get("tenant")
    system_id = request.query_params.get("system_id")
    if system_id and not tenant:
        return JSONResponse({"reason": "422", "message": "system_id needs tenant"}, 422)
    removed = await services(request).cache.purge(tenant, system_id)
    return JSONResponse({"purged": removed, "tenant": tenant, "system_id": system_id})


def routes(legacy: list[Route]) -> list[BaseRoute]:
    """Every route the proxy serves, ``legacy`` (the v2 routes) first."""
    fixed: list[BaseRoute] = [
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics_endpoint),
        Route("/api/v2/openapi.json", openapi),
        Route("/admin/cache/purge", purge, methods=["POST"]),
        Route("/oauth/callback", oauth_callback.oauth_callback),
        *console.routes(),
    ]
    return [*legacy, *fixed, v4_route.route()]


@contextlib.asynccontextmanager
async def opened_services(
    config: Config,
    http: httpx2.AsyncClient,
    broker: TokenBroker,
    *,
    clock: Clock = SYSTEM,
    upstream: Callable[..., Upstream] = Upstream,
    redis: Any = None,
) -> AsyncIterator[Services]:
    """A worker's services, sending upstream through ``http``, its token ``broker`` and
    ``redis`` (the worker's one Redis client, closed by the caller); all of them closed on exit.

    ``upstream`` builds the Upstream (benchmarks pass a subclass that records calls); every
    service reads time from ``clock``.
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
        stack = layers(config, http, broker, cache, governor, pacer, clock)
        yield Services(
            upstream(config.upstream.api_root, stack, clock),
            broker,
            cache,
            governor,
            pacer,
            Recorder(config, history, broker, pacer, clock),
            clock,
            redis=redis,
        )


def create_app(config: Config, clock: Clock = SYSTEM) -> Starlette:
    """The proxy as an ASGI application (each worker opens its own connections at startup)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as opened:
            redis = open_redis(config)
            if redis is not None:
                opened.push_async_callback(redis.aclose)
            broker = TokenBroker(config, redis=redis, clock=clock)
            await broker.start()
            app.state.services = await opened.enter_async_context(
                opened_services(config, open_http(config), broker, redis=redis, clock=clock)
            )
            clients = (*config.legacy_clients, *config.team_clients)
            metrics.declare(config.tenants, [c.name for c in clients], [e.name for e in ENDPOINTS])
            flusher = asyncio.create_task(metrics.flush_periodically())
            recorder = asyncio.create_task(app.state.services.recorder.run())
            try:
                yield
            finally:
                flusher.cancel()
                recorder.cancel()
                await asyncio.gather(flusher, recorder, return_exceptions=True)
                logs.ACCESS.flush()

    legacy = v2_routes.routes()
    app = Starlette(
        routes=routes(legacy),
        lifespan=lifespan,
        middleware=[
            Middleware(
                RequestContext,
                max_url_length=config.server.max_url_length,
                access_log=config.server.access_log,
            ),
            Middleware(LegacyDispatch, legacy=legacy),
        ],
        exception_handlers=renderers.HANDLERS,
    )
    app.state.config = config
    app.state.clock = clock
    return app
