"""What the tests share: real servers and processes, schemas of v2 and v4 bodies, v4 replies."""

from __future__ import annotations

import asyncio
import datetime as dt
import http.client
import os
import resource
import shutil
import signal
import socket
import socketserver
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from functools import cache, partial
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any, TypedDict, TypeVar
from urllib.parse import urlencode, urlsplit
from zoneinfo import ZoneInfo

import httpx2
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from jsonschema import Draft7Validator

from bench.redis_nodes import RedisNodes as RedisNodes
from bench.redis_nodes import SentinelGroup as SentinelGroup
from bench.redis_nodes import redis_cli as redis_cli
from bench.redis_nodes import redis_cluster as redis_cluster
from bench.redis_nodes import redis_sentinel_group as redis_sentinel_group
from mappings.base import V2Request, V4Call
from mappings.openapi import OPENAPI
from proxy.cache import freshness
from proxy.config import Config, parse
from proxy.sandbox import DEMO, App, SandboxSettings, create_app
from proxy.sandbox.demo import WATT_APP as WATT_APP
from proxy.sandbox.demo import config_text as config_text
from proxy.sandbox.demo import proxy_config as proxy_config
from proxy.serving import server
from proxy.serving.server import free_port as free_port
from proxy.serving.server import running as running
from proxy.tokens import TokenBroker
from proxy.tokens.store import TokenRecord, open_store
from proxy.v4.shapes import DATA

# ----------------------------------------------------------------------------
# Real servers for end-to-end tests: the sandbox and the proxy on loopback sockets.

SCRAPE = {"Authorization": "Bearer test-scrape-key"}  # the scrape key config_text sets
#: The TLS context of the tests' one-off clients: httpx2 builds a new one for each client
#: otherwise, loading the CA bundle (~35 ms of CPU for a loopback call).
TLS = ssl.create_default_context()
ROOT = Path(__file__).resolve().parent.parent
T = TypeVar("T")
SERVE_LOGS: list[Path] = []  # everything `enphase-proxy serve` printed during the session


@contextmanager
def uvicorn_thread(app: Any) -> Iterator[str]:
    """``app`` served by uvicorn in a thread on a free loopback port; yields its base URL."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for_port(port)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(15)


def emulating_client(name: str, key: str) -> str:
    """A ``[[legacy_clients]]`` table of the demo tenant that has the retired endpoints emulated."""
    return (
        f'\n[[legacy_clients]]\nname = "{name}"\nkey = "{key}"\n'
        'tenants = ["demo"]\nemulate_retired = true\n'
    )


#: Tenant limits (proxy side) no test reaches.
class PlanLimits(TypedDict):
    """A tenant's call limits, as config_text takes them."""

    per_minute: int
    per_month: int


UNMETERED: PlanLimits = {"per_minute": 10**6, "per_month": 10**9}


@contextmanager
def sandbox(settings: SandboxSettings | None = None) -> Iterator[tuple[str, Any]]:
    """The sandbox on a real socket; yields (base URL, its Starlette app)."""
    app = create_app(settings)
    with uvicorn_thread(app) as url:
        yield url, app


@contextmanager
def unmetered_sandbox(clock_offset: float = 0.0) -> Iterator[str]:
    """The sandbox with a demo app whose plan limits no test reaches; yields its URL."""
    app = App(DEMO.client_id, DEMO.client_secret, DEMO.api_key, "Kilowatt", 10**6, 10**9)
    with sandbox(SandboxSettings(apps=[app])) as (url, _):
        httpx2.post(url + "/_sandbox/clock", json={"offset": clock_offset}).raise_for_status()
        yield url


