"""The bottom upstream layer (httpx2, deadline, body cap, one resend) against real sockets."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx2
import pytest

from proxy.config import Tenant
from proxy.errors import BadUpstreamReply, UpstreamTimeout, UpstreamUnavailable
from proxy.upstream.call import Call, request
from proxy.upstream.wire import Wire, open_client
from tests.support import Cut, Script, certificate, scripted

pytestmark = pytest.mark.anyio

OK = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
EARLY_HINTS = b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
TENANT = Tenant(name="acme", api_key="k", client_id="c", client_secret="s")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def wire(deadline: float = 5.0, max_bytes: int = 1024, **client: Any) -> Wire:
    return Wire(open_client(deadline, 2.0, 4, **client), deadline=deadline, max_bytes=max_bytes)


async def get(layer: Wire, root: str, path: str = "/a", method: str = "GET") -> httpx2.Response:
    content = b"{}" if method != "GET" else None
    sent = request(root + "/api/v4", Call(TENANT, path, [("n", "1 2")]), method, content=content)
    return await layer.handle_async_request(sent)


def body(size: int, status: bytes = b"200 OK") -> bytes:
    return b"HTTP/1.1 %s\r\nContent-Length: %d\r\n\r\n" % (status, size) + b"x" * size


async def test_keeps_the_connection_and_sends_the_request_asked() -> None:
    script = Script(lambda n, _: OK)
    with scripted(script) as root:
        layer = wire()
        replies = [await get(layer, root, f"/systems/{n}") for n in range(3)]
        await layer.client.aclose()
    assert [(r.status_code, r.headers["content-type"], r.content) for r in replies] == [
        (200, "application/json", b"{}")
    ] * 3
    assert script.connections == 1
    first = script.requests[0].decode()
    assert first.startswith("GET /api/v4/systems/0?n=1+2 HTTP/1.1\r\n")
    assert "\r\nHost: localhost:" in first and "\r\nAccept: application/json\r\n" in first


async def test_chunked_and_read_to_the_end_bodies() -> None:
    chunked = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
    )
    to_end = b"HTTP/1.1 503 Busy\r\nConnection: close\r\n\r\nlater"
    with scripted(Script(lambda n, _: chunked if n == 1 else to_end)) as root:
        layer = wire()
        first, second = await get(layer, root), await get(layer, root)
    assert (first.status_code, first.content) == (200, b"abcde")
    assert (second.status_code, second.content) == (503, b"later")


async def test_an_interim_103_is_skipped_and_the_final_answer_used() -> None:
    """Found against http1: a 103 was taken as the answer and the real one left on the wire."""
    final = b'HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\n{"n": 1}'
    script = Script(lambda n, _: EARLY_HINTS + final if n == 1 else OK)
    with scripted(script) as root:
        layer = wire()
        first, second = await get(layer, root, "/first"), await get(layer, root, "/second")
    assert (first.status_code, first.content) == (200, b'{"n": 1}')
    assert (second.status_code, second.content) == (200, b"{}")


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
async def test_a_body_over_the_cap_is_a_bad_reply(declared: bool) -> None:
    chunk = b"x" * 600
    big = (
        body(2000)
        if declared
        else b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        + b"258\r\n"
        + chunk
        + b"\r\n"
        + b"258\r\n"
        + chunk
        + b"\r\n0\r\n\r\n"
    )
    with scripted(Script(lambda n, _: big if n == 1 else body(1024))) as root:
        layer = wire(max_bytes=1024)
        with pytest.raises(BadUpstreamReply):
            await get(layer, root)
        assert (await get(layer, root)).content == b"x" * 1024  # at the cap: served


@pytest.mark.parametrize("length", [b"Content-Length: 100\r\n", b""], ids=["declared", "to-end"])
async def test_a_body_cut_by_a_reset_is_a_bad_reply(length: bytes) -> None:
    """Found against http1: a body read to the end, cut by a reset, came back as a 200."""
    cut = b"HTTP/1.1 200 OK\r\n" + length + b"\r\n" + b"x" * 40
    with scripted(Script(lambda n, _: Cut(cut))) as root:
        with pytest.raises(BadUpstreamReply):
            await get(wire(), root)


async def test_a_get_on_a_connection_the_server_dropped_is_sent_again() -> None:
    script = Script(lambda n, _: OK if n != 2 else None)  # no answer to the second request
    with scripted(script) as root:
        layer = wire()
        await get(layer, root)
        reply = await get(layer, root, "/b")
    assert reply.status_code == 200 and script.connections == 2 and len(script.requests) == 3


async def test_a_get_on_a_new_connection_is_not_sent_again() -> None:
    script = Script(lambda n, _: None)
    with scripted(script) as root:
        with pytest.raises(BadUpstreamReply):
            await get(wire(), root)
    assert len(script.requests) == 1


async def test_a_write_is_never_sent_twice() -> None:
    script = Script(lambda n, _: OK if n == 1 else None)
    with scripted(script) as root:
        layer = wire()
        await get(layer, root)
        with pytest.raises(BadUpstreamReply):
            await get(layer, root, "/b", method="PUT")
    assert len(script.requests) == 2
    assert script.requests[1].startswith(b"PUT ") and script.requests[1].endswith(b"\r\n\r\n{}")


async def test_timeouts_refusals_and_garbage_are_upstream_errors() -> None:
    with scripted(Script(lambda n, _: b"")) as root:  # never answers
        with pytest.raises(UpstreamTimeout):
            await get(wire(deadline=0.3), root)
    with scripted(Script(lambda n, _: b"NOT HTTP AT ALL\r\n\r\n")) as root:
        with pytest.raises(BadUpstreamReply):
            await get(wire(), root)
    with pytest.raises(UpstreamUnavailable) as refused:
        await get(wire(), root)  # the server is gone: nothing listens there
    assert type(refused.value) is UpstreamUnavailable


async def test_the_deadline_covers_waiting_for_a_connection_and_reading() -> None:
    script = Script(lambda n, _: b"")  # never answers
    with scripted(script) as root:
        layer = Wire(open_client(30, 2.0, 1), deadline=0.3)  # one connection, 30 s per step
        async with asyncio.timeout(10):  # a third of one step's timeout: the deadline ended both
            calls = (get(layer, root) for _ in range(2))
            results = await asyncio.gather(*calls, return_exceptions=True)
    assert all(isinstance(result, UpstreamTimeout) for result in results), results


async def test_tls_verifies_the_server(tmp_path: Path) -> None:
    server, trusting = certificate(tmp_path)
    with scripted(Script(lambda n, _: OK), tls=server) as root:
        assert (await get(wire(verify=trusting), root)).status_code == 200
        with pytest.raises(UpstreamUnavailable):  # the default trust store does not know it
            await get(wire(), root)


async def test_an_outbound_proxy_in_the_environment_is_used(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    script = Script(lambda n, _: OK)
    with scripted(script) as proxy_url:
        for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HTTP_PROXY", proxy_url)
        reply = await get(wire(), "http://api.enphase.invalid")
    assert reply.status_code == 200
    assert script.requests[0].startswith(b"GET http://api.enphase.invalid/api/v4/a?n=1+2 ")
