"""Attacks on `enphase-proxy serve` (real gunicorn workers): heads, idle sockets, floods, purge.

Each test bounds its load in count and time; together they take about a minute.
"""

from __future__ import annotations

import http.client
import json
import multiprocessing
import resource
import select
import socket
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest

from tests import support
from tests.support import gunicorn_workers, peak_rss, pinned, pinned_get

pytestmark = [pytest.mark.slow, pytest.mark.serial]  # floods that saturate the workers

MIB = 1024 * 1024
GROWTH = 50 * MIB
AUTH = (("key", "demo-v2-key"), ("user_id", "demo-user"))
SUMMARY = "/api/v2/systems/1001/summary"
ADMIN = {"Authorization": "Bearer test-admin-key"}


@contextmanager
def served(
    tmp_path: Path,
    workers: int = 1,
    extra: str = "",
    open_files: int | None = None,
    server: str = "",
) -> Iterator[tuple[str, Path]]:
    """The demo proxy under `serve` on a sandbox: (URL, config path); ``server``: [server] lines."""
    with support.sandbox() as (sandbox_url, _):
        config_path = tmp_path / "proxy.toml"
        config_path.write_text(support.config_text(sandbox_url, tmp_path, extra, server))
        with support.serve_process(config_path, workers, open_files=open_files) as url:
            yield url, config_path


def only_worker(config_path: Path) -> int:
    """The pid of the one gunicorn worker."""
    (pid,) = gunicorn_workers(config_path)
    return pid


def get(
    url: str, path: str, query: Any = (), headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str]]:
    """One GET on a new connection: (status, headers)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    try:
        conn.request("GET", f"{path}?{urlencode(query)}" if query else path, headers=headers or {})
        reply = conn.getresponse()
        reply.read()
        return reply.status, dict(reply.getheaders())
    finally:
        conn.close()


def post(url: str, path: str, headers: dict[str, str]) -> int:
    """One POST on a new connection: its status."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    try:
        conn.request("POST", path, headers=headers)
        return conn.getresponse().status
    finally:
        conn.close()


def send_head_flood(url: str, size: int) -> None:
    """Open one request and send ``size`` bytes of small header lines, until cut off."""
    parts = urlsplit(url)
    line = b"X-Flood: a\r\n" * 4096
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: proxy\r\n")
        sent = 0
        try:
            while sent < size:
                sock.sendall(line)
                sent += len(line)
        except OSError:
            return  # the server cut the connection: what it should do


def test_head_flood_does_not_grow_a_worker(tmp_path: Path) -> None:
    """4 connections of 64 MiB of small headers each: the worker grows under 50 MiB (finding 1)."""
    with served(tmp_path) as (url, config_path):
        pid = only_worker(config_path)
        assert get(url, "/healthz")[0] == 200

        def flood() -> None:
            with ThreadPoolExecutor(4) as pool:
                list(pool.map(lambda _: send_head_flood(url, 64 * MIB), range(4)))

        before, peak = peak_rss(pid, flood)
        assert peak - before < GROWTH, f"worker grew {(peak - before) / MIB:.0f} MiB"
        assert get(url, "/healthz")[0] == 200


def hold_idle_sockets(
    port: int, count: int, ready: multiprocessing.Queue[Any], stop: object
) -> None:
    """Open ``count`` connections that never send a byte and hold them until ``stop`` is set."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # this child needs > 2,200 sockets
    sockets = []
    for _ in range(count):
        sock = socket.socket()
        sock.settimeout(10)
        try:
            sock.connect(("127.0.0.1", port))
        except OSError:
            sock.close()
            continue
        sockets.append(sock)
    ready.put(len(sockets))
    stop.wait(120)  # type: ignore[attr-defined]
    for sock in sockets:
        sock.close()


def test_idle_sockets_do_not_make_the_proxy_unavailable(tmp_path: Path) -> None:
    """2,200 silent connections, open-file limit 1,024: the proxy still answers (finding 3)."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    assert hard >= 2400, f"raise the hard open-file limit ({hard}) to hold 2,200 sockets"
    with served(tmp_path, workers=2, open_files=1024) as (url, _):
        context = multiprocessing.get_context("spawn")
        ready, stop = context.Queue(), context.Event()
        holder = context.Process(
            target=hold_idle_sockets, args=(urlsplit(url).port, 2200, ready, stop)
        )
        holder.start()
        try:
            assert ready.get(timeout=90) == 2200
            answered = sum(probe(url) for _ in range(40))
        finally:
            stop.set()
            holder.join(30)
        assert answered == 40