def limit_open_files(soft: int) -> None:
    """Set this process's soft limit of open files to ``soft`` (within the hard limit)."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(soft, hard), hard))


@contextmanager
def proxy(config: Config) -> Iterator[str]:
    """The proxy app in-process on a real socket; yields its base URL."""
    from proxy.app import create_app as create_proxy

    with uvicorn_thread(create_proxy(config)) as url:
        yield url


@contextmanager
def serve_process(
    config_path: Path, workers: int = 2, *args: str, open_files: int | None = None
) -> Iterator[str]:
    """``enphase-proxy serve`` (real gunicorn workers) as a child process, once it answers.

    Gunicorn listens before its workers have started their services, so the URL is yielded
    once /healthz answers. ``open_files`` lowers the child's soft limit of open files.
    """
    port = free_port()
    command = [sys.executable, "-m", "proxy.cli", "serve", "--config", str(config_path)]
    command += ["--port", str(port), "--workers", str(workers), *args]
    log_path = config_path.parent / f"serve-{port}.log"
    SERVE_LOGS.append(log_path)
    limit = None if open_files is None else partial(limit_open_files, open_files)
    with running(command, port, log_path, ROOT, limit):
        url = f"http://127.0.0.1:{port}"
        # Gunicorn listens before its workers have started their services.
        httpx2.get(url + "/healthz", timeout=30).raise_for_status()
        yield url


# Tokens: a sandbox in its own process, token configurations, stored records.

CLIENT = ("sandbox-client-id", "sandbox-client-secret")


@contextmanager
def sandbox_process(
    access_token_ttl: int = 86400, refresh_token_ttl: int = 7 * 86400
) -> Iterator[str]:
    """The sandbox serving in its own process on a free port; yields its base URL."""
    port = free_port()
    ttls = f"access_token_ttl={access_token_ttl}, refresh_token_ttl={refresh_token_ttl}"
    code = "from proxy.sandbox import SandboxSettings as S, serve; "
    code += f"serve('127.0.0.1', {port}, S({ttls}))"
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


def token_config(url: str, data_dir: Path, **kwargs: Any) -> Config:
    """A configuration with one sandbox tenant (see ``token_config_text``)."""
    return parse(token_config_text(url, data_dir, **kwargs))


def token_config_text(
    url: str,
    data_dir: Path,
    *,
    tenant: str = "demo",
    grant: str = "password",
    password: bool = True,
    redis_url: str | None = None,
    tokens: str = "",
) -> str:
    """The harness configuration for one sandbox tenant; ``tokens`` adds lines to [tokens]."""
    extra = f'[tokens]\nstore = "{"redis" if redis_url else "file"}"\n{tokens}\n'
    if redis_url:
        extra += f'[redis]\nurl = "{redis_url}"\n'
    secret = "demo-password" if password else None
    return config_text(url, data_dir, extra, name=tenant, grant=grant, password=secret)


def grants(url: str) -> dict[str, int]:
    """The sandbox's successful token grants by type."""
    counts: dict[str, int] = httpx2.get(f"{url}/_sandbox/stats", verify=TLS).json()["token_grants"]
    return counts


def fresh_tokens(url: str) -> dict[str, Any]:
    """A token set straight from the sandbox's password grant."""
    form = {"grant_type": "password", "username": "demo@example.com", "password": "demo-password"}
    tokens: dict[str, Any] = httpx2.post(
        f"{url}/oauth/token", data=form, auth=CLIENT, verify=TLS
    ).json()
    return tokens


def token_works(url: str, access_token: str | None) -> bool:
    """Whether the sandbox v4 API accepts the access token (there is one)."""
    if access_token is None:
        return False
    response = httpx2.get(
        f"{url}/api/v4/systems",
        params={"key": "sandbox-api-key"},
        headers={"Authorization": f"Bearer {access_token}"},
        verify=TLS,
    )
    return response.status_code == 200


def present(value: T | None) -> T:
    """``value``, which the test needs to be there (a stored record, a match)."""
    if value is None:
        raise AssertionError("expected a value, found None")
    return value


def stored(config: Config, tenant: str) -> TokenRecord | None:
    """The tenant's record, read through a store opened for this one call."""

    async def read() -> TokenRecord | None:
        store = open_store(config)
        try:
            return await store.load(tenant)
        finally:
            await store.close()

    return asyncio.run(read())


