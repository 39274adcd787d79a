"""The proxy's errors rendered once per surface: v2 bodies for legacy routes, v4 for ``/api/v4``."""

from __future__ import annotations

from functools import singledispatch
from html.parser import HTMLParser
from http import HTTPStatus

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

V4_PREFIX = "/api/v4"
V4_ERROR = frozenset({"message", "details", "code"})
SUMMARY = 300  # characters of an upstream error body kept in a v4 error's details
JSON = "application/json; charset=utf-8"  # as v2 (a Rails app) sent it
ROUTER_ERRORS = {404: NotFound}


def lift(exc: Exception) -> ProxyError | V2Error:
    """``exc`` as one of the proxy's errors (a router's 404/405, or an internal error)."""
    if isinstance(exc, ProxyError | V2Error):
        return exc
    if isinstance(exc, HTTPException) and exc.status_code == 405:
        allow = (exc.headers or {}).get("Allow", "")
        return MethodNotAllowed(allow=tuple(m.strip() for m in allow.split(",") if m.strip()))
    if isinstance(exc, HTTPException):
        return ROUTER_ERRORS.get(exc.status_code, InternalError)()
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
    return Response(orjson.dumps(error.body), error.status, dict(error.headers), JSON)


def v4_response(exc: ProxyError) -> Response:
    """``exc`` in v4's shape: ``{"message", "details", "code"}``, plus the window of a 429."""
    body: dict[str, object] = {"message": exc.title, "details": exc.details, "code": exc.status}
    if isinstance(exc, QuotaRefused):
        w = exc.window
        body.update(
            period=w.period, period_start=w.period_start, period_end=w.period_end, limit=w.limit
        )
    headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after is not None else None
    return Response(orjson.dumps(body), exc.status, headers, JSON)


def v4_upstream_error(status: int, raw: bytes, retry_after: int | None) -> Response:
    """An upstream error reply in v4's shape, its status kept: a v4 error body as it came,
    anything else (HTML, text, an empty body, a v2-style body) summarised in ``details``."""
    body = _json(raw)
    if not (isinstance(body, dict) and body.keys() >= V4_ERROR):
        details = summary(body, raw) or f"The upstream answered {status} without a body"
        body = {"message": _title(status), "details": details, "code": status}
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return Response(orjson.dumps(body), status, headers, JSON)


def summary(body: object, raw: bytes) -> str:
    """What an error body says, in at most ``SUMMARY`` characters of plain text."""
    if isinstance(body, dict):
        said = body.get("errorMessages") or body.get("message") or body.get("details")
        text = " ".join(map(str, said)) if isinstance(said, list) else str(said or "")
    else:
        parser = _Text()
        parser.feed(raw.decode("utf-8", "replace"))
        parser.close()
        text = " ".join(parser.parts)
    return " ".join(text.split())[:SUMMARY]


class _Text(HTMLParser):
    """The text of an HTML (or plain text) body, without its markup, scripts and styles."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._hidden += tag in ("script", "style")

    def handle_endtag(self, tag: str) -> None:
        self._hidden -= tag in ("script", "style") and self._hidden > 0

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)


def _title(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Upstream Error"


def _json(raw: bytes) -> object:
    try:
        return orjson.loads(raw) if raw else None
    except ValueError:
        return None


def max_age(fresh_for: int) -> str:
    """The Cache-Control of an answer the proxy itself holds fresh ``fresh_for`` more seconds."""
    return f"max-age={fresh_for}"


def is_v4(path: str) -> bool:
    """Whether ``path`` belongs to the v4 surface."""
    return path == V4_PREFIX or path.startswith(V4_PREFIX + "/")


def render(path: str, exc: Exception) -> Response:
    """The answer to a request for ``path`` that ``exc`` stopped, in that surface's shape."""
    error = lift(exc)
    if is_v4(path) and isinstance(error, ProxyError):
        response = v4_response(error)
    else:
        response = v2_response(v2(error))
    if isinstance(error, MethodNotAllowed):
        response.headers["Allow"] = ", ".join(error.allow)
    return response


async def handle(request: Request, exc: Exception) -> Response:
    """Starlette exception handler: ``exc`` rendered for the request's surface."""
    return render(request.url.path, exc)


HANDLERS = {ProxyError: handle, 404: handle, 405: handle}
