"""Per-request context: request id, size limits, access log, request metrics, last-resort errors."""

from __future__ import annotations

import itertools
import logging
import os
import re
import time
from collections.abc import Iterator

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


class RequestContext:
    """Wraps every HTTP request: id, limits, JSON access log, metrics, a 500 on a crash."""

    def __init__(self, app: ASGIApp, max_url_length: int = 4096, access_log: bool = True) -> None:
        self.app = app
        self.max_url_length = max_url_length
        self.access_log = access_log
        self.ids = request_ids()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        head = Head(scope)
        incoming = head.request_id
        request_id = incoming if incoming and REQUEST_ID.match(incoming) else next(self.ids)
        scope.setdefault("state", {})["request_id"] = request_id
        raw_id = request_id.encode()
        started = time.perf_counter()
        status = 500
        sent = False

        received = 0
        # A request without a body has none to cut: its disconnect is only the client leaving.
        body_done = not head.transfer_encoding and head.content_length in ("", "0")

        async def receive_limited() -> Message:
            nonlocal received, body_done
            message = await receive()
            if message["type"] == "http.disconnect" and not body_done:
                raise BodyCut
            body_done = not message.get("more_body", False)
            received += len(message.get("body", b""))
            if received > MAX_BODY:
                raise BodyTooLarge
            return message

        async def send_wrapper(message: Message) -> None:
            nonlocal status, sent
            if message["type"] == "http.response.start":
                status = message["status"]
                sent = True
                message["headers"] = [*message.get("headers", ()), (b"x-request-id", raw_id)]
            await send(message)

        async def answer(error: ProxyError) -> None:
            """``error`` in the shape of the request's surface."""
            if not sent:
                await renderers.render(scope["path"], error)(scope, receive, send_wrapper)

        try:
            refused = refusal(scope, self.max_url_length, head)
            if refused:
                await answer(refused)
            else:
                await self.app(scope, receive_limited, send_wrapper)
        except BodyTooLarge:
            await answer(PayloadTooLarge())
        except BodyCut:
            await answer(RequestTimeout())
        except Exception as exc:
            error = renderers.lift(exc)  # a defect, or Redis out of reach (503)
            if isinstance(error, InternalError):
                log.exception("unhandled error", extra={"request_id": request_id})
            await answer(error)
        finally:
            route = scope.get("route")
            name = getattr(route, "path", None) or "unmatched"
            metrics.TALLY.inc(metrics.child(metrics.REQUESTS, name, str(status)))
            client = scope["state"].get("client")
            if client is not None:
                status_class = f"{status // 100}xx"
                metrics.TALLY.inc(metrics.child(metrics.CLIENT_REQUESTS, client, status_class))
            if self.access_log:
                self._log(scope, request_id, name, status, started)

    @staticmethod
    def _log(scope: Scope, request_id: str, route: str, status: int, started: float) -> None:
        """One access log line: never the query string (it carries legacy credentials)."""
        if log.isEnabledFor(logging.INFO):
            fields = {
                "request_id": request_id,
                "method": scope["method"],
                "path": scope["path"][:256],
                "route": route,
                "status": status,
                "duration_ms": round((time.perf_counter() - started) * 1000, 2),
            }
            tenant = scope["state"].get("tenant")
            if tenant is not None:
                fields["tenant"] = tenant
            logs.ACCESS.write(fields)