async def import_tokens(
    config: Config, tenant: str, tokens: dict[str, Any], expires_at: int
) -> None:
    """Store ``tokens`` (a token response) for ``tenant`` as an import would."""
    broker = TokenBroker(config, detached=False)
    await broker.import_tokens(tenant, tokens["access_token"], tokens["refresh_token"], expires_at)
    await broker.close()


# ----------------------------------------------------------------------------
# Real servers and processes the tests start themselves: redis-server, scripted HTTP servers.


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


def results_of(processes: Sequence[BaseProcess], results: Any, timeout: float) -> list[Any]:
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
    body: bytes = stream.read(length)
    return head + body


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


# ----------------------------------------------------------------------------
# The gunicorn workers of a ``serve`` child seen through /proc: pids, usage, pinned connections.


@dataclass(frozen=True)
class Usage:
    """A process's open file descriptors, how many are sockets, and its resident memory."""

    fds: int
    sockets: int
    rss: int


def children(pid: int) -> list[int]:
    """The pids whose parent is ``pid``."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return sorted(found)


def serve_processes(config_path: Path) -> list[int]:
    """The ``serve`` this process started with ``config_path`` and all its descendants."""
    mark = str(config_path).encode()
    found = [
        pid for pid in children(os.getpid()) if mark in Path(f"/proc/{pid}/cmdline").read_bytes()
    ]
    for pid in found:
        found += [child for child in children(pid) if child not in found]
    return found


def fd_links(pid: int) -> list[str]:
    """Where each open file descriptor of ``pid`` points."""
    links = []
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            links.append(os.readlink(fd))
        except OSError:
            continue
    return links


def usage(pid: int) -> Usage:
    """The descriptors, sockets and resident memory of ``pid`` now."""
    links = fd_links(pid)
    status = Path(f"/proc/{pid}/status").read_text()
    rss_kib = next(int(line.split()[1]) for line in status.splitlines() if line[:6] == "VmRSS:")
    return Usage(len(links), sum(link.startswith("socket:") for link in links), rss_kib * 1024)


def tcp_inode(local_port: int, remote_port: int) -> str | None:
    """The inode of the loopback TCP socket from ``local_port`` to ``remote_port``."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        ports = (int(fields[1].rsplit(":", 1)[1], 16), int(fields[2].rsplit(":", 1)[1], 16))
        if ports == (local_port, remote_port):
            return fields[9]
    return None


def owner(conn: http.client.HTTPConnection, pids: list[int]) -> int | None:
    """Which of ``pids`` accepted the connection ``conn``."""
    assert conn.sock is not None
    inode = tcp_inode(conn.port, conn.sock.getsockname()[1])
    return next((pid for pid in pids if f"socket:[{inode}]" in fd_links(pid)), None)


def pinned_get(conn: http.client.HTTPConnection, path: str, query: Any = ()) -> httpx2.Response:
    """A GET on ``conn`` as an httpx response (for the same checks as the load's)."""
    conn.request("GET", f"{path}?{urlencode(query)}" if query else path)
    reply = conn.getresponse()
    return httpx2.Response(reply.status, headers=reply.getheaders(), content=reply.read())


@contextmanager
def pinned(
    url: str, config_path: Path, workers: int
) -> Iterator[dict[int, http.client.HTTPConnection]]:
    """A keep-alive connection accepted by each of the ``workers`` of the serve of ``config_path``.

    A worker's event loop accepts every queued connection at once, so each worker found is
    paused (SIGSTOP) until the others have accepted theirs.
    """
    parts = urlsplit(url)
    with ExitStack() as connections:
        by_worker: dict[int, http.client.HTTPConnection] = {}
        deadline = time.monotonic() + 15
        try:
            while len(by_worker) < workers and time.monotonic() < deadline:
                conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=15)
                connections.callback(conn.close)
                assert pinned_get(conn, "/healthz").status_code == 200
                pid = owner(conn, serve_processes(config_path))
                if pid is not None and pid not in by_worker:
                    by_worker[pid] = conn
                    os.kill(pid, signal.SIGSTOP)
        finally:
            for pid in by_worker:
                os.kill(pid, signal.SIGCONT)
        assert len(by_worker) == workers, f"reached only workers {sorted(by_worker)}"
        yield by_worker


