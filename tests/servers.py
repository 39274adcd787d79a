"""Real servers and processes the tests start themselves: redis-server, scripted HTTP servers."""

from __future__ import annotations

import datetime as dt
import shutil
import socket
import socketserver
import ssl
import struct
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from proxy import server
from proxy.server import free_port as free_port
from proxy.server import running as running


def wait_for_port(port: int, timeout: float = 15.0) -> None:
    """Block until something accepts connections on 127.0.0.1:port."""
    server.wait_for_port("127.0.0.1", port, timeout)


@contextmanager
def redis_server() -> Iterator[str]:
    """A throwaway redis-server on loopback; yields its URL. Fails if redis-server is missing."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
    port = free_port()
    with tempfile.TemporaryDirectory() as workdir:
        args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
        args += ["--appendonly", "no", "--dir", workdir]
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for_port(port)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            proc.terminate()
            proc.wait(10)


def results_of(processes: list[BaseProcess], results: Any, timeout: float) -> list[Any]:
    """Start ``processes``, gather the list each puts on ``results``, and see each exit cleanly."""
    for process in processes:
        process.start()
    gathered = [item for _ in processes for item in results.get(timeout=timeout)]
    for process in processes:
        process.join(10)
        assert process.exitcode == 0
    return gathered


@dataclass(frozen=True)
class Cut:
    """A scripted reply that stops after ``sent`` and resets the connection (TCP RST)."""

    sent: bytes


Answer = Callable[[int, bytes], "bytes | Cut | None"]


@dataclass
class Script:
    """What a scripted HTTP server answers, and what it saw.

    ``answer(n, request)`` gives the raw bytes for the n-th request (from 1); None closes the
    connection without answering; a Cut sends part of a reply and resets the connection.
    """

    answer: Answer
    requests: list[bytes] = field(default_factory=list)
    connections: int = 0


def _read_request(stream: Any) -> bytes | None:
    """One request (head and Content-Length body) from ``stream``; None at end of stream."""
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        line = stream.readline()
        if not line:
            return None
        head += line
    length = next(
        (
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        ),
        0,
    )
    return head + stream.read(length)


@contextmanager
def scripted(script: Script, tls: ssl.SSLContext | None = None) -> Iterator[str]:
    """A hostile or quirky HTTP server on loopback playing ``script``; yields its base URL."""

    class Handler(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            script.connections += 1
            while (request := _read_request(self.rfile)) is not None:
                script.requests.append(request)
                reply = script.answer(len(script.requests), request)
                if reply is None:
                    return
                if isinstance(reply, Cut):
                    self.wfile.write(reply.sent)
                    self.wfile.flush()
                    linger = struct.pack("ii", 1, 0)  # close with RST, not FIN
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
                    self.connection.close()  # before socketserver's shutdown() sends a FIN
                    return
                self.wfile.write(reply)
                self.wfile.flush()
                if b"Connection: close" in reply:
                    return

    class Server(socketserver.ThreadingTCPServer):
        daemon_threads = True
        allow_reuse_address = True

        def get_request(self) -> tuple[socket.socket, Any]:
            conn, address = super().get_request()
            return (tls.wrap_socket(conn, server_side=True) if tls else conn), address

    with Server(("127.0.0.1", 0), Handler) as httpd:
        thread = threading.Thread(target=httpd.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"{'https' if tls else 'http'}://localhost:{httpd.server_address[1]}"
        finally:
            httpd.shutdown()
            thread.join(10)


def certificate(directory: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
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
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
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
