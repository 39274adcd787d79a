"""Gunicorn's native ASGI worker with bounded connections: a head deadline and a connection cap.

Gunicorn's ``asgi`` worker bounds request heads itself (``limit_request_line``,
``limit_request_fields``, ``limit_request_field_size``) and closes a kept-alive connection idle
for ``keepalive`` seconds. In gunicorn 27 it does neither for a connection's first request, nor
does it enforce ``worker_connections``; this worker adds both, reading the same settings:

- a connection gets ``keepalive`` seconds to deliver a complete request head, from when it
  opens as after each response;
- a request refused while its head is read gets the v2 error shape, as the app's refusals;
- past ``worker_connections`` open connections, a new one closes the connection that has been
  waiting longest for a request head, or is itself closed when every connection is busy.
"""

from __future__ import annotations

from collections.abc import Iterable
from http import HTTPStatus
from typing import Any

from gunicorn.asgi.protocol import ASGIProtocol
from gunicorn.workers import gasgi

from proxy.errors import BadRequest, CodingNotImplemented, HeadersTooLarge, ProxyError, UrlTooLong
from proxy.http import render

# gunicorn's message may quote the request: the refusal's own text is sent instead
REFUSALS: dict[int, type[ProxyError]] = {
    414: UrlTooLong,
    431: HeadersTooLarge,
    501: CodingNotImplemented,
}


class BoundedProtocol(ASGIProtocol):  # type: ignore[misc]
    """An HTTP connection that must send its request heads in time, evictable while waiting."""

    worker: BoundedASGIWorker

    def connection_made(self, transport: Any) -> None:
        """Start the head deadline at once; over the cap, make room or close."""
        super().connection_made(transport)
        if self._request_ready is None:  # not HTTP/1 (HTTP/2 keeps its own timers)
            return
        self._arm_keepalive_timer()
        if self.worker.nr_conns > self.worker.worker_connections:
            victim = next(iter(self.worker.waiting))  # the longest waiting, maybe this one
            victim._keepalive_timeout()

    def _send_error_response(
        self, status: int, message: str, extra_headers: Iterable[tuple[str, str]] = ()
    ) -> None:
        """A request refused while its head is read, in the v2 error shape (not plain text)."""
        response = render("/", REFUSALS.get(status, BadRequest)())
        body, status = response.body, response.status_code
        lines = [
            f"HTTP/1.1 {status} {HTTPStatus(status).phrase}",
            f"Content-Type: {response.media_type}",
            f"Content-Length: {len(body)}",
            *(f"{name}: {value}" for name, value in extra_headers),
            "Connection: close",
        ]
        self._safe_write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)

    def _arm_keepalive_timer(self) -> None:
        super()._arm_keepalive_timer()
        self.worker.waiting.pop(self, None)
        self.worker.waiting[self] = None  # insertion order is the order they began waiting

    def _cancel_keepalive_timer(self) -> None:
        super()._cancel_keepalive_timer()
        self.worker.waiting.pop(self, None)


class BoundedASGIWorker(gasgi.ASGIWorker):  # type: ignore[misc]
    """``gunicorn.workers.gasgi.ASGIWorker`` serving connections through BoundedProtocol."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.waiting: dict[BoundedProtocol, None] = {}

    def init_process(self) -> None:
        """Serve with BoundedProtocol (gunicorn 27 has no setting for the protocol class)."""
        gasgi.ASGIProtocol = BoundedProtocol  # this worker process only: it runs one worker
        super().init_process()
