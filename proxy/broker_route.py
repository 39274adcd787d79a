"""/api/v4/{path}: team clients call v4 through the proxy, which injects the tenant's token."""

from __future__ import annotations

import json
import logging
import time

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from proxy import metrics, v4paths
from proxy.cache import UpstreamUnavailable
from proxy.clients import team_client
from proxy.config import Client, Config, Tenant
from proxy.quota import QuotaExhausted
from proxy.tokens import NeedsReauthorization, TokenUnavailable
from proxy.upstream import QuotaRefused, UpstreamGarbage

PREFIX = "/api/v4"
METHODS = ["GET", "PUT", "POST", "DELETE", "HEAD", "PATCH", "OPTIONS"]
STRIPPED_PARAMS = ("key", "tenant")

audit_log = logging.getLogger("proxy.audit")


def v4_error(status: int, message: str, details: str, **extra: object) -> Response:
    """An error in v4's shape."""
    return JSONResponse({"message": message, "details": details, "code": status, **extra}, status)


def quota_error(exc: QuotaExhausted) -> Response:
    """v4's 429 for an exhausted local budget."""
    return v4_error(
        429,
        "Too Many Requests",
        f"Usage limit exceeded for plan {exc.plan}",
        period=exc.period,
        period_start=exc.period_start,
        period_end=exc.period_end,
        limit=exc.limit,
    )


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


def _audit(config: Config, client: Client, tenant: Tenant, method: str, path: str, status: int):
    record = {
        "time": int(time.time()),
        "client": client.name,
        "tenant": tenant.name,
        "method": method,
        "path": path,
        "status": status,
    }
    path_ = config.data_path("audit.log")
    path_.parent.mkdir(parents=True, exist_ok=True)
    with open(path_, "a", encoding="utf-8") as out:
        out.write(json.dumps(record) + "\n")
    audit_log.info("write %s %s -> %s", method, path, status, extra={"client": client.name})


async def forward(request: Request) -> Response:
    """Forward one published v4 call for an authenticated team client."""
    config: Config = request.app.state.config
    client = team_client(config, _credentials(request))
    if client is None:
        return v4_error(401, "Not Authorized", "Missing or unknown proxy client key")
    request.state.client = client.name
    metrics.CALLER.set(client.name)
    tenant = _tenant(config, client, request)
    if tenant is None:
        return v4_error(403, "Forbidden", "Not authorized to access this tenant")
    request.state.tenant = tenant.name
    raw = request.scope.get("raw_path", b"").decode("latin-1")
    path = raw.removeprefix(PREFIX)
    methods = v4paths.allowed_methods(path) if raw.startswith(PREFIX + "/") else ()
    if not methods:
        return v4_error(404, "Not Found", "Not a published Enphase v4 API path")
    method = request.method
    if method not in methods:
        return v4_error(405, "Method Not Allowed", f"{method} is not allowed on this path")
    write = v4paths.is_write(path, method)
    if write and not client.writes:
        return v4_error(403, "Forbidden", "This proxy client is read-only")
    query = [(k, v) for k, v in request.query_params.multi_items() if k not in STRIPPED_PARAMS]
    problem = v4paths.date_problem(path, query, time.time())
    if problem:
        return v4_error(422, "Unprocessable Entity", f"Invalid request because of '{problem}'.")
    upstream = request.app.state.services.upstream
    try:
        if method == "GET":
            reply = await upstream.get(tenant, path, query, request.state.request_id)
            headers = {"X-Cache": reply.cache, "Age": str(reply.age)}
            return Response(reply.raw, reply.status, headers, reply.content_type)
        if write:
            await upstream.governor.acquire_write(tenant)
        response = await upstream.send(
            tenant,
            method,
            path,
            query,
            content=await request.body(),
            headers={"Content-Type": request.headers.get("content-type", "application/json")},
            request_id=request.state.request_id,
        )
        if write:
            _audit(config, client, tenant, method, path, response.status)
        content_type = response.content_type or "application/json"
        return Response(response.content, response.status, media_type=content_type)
    except QuotaRefused as exc:
        return quota_error(exc.exhausted)
    except QuotaExhausted as exc:
        return quota_error(exc)
    except UpstreamGarbage as exc:
        return v4_error(502, "Bad Gateway", f"The upstream sent no {exc.endpoint} data")
    except NeedsReauthorization as exc:
        return v4_error(401, "Not Authorized", f"Tenant needs re-authorization: {exc.hint}")
    except (UpstreamUnavailable, TokenUnavailable) as exc:
        headers = {"Retry-After": str(getattr(exc, "retry_after", None) or 30)}
        body = {"message": "Service Unavailable", "details": "Upstream unavailable", "code": 503}
        return JSONResponse(body, 503, headers)


def route() -> Route:
    """The broker route."""
    return Route(PREFIX + "/{path:path}", forward, methods=METHODS)
