"""Gunicorn's native ASGI worker with bounded connections: request deadlines and a connection cap.

Gunicorn's ``asgi`` worker bounds request heads itself (``limit_request_line``,
``limit_request_fields``, ``limit_request_field_size``) and closes a kept-alive connection idle
for ``keepalive`` seconds. In gunicorn 27 it does neither for a connection's first request, nor
does it bound a request body's time, nor enforce ``worker_connections``; this worker adds them:

- a connection gets ``keepalive`` seconds to deliver a complete request head, from when it
  opens as after each response;
- a request body must be complete within ``request_timeout`` seconds of when the connection
  began waiting for the request, and average ``min_body_rate`` bytes a second once
  ``keepalive`` seconds have passed since its head; otherwise the app reads a disconnect
  (answered 408 by proxy.http.middleware) and the connection closes;
- a request refused while its head is read gets the v2 error shape, as the app's refusals;
- past ``worker_connections`` open connections, a new one closes the connection that has been
  waiting longest for a request head or body, or is itself closed when every connection is busy.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Iterable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from gunicorn.asgi.protocol import ASGIProtocol
from gunicorn.workers import gasgi

from proxy.config import Server
from proxy.errors import BadRequest, CodingNotImplemented, HeadersTooLarge, ProxyError, UrlTooLong
from proxy.http import render
from proxy.storage import private

# gunicorn's message may quote the request: the refusal's own text is sent instead
REFUSALS: dict[int, type[ProxyError]] = {
    414: UrlTooLong,
    431: HeadersTooLarge,
    501: CodingNotImplemented,
}
BODY_CHECK_EVERY = 1.0  # seconds between checks of a body's progress
CLOSE_GRACE = 1.0  # seconds the app gets to answer a timed-out body before the connection closes


@dataclass(frozen=True)
class BodyLimits:
    """How long a request may take and how fast its body must come."""

    request_timeout: float = 30.0
    min_rate: float = 1024.0
    grace: float = 5.0

    @classmethod
    def of(cls, server: Server) -> BodyLimits:
        """The limits ``[server]`` configures."""
        return cls(server.request_timeout, server.min_body_rate, server.keepalive)

    def expired(self, waited: float, body_time: float, received: int) -> bool:
        """Whether a body is late: ``waited`` s since the request was awaited, ``body_time``
        since its head, ``received`` bytes of it so far."""
        too_slow = received < self.min_rate * (body_time - self.grace)
        return waited >= self.request_timeout or too_slow


class BoundedProtocol(ASGIProtocol):  # type: ignore[misc]
    """An HTTP connection that must send its requests in time, evictable while waiting."""

    worker: BoundedASGIWorker
    _waiting_since = 0.0  # loop time the connection began waiting for its current request
    _body_since: float | None = None  # loop time of the head, while the body is incomplete
    _body_bytes = 0
    _body_timer: Any = None

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
        self._waiting_since = self.worker.loop.time()
        self.worker.waiting.pop(self, None)
        self.worker.waiting[self] = None  # insertion order is the order they began waiting

    def _cancel_keepalive_timer(self) -> None:
        super()._cancel_keepalive_timer()
        if self._body_since is None:  # a request still sending its body stays evictable
            self.worker.waiting.pop(self, None)

    def _keepalive_timeout(self) -> None:
        """Close a connection late with its head, or (evicted) with its body."""
        if self._body_since is not None:
            self._expire_body()
        super()._keepalive_timeout()

    def _on_headers_complete(self) -> Any:
        result = super()._on_headers_complete()
        request = self._current_request
        if request.content_length or request.chunked:
            self._body_since = self.worker.loop.time()
            if self._keepalive_handle is None:  # pipelined: it was not waited for
                self._waiting_since = self._body_since
            self._body_bytes = 0
            self._body_timer = self.worker.loop.call_later(BODY_CHECK_EVERY, self._check_body)
        return result

    def _on_body(self, chunk: bytes) -> None:
        self._body_bytes += len(chunk)
        super()._on_body(chunk)

    def _on_message_complete(self) -> None:
        self._end_body()
        super()._on_message_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._end_body()
        super().connection_lost(exc)

    def _end_body(self) -> None:
        """The body is complete or abandoned: no more checks, no longer waiting."""
        if self._body_since is None:
            return
        self._body_since = None
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None
        if self._keepalive_handle is None:
            self.worker.waiting.pop(self, None)

    def _check_body(self) -> None:
        """Time out a body that is late or too slow; else look again in a while."""
        self._body_timer = None
        if self._body_since is None or self._closed:
            return
        now = self.worker.loop.time()
        limits = self.worker.body_limits
        waited, body_time = now - self._waiting_since, now - self._body_since
        # A client held back because the app is not reading yet is not slow.
        if not self._reading_paused and limits.expired(waited, body_time, self._body_bytes):
            self._expire_body()
            self.worker.loop.call_later(CLOSE_GRACE, self._close_transport)
        else:
            self._body_timer = self.worker.loop.call_later(BODY_CHECK_EVERY, self._check_body)

    def _expire_body(self) -> None:
        """The app's next read of the body gets a disconnect, which it answers with a 408."""
        receiver = self._body_receiver
        self._end_body()
        if receiver is not None:
            receiver._body_wait_expired = True
            receiver._wake_waiter()


class BoundedASGIWorker(gasgi.ASGIWorker):  # type: ignore[misc]
    """``gunicorn.workers.gasgi.ASGIWorker`` serving connections through BoundedProtocol."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.waiting: dict[BoundedProtocol, None] = {}
        self.body_limits = BodyLimits()

    def init_process(self) -> None:
        """Serve with BoundedProtocol (gunicorn 27 has no setting for the protocol class)."""
        from proxy.serving.server import CONFIG_ENV, config_from_env

        os.umask(private.UMASK)
        if CONFIG_ENV in os.environ:  # another app on this worker (a bench's baseline): defaults
            self.body_limits = BodyLimits.of(config_from_env().server)
        gasgi.ASGIProtocol = BoundedProtocol  # this worker process only: it runs one worker
        super().init_process()


def freeze_loaded(worker: Any) -> None:
    """Move the loaded app's objects out of the collector's reach (gunicorn's
    ``post_worker_init``): a full collection walked them all, stalling the worker's hits for
    tens of milliseconds (the p99 of a cache hit)."""
    gc.collect()
    gc.freeze()
