"""The bottom of the upstream stack: httpx2 with a deadline per call and a cap on reply bodies.

httpx2 speaks HTTP (interim 1xx answers, chunked bodies, keep-alive, TLS verified, outbound
proxies from the environment). This layer adds what a gateway needs on top: one deadline for
the whole call (waiting for a connection, connecting, sending, reading), a byte cap on the body
read as a stream, one resend of a GET whose kept-alive connection turns out dead (never of a
write), and httpx2's errors turned into the proxy's.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx2

from proxy.errors import BadUpstreamReply, UpstreamTimeout, UpstreamUnavailable
from proxy.upstream.call import STREAM

MAX_REPLY_BYTES = 8 * 1024 * 1024  # v4 replies are tens of KiB; a week of meter data < 1 MiB
KEPT = ("content-type", "retry-after")  # the reply headers the layers above read
NEW_CONNECTION = "connection.connect_tcp.started"  # httpcore2's trace event


class Wire(httpx2.AsyncBaseTransport):
    """Sends each request through ``client`` and returns the reply with its body read."""

    def __init__(
        self, client: httpx2.AsyncClient, *, deadline: float, max_bytes: int = MAX_REPLY_BYTES
    ) -> None:
        self.client = client
        self.deadline = deadline
        self.max_bytes = max_bytes

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        """The whole reply to ``request`` within the deadline; for a stream, its head only."""
        try:
            async with asyncio.timeout(self.deadline):
                response = await self._exchange(request, resend=request.method == "GET")
                if request.extensions.get(STREAM):
                    return response  # the body flows to the client as it arrives, unbounded
                return await self._whole(response, request)
        except TimeoutError as exc:
            raise UpstreamTimeout(reason=f"no answer within {self.deadline} s") from exc
        except httpx2.TimeoutException as exc:
            raise UpstreamTimeout(reason=type(exc).__name__) from exc

    async def _exchange(self, request: httpx2.Request, resend: bool) -> httpx2.Response:
        """The reply's head, its body unread."""
        opened: list[str] = []

        async def trace(event: str, info: dict[str, Any]) -> None:
            if event == NEW_CONNECTION:
                opened.append(event)

        request.extensions["trace"] = trace
        try:
            return await self.client.send(request, stream=True)
        except httpx2.TimeoutException:
            raise
        except (httpx2.RemoteProtocolError, httpx2.ReadError, httpx2.WriteError) as exc:
            if resend and not opened:  # a kept-alive connection the server had dropped
                return await self._exchange(request, resend=False)
            raise _failure(exc) from exc
        except httpx2.TransportError as exc:
            raise _failure(exc) from exc

    async def _whole(self, response: httpx2.Response, request: httpx2.Request) -> httpx2.Response:
        """``response`` with its body read within the cap."""
        try:
            body = await self._read(response)
        except httpx2.TimeoutException:
            raise
        except httpx2.TransportError as exc:
            raise BadUpstreamReply(reason=f"reply cut short: {type(exc).__name__}") from exc
        finally:
            await response.aclose()
        kept = {name: response.headers[name] for name in KEPT if name in response.headers}
        return httpx2.Response(response.status_code, headers=kept, content=body, request=request)

    async def _read(self, response: httpx2.Response) -> bytes:
        """The decoded body, refused as soon as it grows past ``max_bytes``."""
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise BadUpstreamReply(reason=f"reply of {declared} bytes is over {self.max_bytes}")
        parts, size = [], 0
        async for part in response.aiter_bytes():
            size += len(part)
            if size > self.max_bytes:
                raise BadUpstreamReply(reason=f"reply over {self.max_bytes} bytes")
            parts.append(part)
        return b"".join(parts)


def _failure(exc: httpx2.TransportError) -> UpstreamUnavailable:
    """The proxy's error for an httpx2 error met before a reply arrived.

    A protocol error (no reply, or one that is not HTTP) is a bad reply, as a gateway's 502.
    """
    if isinstance(exc, httpx2.RemoteProtocolError):
        return BadUpstreamReply(reason=f"no valid reply: {exc}")
    return UpstreamUnavailable(reason=f"upstream unreachable: {type(exc).__name__}")


class Pools(httpx2.AsyncClient):
    """A worker's pooled client, sending streamed replies through a client (a pool) of their own.

    A stream holds its connection for minutes; in a pool of their own, streams can never take
    the connections ordinary calls need.
    """

    def __init__(self, streams: httpx2.AsyncClient, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.streams = streams

    async def send(self, request: httpx2.Request, **kwargs: Any) -> httpx2.Response:
        """``request`` sent through the pool its kind uses."""
        if request.extensions.get(STREAM):
            return await self.streams.send(request, **kwargs)
        return await super().send(request, **kwargs)

    async def aclose(self) -> None:
        """Close both pools."""
        try:
            await super().aclose()
        finally:
            await self.streams.aclose()


def open_client(
    timeout: float,
    connect_timeout: float,
    max_connections: int,
    max_streams: int = 20,
    **kwargs: Any,
) -> httpx2.AsyncClient:
    """The pooled client of a worker: TLS verified, proxies from the environment, no redirects;
    ``max_connections`` for calls and ``max_streams`` more for streamed replies (Pools)."""
    settings: dict[str, Any] = {
        "timeout": httpx2.Timeout(timeout, connect=connect_timeout),
        "follow_redirects": False,
        "trust_env": True,
        **kwargs,
    }
    streams = httpx2.AsyncClient(
        limits=httpx2.Limits(max_connections=max_streams, max_keepalive_connections=0), **settings
    )
    calls = httpx2.Limits(max_connections=max_connections, max_keepalive_connections=50)
    return Pools(streams, limits=calls, **settings)
