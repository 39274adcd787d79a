"""Per-request context: request id, size limits, access log, request metrics, last-resort errors."""

from __future__ import annotations

import itertools
import logging
import os
import re
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import orjson
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from proxy.errors import (
    HeadersTooLarge,
    InternalError,
    PayloadTooLarge,
    ProxyError,
    RequestTimeout,
    UrlTooLong,
)
from proxy.http import renderers
from proxy.observability import logs, metrics

log = logging.getLogger("proxy.access")

REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
MAX_BODY = 1024 * 1024
MAX_HEADERS = 100
MAX_HEADER_BYTES = 16 * 1024
MAX_LOGGED_PATH = 256  # characters of a path an access line keeps


class BodyTooLarge(Exception):
    """The request body grew past MAX_BODY while it was read."""


class BodyCut(Exception):
    """The request body ended early: it was late (proxy.serving.worker) or the client left."""


def refusal(scope: Scope, max_url_length: int, head: Head) -> ProxyError | None:
    """The error refusing an oversized request before it runs, if any."""
    length = head.content_length
    if len(scope.get("raw_path") or b"") + len(scope.get("query_string", b"")) > max_url_length:
        return UrlTooLong()
    if head.fields > MAX_HEADERS or head.size > MAX_HEADER_BYTES:
        return HeadersTooLarge()
    if length and (not (length.isascii() and length.isdigit()) or int(length) > MAX_BODY):
        return PayloadTooLarge()
    return None


class Head:
    """What the middleware reads of a request's headers, in one pass over them."""

    __slots__ = ("content_length", "fields", "request_id", "size", "transfer_encoding")

    def __init__(self, scope: Scope) -> None:
        headers = scope.get("headers", ())
        request_id = content_length = transfer_encoding = None  # the first of each counts
        size = 0
        for key, value in headers:
            size += len(key) + len(value)
            if key == b"x-request-id" and request_id is None:
                request_id = bytes(value).decode("latin-1")
            elif key == b"content-length" and content_length is None:
                content_length = bytes(value).decode("latin-1")
            elif key == b"transfer-encoding" and transfer_encoding is None:
                transfer_encoding = bytes(value).decode("latin-1")
        self.fields = len(headers)
        self.size = size
        self.request_id = request_id or ""
        self.content_length = content_length or ""
        self.transfer_encoding = transfer_encoding or ""


def request_ids() -> Iterator[str]:
    """Unique request ids: a random prefix drawn at the first id (so after a fork), then a count."""
    prefix = os.urandom(8).hex()
    for n in itertools.count():
        yield f"{prefix}{n:08x}"


class Whole(Protocol):
    """A complete answer: status, raw headers (never edited: they may be shared) and body."""

    @property
    def status(self) -> int:
        """The answer's status."""
        ...

    @property
    def raw_headers(self) -> list[tuple[bytes, bytes]]:
        """Its headers, lower-case names and values in bytes."""
        ...

    @property
    def body(self) -> bytes:
        """Its body, whole."""
        ...


@dataclass(frozen=True, slots=True)
class Complete:
    """A ``Whole`` of a Starlette response."""

    status: int
    raw_headers: list[tuple[bytes, bytes]]
    body: bytes

    @classmethod
    def of(cls, response: Response) -> Complete:
        """A Starlette response with its body already rendered (no stream, no background)."""
        return cls(response.status_code, response.raw_headers, bytes(response.body))


Answerer = Callable[[Scope], Awaitable[Whole]]


class Direct(Protocol):
    """What answers some requests whole, without the ASGI messages of the layers between."""

    def __call__(self, scope: Scope) -> Answerer | None:
        """What answers this request whole (it may fill ``scope`` for it), else None."""
        ...


class Exchange:
    """One request's answer on its way to the server: its status, whether it has begun, and
    the request id it carries."""

    __slots__ = ("raw_id", "send_raw", "sent", "status")

    def __init__(self, send: Send, request_id: str) -> None:
        self.send_raw = send
        self.raw_id = request_id.encode()
        self.status = 500
        self.sent = False

    async def send(self, message: Message) -> None:
        """Pass an app's message on, the request id added to the response's headers."""
        if message["type"] == "http.response.start":
            self.status = message["status"]
            self.sent = True
            message["headers"] = [*message.get("headers", ()), (b"x-request-id", self.raw_id)]
        await self.send_raw(message)

    async def whole(self, answer: Whole) -> None:
        """Send a complete answer."""
        self.status = answer.status
        self.sent = True
        headers = [*answer.raw_headers, (b"x-request-id", self.raw_id)]
        await self.send_raw(
            {"type": "http.response.start", "status": answer.status, "headers": headers}
        )
        await self.send_raw({"type": "http.response.body", "body": answer.body})

    async def error(self, scope: Scope, error: ProxyError) -> None:
        """``error`` in the shape of the request's surface, unless an answer has begun."""
        if not self.sent:
            await self.whole(Complete.of(renderers.render(scope["path"], error)))