def probe(url: str) -> bool:
    """Whether /healthz answers 200 within a few seconds."""
    try:
        return get(url, "/healthz")[0] == 200
    except OSError:
        return False


def many_params(tag: int, count: int = 400) -> list[tuple[str, str]]:
    """A distinct query of ``count`` tiny parameters (about 3 KB): the costliest to keep."""
    return [("tag", str(tag)), *((f"a{n}", "1") for n in range(count))]


def flood(url: str, queries: Callable[[int], object], count: int, threads: int = 4) -> list[int]:
    """``count`` GETs of the summary with ``queries(i)``, on keep-alive connections: statuses."""
    parts = urlsplit(url)

    def run(offset: int) -> list[int]:
        conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
        statuses = []
        for i in range(offset, count, threads):
            response = pinned_get(conn, SUMMARY, queries(i))
            statuses.append(response.status_code)
        conn.close()
        return statuses

    with ThreadPoolExecutor(threads) as pool:
        return [s for part in pool.map(run, range(threads)) for s in part]


def test_wrong_key_flood_keeps_nothing(tmp_path: Path) -> None:
    """8,192 requests with a wrong key and 4 KB queries: RSS grows under 50 MiB (finding 4)."""
    with served(tmp_path) as (url, config_path):
        pid = only_worker(config_path)
        assert get(url, SUMMARY, AUTH)[0] == 200
        statuses: list[int] = []

        def wrong_key_flood() -> None:
            wrong = (("key", "wrong"), ("user_id", "demo-user"))
            statuses.extend(flood(url, lambda i: [*wrong, *many_params(i)], 8192))

        before, peak = peak_rss(pid, wrong_key_flood)
        assert set(statuses) == {401}
        assert peak - before < GROWTH, f"worker grew {(peak - before) / MIB:.0f} MiB"


def test_cache_hit_flood_with_distinct_queries_stays_bounded(tmp_path: Path) -> None:
    """4,096 cache hits with distinct 4 KB queries: RSS grows under 50 MiB (finding 4)."""
    with served(tmp_path) as (url, config_path):
        pid = only_worker(config_path)
        assert get(url, SUMMARY, AUTH)[0] == 200
        statuses: list[int] = []

        def hit_flood() -> None:
            statuses.extend(flood(url, lambda i: [*AUTH, *many_params(i)], 4096))

        before, peak = peak_rss(pid, hit_flood)
        assert set(statuses) == {200}
        assert peak - before < GROWTH, f"worker grew {(peak - before) / MIB:.0f} MiB"


@pytest.mark.parametrize(
    ("backend", "expected"), [("memory", ["MISS", "MISS"]), ("file", ["MISS", "HIT"])]
)
def test_purge_reaches_every_worker(tmp_path: Path, backend: str, expected: list[str]) -> None:
    """After a purge answered by one worker, no worker answers from the old cache (finding 6):
    the other worker misses first (file: it then stores what the purging worker hits)."""
    extra = f'[cache]\nbackend = "{backend}"\n'
    with served(tmp_path, workers=2, extra=extra) as (url, config_path):
        with pinned(url, config_path, 2) as conns:
            for conn in conns.values():
                pinned_get(conn, SUMMARY, AUTH)
                assert pinned_get(conn, SUMMARY, AUTH).headers["x-cache"] == "HIT"
            first, other = conns.values()
            first.request("POST", "/admin/cache/purge", headers=ADMIN)
            reply = first.getresponse()
            assert reply.status == 200 and b'"purged":1' in reply.read()
            after = [pinned_get(c, SUMMARY, AUTH).headers["x-cache"] for c in (other, first)]
        assert after == expected


