"""The upstream HTTP/1.1 client against scripted servers on real sockets, plain and TLS."""

from __future__ import annotations

import asyncio
import datetime as dt
import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from proxy.http1 import Http1Pool, UpstreamError, UpstreamTimeout
from proxy.sandbox import create_app as create_sandbox
from proxy.upstream import HttpxSender, proxied

pytestmark = pytest.mark.anyio

OK = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class Script:
    """What a scripted server answers, and what it saw."""

    answer: Callable[[int, bytes], bytes | None]  # (request number, request) -> raw reply
    requests: list[bytes] = field(default_factory=list)
    connections: int = 0


async def _read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        (
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        ),
        0,
    )
    return head + (await reader.readexactly(length) if length else b"")


@asynccontextmanager
async def scripted(script: Script, tls: ssl.SSLContext | None = None) -> AsyncIterator[str]:
    """A server answering each request with ``script.answer``; None closes the connection."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        script.connections += 1
        try:
            while True:
                request = await _read_request(reader)
                script.requests.append(request)
                reply = script.answer(len(script.requests), request)
                if reply is None:
                    break
                writer.write(reply)
                await writer.drain()
                if b"Connection: close" in reply:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=tls)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield f"{'https' if tls else 'http'}://localhost:{port}/api/v4"
        server.close()


def pool(root: str, timeout: float = 5.0, **kwargs: object) -> Http1Pool:
    return Http1Pool(root, timeout=timeout, connect_timeout=2.0, max_connections=4, **kwargs)


async def test_keeps_the_connection_and_sends_the_request_v4_needs() -> None:
    script = Script(lambda n, _: OK)
    async with scripted(script) as root:
        client = pool(root)
        for n in range(3):
            params = [("start_at", str(n)), ("key", "k y")]
            answer = await client.request("GET", "/systems/1", params, [("Authorization", "B t")])
            assert (answer.status, answer.content_type, answer.content) == (
                200,
                "application/json",
                b"{}",
            )
        await client.aclose()
    assert script.connections == 1
    first = script.requests[0].decode()
    assert first.startswith("GET /api/v4/systems/1?start_at=0&key=k%20y HTTP/1.1\r\n")
    assert "\r\nHost: localhost:" in first and "\r\nAuthorization: B t\r\n" in first


async def test_chunked_and_read_to_the_end_bodies() -> None:
    chunked = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
    )
    to_end = b"HTTP/1.1 503 Busy\r\nConnection: close\r\n\r\nlater"
    script = Script(lambda n, _: chunked if n == 1 else to_end)
    async with scripted(script) as root:
        client = pool(root)
        first = await client.request("GET", "/a", [], [])
        second = await client.request("GET", "/b", [], [])
    assert (first.status, first.content) == (200, b"abcde")
    assert (second.status, second.content) == (503, b"later")


async def test_a_get_on_a_connection_the_server_dropped_is_sent_again() -> None:
    # The server closes after the first answer without saying so; the next GET finds out.
    script = Script(lambda n, _: OK if n != 2 else None)
    async with scripted(script) as root:
        client = pool(root)
        await client.request("GET", "/a", [], [])
        await asyncio.sleep(0.05)
        answer = await client.request("GET", "/b", [], [])
    assert answer.status == 200 and script.connections == 2


async def test_a_write_is_never_sent_twice() -> None:
    script = Script(lambda n, _: OK if n == 1 else None)
    async with scripted(script) as root:
        client = pool(root)
        await client.request("GET", "/a", [], [])
        with pytest.raises(UpstreamError):
            await client.request("PUT", "/b", [], [("Content-Type", "application/json")], b"{}")
    assert len(script.requests) == 2
    assert script.requests[1].endswith(b"Content-Length: 2\r\n\r\n{}")


async def test_timeouts_refusals_and_garbage_are_upstream_errors() -> None:
    async with scripted(Script(lambda n, _: b"")) as root:  # never answers
        with pytest.raises(UpstreamTimeout):
            await pool(root, timeout=0.2).request("GET", "/slow", [], [])
    async with scripted(Script(lambda n, _: b"NOT HTTP AT ALL\r\n\r\n")) as root:
        with pytest.raises(UpstreamError):
            await pool(root).request("GET", "/garbage", [], [])
    async with scripted(Script(lambda n, _: OK)) as root:
        with pytest.raises(UpstreamError, match="line break"):
            await pool(root).request("GET", "/a", [], [("X-Id", "a\r\nInjected: yes")])
    with pytest.raises(UpstreamError, match="cannot connect"):
        await pool(root).request("GET", "/closed", [], [])


async def test_waiting_for_a_free_connection_counts_against_the_timeout() -> None:
    script = Script(lambda n, _: b"")  # never answers
    async with scripted(script) as root:
        client = Http1Pool(root, timeout=0.3, connect_timeout=1.0, max_connections=1)
        calls = (client.request("GET", f"/{name}", [], []) for name in "ab")
        results = await asyncio.gather(*calls, return_exceptions=True)
    assert all(isinstance(result, UpstreamTimeout) for result in results)
    assert len(script.requests) == 1  # the second gave up while the first held the connection


def certificate(tmp_path: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A self-signed certificate for localhost: the server's context and a client trusting it."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert_path, key_path)
    return server, ssl.create_default_context(cafile=str(cert_path))


async def test_tls_verifies_the_server(tmp_path: Path) -> None:
    server, trusting = certificate(tmp_path)
    async with scripted(Script(lambda n, _: OK), tls=server) as root:
        answer = await pool(root, ssl_context=trusting).request("GET", "/a", [], [])
        assert answer.status == 200
        with pytest.raises(UpstreamError):  # the default trust store does not know it
            await pool(root).request("GET", "/a", [], [])


def test_an_outbound_proxy_in_the_environment_is_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    for scheme in ("http", "https", "all", "no"):
        monkeypatch.delenv(f"{scheme}_proxy", raising=False)
        monkeypatch.delenv(f"{scheme.upper()}_PROXY", raising=False)
    assert not proxied("https://api.enphaseenergy.com/api/v4")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    assert proxied("https://api.enphaseenergy.com/api/v4")
    assert not proxied("http://127.0.0.1:9/api/v4")
    monkeypatch.setenv("NO_PROXY", "api.enphaseenergy.com")
    assert not proxied("https://api.enphaseenergy.com/api/v4")


async def test_the_httpx_sender_speaks_the_same_answers() -> None:
    transport = httpx.ASGITransport(create_sandbox())
    async with httpx.AsyncClient(transport=transport) as client:
        sender = HttpxSender(client, "http://sandbox/api/v4")
        answer = await sender.request("GET", "/systems", [("key", "nope")], [])
    assert answer.status == 401 and answer.content_type.startswith("application/json")
    async with httpx.AsyncClient() as client:
        with pytest.raises(UpstreamError):
            await HttpxSender(client, "http://127.0.0.1:9").request("GET", "/x", [], [])