def gunicorn_workers(config_path: Path) -> list[int]:
    """The worker processes of the gunicorn that the serve of ``config_path`` started."""
    found = serve_processes(config_path)
    gunicorns = [pid for pid in found if b"gunicorn" in Path(f"/proc/{pid}/cmdline").read_bytes()]
    workers = {pid for gunicorn in gunicorns for pid in children(gunicorn)} & set(gunicorns)
    return sorted(workers)  # forked by the master, with its command line


def peak_rss(pid: int, during: Callable[[], Any], every: float = 0.05) -> tuple[int, int]:
    """(resident bytes of ``pid`` before, highest resident bytes while ``during()`` runs)."""
    before = usage(pid).rss
    peak = before
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.wait(every):
            peak = max(peak, usage(pid).rss)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        during()
    finally:
        done.set()
        sampler.join()
    return before, max(peak, usage(pid).rss)


# ----------------------------------------------------------------------------
# Validation of v2 bodies against the proxy's own OpenAPI document (``mappings.openapi``).


def as_json_schema(schema: Any) -> Any:
    """An OpenAPI 3.0 schema as JSON Schema: ``nullable: true`` becomes ``anyOf [.., null]``."""
    if isinstance(schema, list):
        return [as_json_schema(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    converted = {k: as_json_schema(v) for k, v in schema.items() if k != "nullable"}
    return {"anyOf": [converted, {"type": "null"}]} if schema.get("nullable") else converted


def response_schema(route_template: str, status: int) -> dict[str, Any] | None:
    """The documented body schema of ``status`` on ``route_template`` (None: no body)."""
    response = OPENAPI["paths"][route_template]["get"]["responses"][str(status)]
    while "$ref" in response:
        response = OPENAPI["components"]["responses"][response["$ref"].rsplit("/", 1)[-1]]
    content = response.get("content")
    return content["application/json"]["schema"] if content else None


def closed(schema: Any) -> Any:
    """``schema`` with every object that lists its properties closed to any other member."""
    if isinstance(schema, list):
        return [closed(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: closed(v) for k, v in schema.items()}
    if "properties" in out:
        out.setdefault("additionalProperties", False)
    return out


@cache
def _validator(route_template: str, status: int, exact: bool) -> Draft7Validator | None:
    schema = response_schema(route_template, status)
    if schema is None:
        return None
    root = as_json_schema({"allOf": [schema], "components": OPENAPI["components"]})
    root = closed(root) if exact else root
    return Draft7Validator(root, format_checker=Draft7Validator.FORMAT_CHECKER)


def validate(route_template: str, status: int, body: Any, *, exact: bool = False) -> None:
    """Raise (ValidationError; KeyError if undocumented) unless ``body`` matches the v2 doc.

    ``exact``: a member the doc does not define is a failure too (v2 bodies had no others).
    """
    validator = _validator(route_template, status, exact)
    if validator is None:
        if body not in (None, b"", ""):
            raise AssertionError(f"{route_template} {status} has no body, got {body!r}")
        return
    validator.validate(body)


def validate_body(schema: Any, body: Any, *, exact: bool = False) -> None:
    """Raise unless ``body`` matches ``schema``, a v2 schema using the document's components."""
    root = as_json_schema({"allOf": [schema], "components": OPENAPI["components"]})
    checker = Draft7Validator.FORMAT_CHECKER
    Draft7Validator(closed(root) if exact else root, format_checker=checker).validate(body)


# ----------------------------------------------------------------------------
# JSON Schemas of the v4 200 bodies the mappings read, written from the v4 monitoring docs.
# Loose where v4 is loose: no member is required beyond the one ``proxy.v4.shapes`` requires
# (where the endpoint keeps its data), every epoch is any int64, numbers may be fractional.
# ``strategy`` draws bodies from them (only the keywords these schemas use).

JSON = dict[str, Any]

INT64: JSON = {"type": "integer", "minimum": -(2**63), "maximum": 2**63 - 1}
COUNT: JSON = {"type": "integer", "minimum": 0, "maximum": 10**6}
NUMBER: JSON = {"type": "number"}
TEXT: JSON = {"type": "string", "maxLength": 12}
DAY: JSON = {"type": "string", "format": "date"}
STATUS: JSON = {"enum": ["normal", "comm", "micro", "power", "encharge_issue", "retired", "x"]}
ZONE: JSON = {"enum": ["America/Los_Angeles", "Europe/Berlin", "Australia/Sydney", "Nope/Zone"]}
SERIES: JSON = {"type": "array", "items": COUNT, "maxItems": 8}


def obj(properties: JSON) -> JSON:
    """An object schema with these optional members."""
    return {"type": "object", "properties": properties}


def array(items: JSON, max_items: int = 4) -> JSON:
    """An array schema."""
    return {"type": "array", "items": items, "maxItems": max_items}


META = obj(
    {
        "status": STATUS,
        "last_report_at": INT64,
        "last_energy_at": INT64,
        "operational_at": INT64,
    }
)
SYSTEM_SCHEMA = obj(
    {
        "system_id": COUNT,
        "name": TEXT,
        "public_name": TEXT,
        "timezone": ZONE,
        "address": obj({"city": TEXT, "state": TEXT, "country": TEXT, "postal_code": TEXT}),
        "connection_type": {"enum": ["ethernet", "cellular", "wifi"]},
        "status": STATUS,
        "last_report_at": INT64,
        "last_energy_at": INT64,
        "operational_at": INT64,
        "reference": TEXT,
        "other_references": array(TEXT),
        "energy_lifetime": NUMBER,
        "system_size": NUMBER,
    }
)
DEVICE = obj(
    {
        "id": COUNT,
        "last_report_at": INT64,
        "name": TEXT,
        "serial_number": TEXT,
        "part_number": TEXT,
        "sku": TEXT,
        "model": TEXT,
        "status": TEXT,
        "active": {"type": "boolean"},
        "state": TEXT,
    }
)


def telemetry_schema(interval: JSON) -> JSON:
    """A v4 telemetry body with these intervals."""
    return obj(
        {
            "system_id": COUNT,
            "granularity": {"enum": ["15mins", "day", "week"]},
            "total_devices": COUNT,
            "start_at": INT64,
            "end_at": INT64,
            "items": TEXT,
            "intervals": array(interval, 6),
            "meta": META,
        }
    )


QUANTITY = obj({"value": NUMBER, "units": TEXT, "precision": COUNT})

SCHEMAS: dict[str, JSON] = {
    "systems": obj(
        {
            "total": COUNT,
            "current_page": COUNT,
            "size": COUNT,
            "count": COUNT,
            "items": TEXT,
            "systems": array(SYSTEM_SCHEMA, 3),
        }
    ),
    "system": SYSTEM_SCHEMA,
    "retrieve_system_id": obj({"system_id": COUNT}),
    "summary": obj(
        {
            "system_id": COUNT,
            "current_power": COUNT,
            "energy_lifetime": COUNT,
            "energy_today": COUNT,
            "last_interval_end_at": INT64,
            "last_report_at": INT64,
            "modules": COUNT,
            "operational_at": INT64,
            "size_w": NUMBER,
            "source": {"enum": ["meter", "microinverters", "other"]},
            "status": STATUS,
            "summary_date": DAY,
        }
    ),
    "devices": obj(
        {
            "system_id": COUNT,
            "total_devices": COUNT,
            "items": TEXT,
            "devices": obj({kind: array(DEVICE, 3) for kind in ("micros", "meters", "gateways")}),
        }
    ),
    "energy_lifetime": obj(
        {
            "system_id": COUNT,
            "start_date": DAY,
            "meter_start_date": DAY,
            "production": SERIES,
            "micro_production": SERIES,
            "meter_production": SERIES,
            "meta": META,
        }
    ),
    "consumption_lifetime": obj(
        {"system_id": COUNT, "start_date": DAY, "consumption": SERIES, "meta": META}
    ),
    "production_meter_readings": obj(
        {
            "system_id": COUNT,
            "meter_readings": array(obj({"serial_number": TEXT, "value": COUNT, "read_at": INT64})),
            "meta": META,
        }
    ),
    "rgm_stats": obj(
        {
            "system_id": COUNT,
            "total_devices": COUNT,
            "meta": META,
            "intervals": array(
                obj({"end_at": INT64, "wh_del": NUMBER, "devices_reporting": COUNT})
            ),
            "meter_intervals": array(
                obj(
                    {
                        "meter_serial_number": TEXT,
                        "envoy_serial_number": TEXT,
                        "intervals": array(
                            obj(
                                {
                                    "channel": COUNT,
                                    "end_at": INT64,
                                    "wh_del": NUMBER,
                                    "curr_w": NUMBER,
                                }
                            )
                        ),
                    }
                ),
                2,
            ),
        }
    ),
    "inverters_summary": array(
        obj(
            {
                "signal_strength": COUNT,
                "micro_inverters": array(
                    obj(
                        {
                            "id": COUNT,
                            "model": TEXT,
                            "part_number": TEXT,
                            "serial_number": TEXT,
                            "sku": TEXT,
                            "status": TEXT,
                            "power_produced": {"anyOf": [QUANTITY, NUMBER]},
                            "proc_load": TEXT,
                            "param_table": TEXT,
                            "envoy_serial_number": TEXT,
                            "energy": {"anyOf": [QUANTITY, NUMBER]},
                            "grid_profile": TEXT,
                            "last_report_date": {
                                "enum": ["2024-06-01T10:00:00Z", "2024-06-01 10:00:00", "x"]
                            },
                        }
                    ),
                    3,
                ),
            }
        ),
        2,
    ),
    "production_micro": telemetry_schema(
        obj({"end_at": INT64, "devices_reporting": COUNT, "powr": NUMBER, "enwh": NUMBER})
    ),
    "consumption_meter": telemetry_schema(
        obj({"end_at": INT64, "devices_reporting": COUNT, "enwh": NUMBER})
    ),
}


def schema_for(path: str) -> JSON:
    """The schema of the 200 body of the v4 GET ``path``, its data member required."""
    name = freshness.endpoint_name(path)
    schema = SCHEMAS[name]
    members = DATA[name]
    if members is None:
        return schema
    name_of_data, _ = members[0]
    return schema | {"required": [name_of_data]}


def examples(full: int) -> int:
    """How many examples a costly property test runs: ``full`` under hypothesis's "ci" profile
    (``.ci/run`` selects it), a third of them in the default tier, which must stay fast."""
    return full if settings.get_current_profile_name() == "ci" else max(10, full // 3)


def costly_property(full: int) -> settings:
    """The settings of a costly property test: ``examples(full)`` examples, derandomized and
    without an example database (the same ones every run), no deadline."""
    return settings(
        max_examples=examples(full),
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


def strategy(schema: JSON) -> st.SearchStrategy[Any]:
    """Values valid against ``schema``: optional members present or not, arrays short."""
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    if "anyOf" in schema:
        return st.one_of([strategy(option) for option in schema["anyOf"]])
    kind = schema["type"]
    if kind == "object":
        members = {name: strategy(sub) for name, sub in schema["properties"].items()}
        required = set(schema.get("required", ()))
        return st.fixed_dictionaries(
            {k: v for k, v in members.items() if k in required},
            optional={k: v for k, v in members.items() if k not in required},
        )
    if kind == "array":
        return st.lists(strategy(schema["items"]), max_size=schema.get("maxItems", 4))
    if kind == "integer":
        return st.integers(schema.get("minimum"), schema.get("maximum"))
    if kind == "number":
        return st.one_of(st.integers(-(10**9), 10**9), st.floats(-1e9, 1e9))
    if kind == "boolean":
        return st.booleans()
    if schema.get("format") == "date":
        return st.dates(dt.date(2000, 1, 1), dt.date(2030, 12, 31)).map(dt.date.isoformat)
    return st.text(max_size=schema.get("maxLength", 12))


# ----------------------------------------------------------------------------
# v4 reply bodies shaped as the v4 monitoring spec documents them, and v2 requests.

GRANULARITY = {"15mins": 15 * 60, "day": 86400, "week": 7 * 86400}
SYSTEM_ID = 42


def at(text: str, zone: str) -> int:
    """The epoch of local wall time ``text`` (``YYYY-MM-DDTHH:MM``) in ``zone``."""
    return int(dt.datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone)).timestamp())


def request(now: int, system_id: str = str(SYSTEM_ID), **query: str) -> V2Request:
    """A v2 request for ``system_id`` with ``query`` parameters at ``now``."""
    return V2Request({"system_id": system_id}, tuple(query.items()), now)


def meta(status: str = "normal", last_report_at: int = 1_830_297_600) -> dict[str, Any]:
    """A v4 ``meta`` object; by default the system last reported after every test's now."""
    return {
        "status": status,
        "last_report_at": last_report_at,
        "last_energy_at": last_report_at - 600,
        "operational_at": 1_357_023_600,
    }


def system(timezone: str = "America/Los_Angeles", status: str = "normal") -> dict[str, Any]:
    """A v4 ``/systems/{id}`` body."""
    return {
        "system_id": SYSTEM_ID,
        "name": "Sample Residence",
        "public_name": "Residential System",
        "timezone": timezone,
        "address": {"city": "Sebastopol", "state": "CA", "country": "US", "postal_code": "95472"},
        "connection_type": "ethernet",
        "status": status,
        **meta(status),
    }


def telemetry(
    call: V4Call, now: int, step: int, fields: tuple[str, ...], devices: int = 3
) -> dict[str, Any]:
    """v4 telemetry's answer to ``call``: an interval per ``step`` up to start + granularity."""
    params = dict(call.params)
    start = int(params["start_at"])
    end = min(now, start + GRANULARITY[params.get("granularity", "day")])
    return {
        "system_id": SYSTEM_ID,
        "granularity": params.get("granularity", "day"),
        "total_devices": devices,
        "start_at": start,
        "end_at": end,
        "items": "intervals",
        "intervals": [
            {"end_at": t, "devices_reporting": devices} | {f: value(t) for f in fields}
            for t in range(start + step, end + 1, step)
        ],
        "meta": meta(),
    }


def value(end_at: int) -> int:
    """The Wh or W the fake upstream reports for the interval ending at ``end_at``."""
    return end_at // 300 % 97


def shaped(
    mapping: Any,
    route: str,
    now: int,
    tz: str,
    step: int,
    fields: tuple[str, ...],
    devices: int = 3,
    /,
    **query: str,
) -> tuple[list[V4Call], dict[str, Any]]:
    """Plan, answer each call as v4 would, shape; the body is checked against the v2 schema."""
    req, sys = request(now, **query), system(tz)
    calls = mapping.plan(req, sys)
    replies = [telemetry(call, now, step, fields, devices) for call in calls]
    response = mapping.shape(req, sys, replies)
    assert response.status == 200
    validate(route, 200, response.body)
    return calls, response.body


def ends(body: dict[str, Any]) -> list[int | str]:
    """The end_at of every interval in a v2 body."""
    return [interval["end_at"] for interval in body["intervals"]]
