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
    proxy_error,
)
from proxy.v2 import CONTENT_TYPE

V4_PREFIX = "/api/v4"
V4_ERROR = frozenset({"message", "details", "code"})
SUMMARY = 300  # characters of an upstream error body kept in a v4 error's details
ROUTER_ERRORS = {404: NotFound}


def lift(exc: Exception) -> ProxyError:
    """``exc`` as one of the proxy's errors: a router's 404/405, else ``proxy_error``'s."""
    if isinstance(exc, HTTPException) and exc.status_code == 405:
        allow = (exc.headers or {}).get("Allow", "")
        return MethodNotAllowed(allow=tuple(m.strip() for m in allow.split(",") if m.strip()))
    if isinstance(exc, HTTPException):
        return ROUTER_ERRORS.get(exc.status_code, InternalError)()
    return proxy_error(exc)


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
    return Response(orjson.dumps(error.body), error.status, sent, CONTENT_TYPE)


def v4_response(exc: ProxyError) -> Response:
    """``exc`` in v4's shape: ``{"message", "details", "code"}``, plus the window of a 429."""
    body: dict[str, object] = {"message": exc.title, "details": exc.details, "code": exc.status}
    if isinstance(exc, QuotaRefused):
        w = exc.window
        body.update(
            period=w.period, period_start=w.period_start, period_end=w.period_end, limit=w.limit
        )
    headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after is not None else None
    return Response(orjson.dumps(body), exc.status, headers, CONTENT_TYPE)


def v4_upstream_error(status: int, raw: bytes, retry_after: int | None) -> Response:
    """An upstream error reply in v4's shape, its status kept: a v4 error body as it came,
    anything else (HTML, text, an empty body, a v2-style body) summarised in ``details``."""
    body = _json(raw)
    if not (isinstance(body, dict) and body.keys() >= V4_ERROR):
        details = summary(body, raw) or f"The upstream answered {status} without a body"
        body = {"message": _title(status), "details": details, "code": status}
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return Response(orjson.dumps(body), status, headers, CONTENT_TYPE)


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


def is_v4(path: str) -> bool:
    """Whether ``path`` belongs to the v4 surface."""
    return path == V4_PREFIX or path.startswith(V4_PREFIX + "/")


def render(path: str, exc: Exception) -> Response:
    """The answer to a request for ``path`` that ``exc`` stopped, in that surface's shape."""
    error = lift(exc)
    response = v4_response(error) if is_v4(path) else v2_response(error)
    if isinstance(error, MethodNotAllowed):
        response.headers["Allow"] = ", ".join(error.allow)
    return response


async def handle(request: Request, exc: Exception) -> Response:
    """Starlette exception handler: ``exc`` rendered for the request's surface."""
    return render(request.url.path, exc)


HANDLERS = {ProxyError: handle, 404: handle, 405: handle}
