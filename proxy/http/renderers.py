"""The proxy's errors rendered once per surface: v2 bodies for legacy routes, v4 for ``/api/v4``."""

from __future__ import annotations

from functools import singledispatch

import orjson
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from mappings import errors as v2_errors
from mappings.base import V2Response
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
    V2Refusal,
)

V4_PREFIX = "/api/v4"
ROUTER_ERRORS = {404: NotFound, 405: MethodNotAllowed}


def lift(exc: Exception) -> ProxyError:
    """``exc`` as one of the proxy's errors (a router's 404/405, or an internal error)."""
    if isinstance(exc, ProxyError):
        return exc
    if isinstance(exc, HTTPException):
        return ROUTER_ERRORS.get(exc.status_code, InternalError)()
    return InternalError()


@singledispatch
def v2(exc: ProxyError) -> V2Response:
    """The v2 error a legacy client gets for ``exc``."""
    return V2Response({"reason": str(exc.status), "message": [exc.details]}, exc.status)


@v2.register
def _(exc: V2Refusal) -> V2Response:
    return exc.answer


@v2.register
def _(exc: InternalError) -> V2Response:
    return V2Response({"errorCode": 1, "errorMessages": [exc.details]}, 500)


@v2.register
def _(exc: NotAuthorized) -> V2Response:
    return v2_errors.unauthorized().response()


@v2.register
def _(exc: Reauthorization) -> V2Response:
    return v2_errors.unauthorized(
        "The proxy's Enphase authorization for this account has expired or was revoked; "
        f"an administrator must re-authorize it ({exc.hint})."
    ).response()


@v2.register
def _(exc: NotFound) -> V2Response:
    return v2_errors.not_found(exc.details).response()


@v2.register
def _(exc: Unprocessable) -> V2Response:
    return v2_errors.unprocessable(exc.details).response()


@v2.register
def _(exc: Unavailable) -> V2Response:
    return v2_errors.unavailable(exc.details, exc.retry_after).response()


@v2.register
def _(exc: UpstreamUnavailable) -> V2Response:  # v2 never told a broken reply from a missing one
    return v2_errors.unavailable(Unavailable.details, exc.retry_after).response()


@v2.register
def _(exc: QuotaRefused) -> V2Response:
    w = exc.window
    window = (w.plan, w.period, w.period_start, w.period_end, w.limit)
    return v2_errors.usage_limit(*window, exc.retry_after).response()


def v2_response(exc: ProxyError, headers: dict[str, str] | None = None) -> Response:
    """``exc`` in v2's shape as an HTTP response, with ``headers`` besides its own."""
    error = v2(exc)
    sent = {**dict(error.headers), **(headers or {})}
    return Response(orjson.dumps(error.body), error.status, sent, "application/json")


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
    return v4_response(error) if is_v4(path) else v2_response(error)


async def handle(request: Request, exc: Exception) -> Response:
    """Starlette exception handler: ``exc`` rendered for the request's surface."""
    return render(request.url.path, exc)


HANDLERS = {ProxyError: handle, 404: handle, 405: handle}
