"""The gunicorn workers of a ``serve`` child seen through /proc: pids, usage, pinned connections."""

from __future__ import annotations

import http.client
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx2


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