def test_purge_reaches_every_replica_through_redis(tmp_path: Path, redis_url: str) -> None:
    """Two replicas on one Redis: a purge on one leaves no HIT on the other (finding 6)."""
    extra = f'[cache]\nbackend = "redis"\n\n[redis]\nurl = "{redis_url}"\n'
    with ExitStack() as stack:
        urls = []
        for name in ("a", "b"):
            (tmp_path / name).mkdir()
            urls.append(stack.enter_context(served(tmp_path / name, extra=extra))[0])
        assert post(urls[0], "/admin/cache/purge", ADMIN) == 200
        for url in urls:
            get(url, SUMMARY, AUTH)
            assert get(url, SUMMARY, AUTH)[1]["x-cache"] == "HIT"
        assert post(urls[0], "/admin/cache/purge", ADMIN) == 200
        assert get(urls[1], SUMMARY, AUTH)[1]["x-cache"] == "MISS"
        assert [get(url, SUMMARY, AUTH)[1]["x-cache"] for url in urls] == ["HIT", "HIT"]


def slow_body(port: int, path: str, headers: str = "") -> socket.socket:
    """A connection that sent a request head declaring 1 MiB of body, and one byte of it."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    head = f"POST {path} HTTP/1.1\r\nHost: proxy\r\nContent-Length: {MIB}\r\n{headers}"
    sock.sendall(head.encode() + b"Content-Type: application/x-www-form-urlencoded\r\n\r\nk")
    return sock


def hold_slow_bodies(
    port: int, count: int, ready: multiprocessing.Queue[int], stop: object
) -> None:
    """Keep ``count`` slow-body connections open until ``stop``: reopen each the server closes,
    send one more byte on each every 15 s."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    sockets = [slow_body(port, "/console/login") for _ in range(count)]
    ready.put(len(sockets))
    started = last_byte = time.monotonic()
    while not stop.wait(0.2) and time.monotonic() - started < 120:  # type: ignore[attr-defined]
        closed, _, _ = select.select(sockets, [], [], 0)
        for sock in closed:
            sockets.remove(sock)
            sock.close()
            sockets.append(slow_body(port, "/console/login"))
        if time.monotonic() - last_byte >= 15:
            last_byte = time.monotonic()
            for sock in sockets:
                sock.send(b"k")
    for sock in sockets:
        sock.close()


def test_slow_bodies_do_not_lock_out_other_clients(tmp_path: Path) -> None:
    """600 connections trickling a 1 MiB body, 1 byte every 15 s, against a cap of 200: at least
    95% of 100 normal requests are answered (issue 22, finding 1)."""
    with served(tmp_path, server="worker_connections = 200\n") as (url, _):
        assert get(url, SUMMARY, AUTH)[0] == 200
        context = multiprocessing.get_context("spawn")
        ready, stop = context.Queue(), context.Event()
        port = urlsplit(url).port
        holder = context.Process(target=hold_slow_bodies, args=(port, 600, ready, stop))
        holder.start()
        try:
            assert ready.get(timeout=60) == 600
            answered = 0
            for _ in range(100):
                with suppress(OSError):
                    answered += get(url, SUMMARY, AUTH)[0] == 200
        finally:
            stop.set()
            holder.join(30)
        assert answered >= 95


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/console/login", {"reason": "408", "message": ["Request body not received in time."]}),
        (
            "/api/v4/systems/search",
            {
                "message": "Request Timeout",
                "details": "Request body not received in time.",
                "code": 408,
            },
        ),
    ],
)
def test_slow_body_gets_408_in_its_surface_shape(
    tmp_path: Path, path: str, body: dict[str, Any]
) -> None:
    """A body slower than ``min_body_rate`` is answered 408 in the surface's shape, and its
    connection closed, within ``keepalive`` + 2 s (issue 22, finding 1)."""
    with served(tmp_path, server="keepalive = 2\n") as (url, _):
        team = "Authorization: Bearer demo-team-key\r\n"
        sock = slow_body(urlsplit(url).port or 0, path, team)
        started = time.monotonic()
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
        elapsed = time.monotonic() - started
        sock.close()
    head, _, payload = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 ")
    assert json.loads(payload) == body
    assert elapsed < 4 + 2
