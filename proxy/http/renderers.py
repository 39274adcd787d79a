"""The proxy's errors rendered once per surface: v2 bodies for legacy routes, v4 for ``/api/v4``."""

from __future__ import annotations

from functools import singledispatch

import orjson
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from mappings import errors as v2_errors
from mappings.base import V2Error
from proxy.errors import (
    InternalError,
    MethodNotAllowed,
    NotAuthorized,
    NotFound,
    ProxyError,
    QuotaRefused,
    Reauthorization,
    Unavailable,
    Unprocessable,
    UpstreamUnavailable,
)
from proxy.storage import redis_client

V4_PREFIX = "/api/v4"
ROUTER_ERRORS = {404: NotFound, 405: MethodNotAllowed}


def lift(exc: Exception) -> ProxyError | V2Error:
    """``exc`` as one of the proxy's errors (a router's 404/405, Redis out of reach for a
    failover's seconds, or an internal error)."""
    if isinstance(exc, ProxyError | V2Error):
        return exc
    if isinstance(exc, HTTPException):
        return ROUTER_ERRORS.get(exc.status_code, InternalError)()
    if redis_client.unavailable(exc):
        return Unavailable(retry_after=redis_client.RETRY_AFTER)
    return InternalError()


@singledispatch
def v2(exc: ProxyError | V2Error) -> V2Error:
    """The v2 error a legacy client gets for ``exc``."""
    assert isinstance(exc, ProxyError)  # V2Error has its own registration
    return V2Error(exc.status, {"reason": str(exc.status), "message": [exc.details]})


@v2.register
def _(exc: V2Error) -> V2Error:
    return exc


@v2.register
def _(exc: InternalError) -> V2Error:
    return V2Error(500, {"errorCode": 1, "errorMessages": [exc.details]})


@v2.register
def _(exc: NotAuthorized) -> V2Error:
    return v2_errors.unauthorized()


@v2.register
def _(exc: Reauthorization) -> V2Error:
    return v2_errors.unauthorized(
        "The proxy's Enphase authorization for this account has expired or was revoked; "
        f"an administrator must re-authorize it ({exc.hint})."
    )


@v2.register
def _(exc: NotFound) -> V2Error:
    return v2_errors.not_found(exc.details)


@v2.register
def _(exc: Unprocessable) -> V2Error:
    return v2_errors.unprocessable(exc.details)


@v2.register
def _(exc: Unavailable) -> V2Error:
    return v2_errors.unavailable(exc.details, exc.retry_after)


@v2.register
def _(exc: UpstreamUnavailable) -> V2Error:  # v2 never told a broken reply from a missing one
    return v2_errors.unavailable(Unavailable.details, exc.retry_after)


@v2.register
def _(exc: QuotaRefused) -> V2Error:
    w = exc.window
    return v2_errors.usage_limit(w.plan, w.period, w.period_start, w.period_end, w.limit)


def v2_response(error: V2Error) -> Response:
    """A v2 error as an HTTP response."""
    return Response(orjson.dumps(error.body), error.status, dict(error.headers), "application/json")


def v4_response(exc: ProxyError) -> Response:
    """``exc`` in v4's shape: ``{"message", "details", "code"}``, plus the window of a 429."""
    body: dict[str, object] = {"message": exc.title, "details": exc.details, "code": exc.status}
    if isinstance(exc, QuotaRefused):
        w = exc.window
        body.update(
            period=w.period, period_start=w.period_start, period_end=w.period_end, limit=w.limit
        )
    headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after is not None else None
    return Response(orjson.dumps(body), exc.status, headers, "application/json")


def is_v4(path: str) -> bool:
    """Whether ``path`` belongs to the v4 surface."""
    return path == V4_PREFIX or path.startswith(V4_PREFIX + "/")


def render(path: str, exc: Exception) -> Response:
    """The answer to a request for ``path`` that ``exc`` stopped, in that surface's shape."""
    error = lift(exc)
    if is_v4(path) and isinstance(error, ProxyError):
        return v4_response(error)
    return v2_response(v2(error))


async def handle(request: Request, exc: Exception) -> Response:
    """Starlette exception handler: ``exc`` rendered for the request's surface."""
    return render(request.url.path, exc)


HANDLERS = {ProxyError: handle, 404: handle, 405: handle}
