"""/api/v4/{path}: team clients call v4 through the proxy, which injects the tenant's token."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable

import httpx2
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from proxy.cache import freshness
from proxy.config import Client, Config, Tenant, UpstreamSettings
from proxy.errors import (
    Forbidden,
    MethodNotAllowed,
    NotAuthorized,
    NotFound,
    ProxyError,
    Unprocessable,
)
from proxy.http import renderers
from proxy.http.clients import team_client
from proxy.http.renderers import V4_PREFIX as PREFIX
from proxy.observability import audit, metrics
from proxy.quota import spending_as, team_spender
from proxy.upstream import Upstream
from proxy.v4 import paths

METHODS = ["GET", "PUT", "POST", "DELETE", "HEAD", "PATCH", "OPTIONS"]
WRITES = frozenset({"PUT", "POST", "DELETE", "PATCH"})

audit_log = logging.getLogger("proxy.audit")
log = logging.getLogger("proxy.broker")


def _credentials(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return request.query_params.get("key")


def _tenant(config: Config, client: Client, request: Request) -> Tenant | None:
    wanted = request.headers.get("x-proxy-tenant") or request.query_params.get("tenant")
    if wanted is None and len(client.tenants) == 1:
        wanted = client.tenants[0]
    return config.tenants.get(wanted) if wanted in client.tenants else None


def _audit(
    config: Config,
    client: Client | None,
    tenant: Tenant | None,
    method: str,
    path: str,
    status: int,
    now: float,
) -> None:
    record = {
        "time": int(now),
        "client": client.name if client else None,
        "tenant": tenant.name if tenant else None,
        "method": method,
        "path": path[:256],
        "status": status,
    }
    audit.write(config, record)
    audit_log.info(
        "write %s %s -> %s", method, path[:256], status, extra={"client": record["client"]}
    )


async def forward(request: Request, config: Config, upstream: Callable[[], Upstream]) -> Response:
    """Forward one published v4 call for an authenticated team client; audit every write.

    Refusals and upstream failures are raised (the v4 renderer answers them); a write is
    audited whatever its outcome, refusals by the proxy itself included. ``upstream`` is read
    only once the request passed the checks that need no service.
    """
    client = team_client(config, _credentials(request))
    tenant = _tenant(config, client, request) if client is not None else None
    raw = request.scope.get("raw_path", b"").decode("latin-1")
    path = raw.removeprefix(PREFIX)
    audited = _audited(path, request.method)
    try:
        response = await _forward(request, config, upstream, client, tenant, raw)
    except ProxyError as exc:
        if audited:
            now = upstream().clock.now()
            _audit(config, client, tenant, request.method, path, exc.status, now)
        raise
    if audited:
        status = response.status_code
        _audit(config, client, tenant, request.method, path, status, upstream().clock.now())
    return response


def _audited(path: str, method: str) -> bool:
    """Whether a request is audited: a published write, or a writing method on anything else."""
    if paths.allowed_methods(path):
        return paths.is_write(path, method)
    return method in WRITES


async def _forward(
    request: Request,
    config: Config,
    upstream: Callable[[], Upstream],
    client: Client | None,
    tenant: Tenant | None,
    raw: str,
) -> Response:
    """The answer to one checked call, spent from the team client's own budget too."""
    if client is None:
        raise NotAuthorized("Missing or unknown proxy client key")
    request.state.client = client.name
    metrics.CALLER.set(client.name)
    if tenant is None:
        raise Forbidden("Not authorized to access this tenant")
    request.state.tenant = tenant.name
    path = raw.removeprefix(PREFIX)
    methods = paths.allowed_methods(path) if raw.startswith(PREFIX + "/") else ()
    if not methods:
        raise NotFound("Not a published Enphase v4 API path")
    method = "GET" if request.method == "HEAD" and "GET" in methods else request.method
    if method not in methods:
        allow = (*methods, "HEAD") if "GET" in methods else methods
        raise MethodNotAllowed(f"{method} is not allowed on this path", allow=allow)
    if paths.is_write(path, method) and not client.writes:
        raise Forbidden("This proxy client is read-only")
    asked = request.query_params.multi_items()
    problem = paths.date_problem(path, asked, upstream().clock.now())
    if problem:
        raise Unprocessable(f"Invalid request because of '{problem}'.")
    query = paths.only_defined(path, asked)
    with spending_as(team_spender(client, tenant, config.quota.team_share)):
        return await _call(request, upstream(), tenant, method, path, query, config.upstream)


async def _call(
    request: Request,
    upstream: Upstream,
    tenant: Tenant,
    method: str,
    path: str,
    query: list[tuple[str, str]],
    caps: UpstreamSettings,
) -> Response:
    """The upstream's answer to a checked call (cached for GET, streamed where v4 streams
    within ``caps``)."""
    found = paths.find(path)
    if method == "GET" and found is not None and found.endpoint.stream:
        defined = found.endpoint.headers
        return await _stream(upstream, tenant, path, query, defined, request, caps)
    if method == "GET":
        reply = await upstream.get(tenant, path, query, request.state.request_id)
        metrics.TALLY.observe(metrics.child(metrics.SERVED_AGE, "v4"), reply.age)
        if reply.status >= 400:
            return renderers.v4_upstream_error(reply.status, reply.raw, reply.retry_after)
        headers = {"X-Cache": reply.cache, "Age": str(reply.age)}
        if reply.fresh_for is not None:
            headers["Cache-Control"] = freshness.max_age(reply.fresh_for)
        return Response(reply.raw, reply.status, headers, reply.content_type)
    reply = await upstream.send(
        tenant,
        method,
        path,
        query,
        content=await request.body(),
        headers={"Content-Type": request.headers.get("content-type", "application/json")},
        request_id=request.state.request_id,
    )
    if reply.status >= 400:
        return renderers.v4_upstream_error(reply.status, reply.raw, reply.retry_after)
    return Response(reply.raw, reply.status, media_type=reply.content_type or "application/json")


async def _stream(
    upstream: Upstream,
    tenant: Tenant,
    path: str,
    query: list[tuple[str, str]],
    defined: tuple[str, ...],
    request: Request,
    caps: UpstreamSettings,
) -> Response:
    """The upstream's streamed reply, passed on as it arrives (with the headers v4 defines),
    within the stream ``caps``."""
    sent = {"Accept": "text/event-stream"}
    sent |= {name: request.headers[name] for name in defined if name in request.headers}
    reply = await upstream.stream(
        tenant,
        path,
        query,
        sent,
        request.state.request_id,
        client=request.state.client,
        caps=caps,
    )
    return StreamingResponse(
        _relay(reply),
        reply.status_code,
        {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},  # no proxy in between buffers
        reply.headers.get("content-type", "text/event-stream"),
    )


async def _relay(reply: httpx2.Response) -> AsyncIterator[bytes]:
    """The reply's body as it arrives; a stream the upstream cuts ends here too."""
    try:
        async for part in reply.aiter_bytes():
            yield part
    except httpx2.TransportError as exc:
        log.warning("upstream stream cut: %s", type(exc).__name__)
    finally:
        await reply.aclose()


def route(config: Config, upstream: Callable[[], Upstream]) -> Route:
    """The broker route, forwarding through the worker's ``upstream`` (read per request)."""

    async def endpoint(request: Request) -> Response:
        return await forward(request, config, upstream)

    return Route(PREFIX + "/{path:path}", endpoint, methods=METHODS)