class LimitedBody:
    """A request's ``receive``, refusing a body past MAX_BODY and one cut short."""

    __slots__ = ("done", "receive", "received")

    def __init__(self, receive: Receive, head: Head) -> None:
        self.receive = receive
        self.received = 0
        # A request without a body has none to cut: its disconnect is only the client leaving.
        self.done = not head.transfer_encoding and head.content_length in ("", "0")

    async def __call__(self) -> Message:
        """The next message of the request."""
        message = await self.receive()
        if message["type"] == "http.disconnect" and not self.done:
            raise BodyCut
        self.done = not message.get("more_body", False)
        self.received += len(message.get("body", b""))
        if self.received > MAX_BODY:
            raise BodyTooLarge
        return message


class RequestContext:
    """Wraps every HTTP request: id, limits, JSON access log, metrics, a 500 on a crash.

    ``direct``: what answers some requests whole (the v2 routes' GETs), sparing them the
    layers between; the others go through the app.
    """

    def __init__(
        self,
        app: ASGIApp,
        max_url_length: int = 4096,
        access_log: bool = True,
        direct: Direct | None = None,
    ) -> None:
        self.app = app
        self.max_url_length = max_url_length
        self.access_log = access_log
        self.direct = direct
        self.ids = request_ids()
        self.lines = AccessLines()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        head = Head(scope)
        incoming = head.request_id
        request_id = incoming if incoming and REQUEST_ID.match(incoming) else next(self.ids)
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        started = time.perf_counter()
        exchange = Exchange(send, request_id)
        try:
            refused = refusal(scope, self.max_url_length, head)
            answerer = None if refused or self.direct is None else self.direct(scope)
            if refused:
                await exchange.error(scope, refused)
            elif answerer is not None:
                await exchange.whole(await answerer(scope))
            else:
                await self.app(scope, LimitedBody(receive, head), exchange.send)
        except BodyTooLarge:
            await exchange.error(scope, PayloadTooLarge())
        except BodyCut:
            await exchange.error(scope, RequestTimeout())
        except Exception as exc:
            error = renderers.lift(exc)  # a defect, or Redis out of reach (503)
            if isinstance(error, InternalError):
                log.exception("unhandled error", extra={"request_id": request_id})
            await exchange.error(scope, error)
        finally:
            status = exchange.status
            route = scope.get("route")
            name = getattr(route, "path", None) or "unmatched"
            metrics.TALLY.inc(metrics.child(metrics.REQUESTS, name, str(status)))
            client = state.get("client")
            if client is not None:
                status_class = f"{status // 100}xx"
                metrics.TALLY.inc(metrics.child(metrics.CLIENT_REQUESTS, client, status_class))
            if self.access_log and log.isEnabledFor(logging.INFO):
                known = self.lines.known(scope, name, status)
                logs.ACCESS.request(request_id, known, (time.perf_counter() - started) * 1000)


class AccessLines:
    """The encoded fields of access lines that only the request id and duration tell apart
    (a poller repeats its requests): made once, not per request. Never the query string (it
    carries legacy credentials)."""

    def __init__(self, max_kept: int = 4096) -> None:
        self.max_kept = max_kept
        self.kept: dict[tuple[str, str, str, int, str | None], bytes] = {}

    def known(self, scope: Scope, route: str, status: int) -> bytes:
        """The line's fields besides request id and duration, JSON-encoded, without braces."""
        method, path = scope["method"], scope["path"][:MAX_LOGGED_PATH]  # a scan's are long
        key = (method, path, route, status, scope["state"].get("tenant"))
        try:
            return self.kept[key]
        except KeyError:
            pass
        fields: dict[str, Any] = {"method": method, "path": path, "route": route}
        fields["status"] = status
        if key[4] is not None:
            fields["tenant"] = key[4]
        encoded = orjson.dumps(fields)[1:-1]
        if len(self.kept) >= self.max_kept:  # paths are the client's: a scan must not grow it
            self.kept.clear()
        self.kept[key] = encoded
        return encoded
