"""Runs the proxy under gunicorn, with the embedded sandbox beside it when configured."""

from __future__ import annotations

import json
import logging
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from proxy.clock import SYSTEM, Clock
from proxy.config import Config, load
from proxy.storage import private

log = logging.getLogger("proxy.serve")

CONFIG_ENV = "ENPHASE_PROXY_CONFIG"
OVERRIDES_ENV = "ENPHASE_PROXY_OVERRIDES"
METRICS_ENV = "PROMETHEUS_MULTIPROC_DIR"  # read by prometheus_client itself
WORKER_CLASS_ENV = "ENPHASE_PROXY_WORKER_CLASS"
#: Only gunicorn's own ASGI worker bounds request heads (uvicorn's buffers a whole head first).
WORKER_CLASSES = {"asgi": "proxy.serving.worker.BoundedASGIWorker"}
UNIX_PATH_MAX = 107  # bytes of a Unix socket's path (sun_path less its terminating NUL)
FDS_RESERVED = 44  # descriptors a worker needs besides client, upstream and stream connections


def config_from_env() -> Config:
    """The configuration ``serve`` handed to gunicorn: the file plus command-line overrides."""
    config = load(os.environ[CONFIG_ENV])
    overrides = json.loads(os.environ.get(OVERRIDES_ENV) or "{}")
    return replace(config, server=replace(config.server, **overrides))


def connection_cap(config: Config, open_files: int) -> int:
    """Client connections per worker: as configured, but within ``open_files`` descriptors."""
    up = config.upstream
    spare = open_files - up.max_connections - up.max_streams - FDS_RESERVED
    return max(1, min(config.server.worker_connections, spare))


def gunicorn_settings(config: Config, worker_class: str) -> dict[str, Any]:
    """Gunicorn settings: workers, timeouts, graceful shutdown, request-size and connection limits.

    Gunicorn's worker applies the ``limit_request_*`` settings while it reads a head, and
    ``keepalive`` and ``worker_connections`` through proxy.serving.worker.
    """
    s = config.server
    return {
        "bind": f"{s.host}:{s.port}",
        "workers": s.workers,
        "worker_class": WORKER_CLASSES[worker_class],
        "timeout": s.timeout,
        "graceful_timeout": s.graceful_timeout,
        "keepalive": s.keepalive,
        "limit_request_line": min(s.max_url_length + 64, 8190),
        "limit_request_fields": 100,
        "limit_request_field_size": 8190,
        "worker_connections": connection_cap(config, resource.getrlimit(resource.RLIMIT_NOFILE)[0]),
        "loglevel": s.log_level,
        "umask": private.UMASK,
        "forwarded_allow_ips": ",".join(s.trusted_proxies),  # gunicorn's default trusts loopback
        **control_socket(config),
    }


def control_socket(config: Config) -> dict[str, Any]:
    """Gunicorn's control socket in ``data_dir``, this instance's own (none when the path is
    too long for a Unix socket)."""
    path = str(config.data_path("gunicorn.ctl").resolve())
    if len(path.encode()) > UNIX_PATH_MAX:
        return {"control_socket_disable": True}
    return {"control_socket": path}


def prepare_metrics_dir(config: Config) -> str:
    """A fresh directory where every worker writes its metrics."""
    path = config.data_path("metrics")
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True, exist_ok=True)
    return str(path)


class PortTaken(Exception):
    """Something already listens where the embedded sandbox should."""


def listening(host: str, port: int) -> bool:
    """Whether something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_for_port(host: str, port: int, timeout: float = 15.0, clock: Clock = SYSTEM) -> None:
    """Block until something accepts TCP connections on host:port."""
    deadline = clock.monotonic() + timeout
    while clock.monotonic() < deadline:
        if listening(host, port):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listening on {host}:{port} after {timeout}s")


def sandbox_while_parent_lives(host: str, port: int, parent: int) -> None:
    """Serve the sandbox on host:port until process ``parent`` ends (checked each second)."""
    from proxy.sandbox import serve as serve_sandbox

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1)
        os._exit(0)  # gunicorn, the parent, is gone: so is the proxy this sandbox stood in for

    threading.Thread(target=watch, daemon=True).start()
    serve_sandbox(host, port)


def start_sandbox(host: str, port: int) -> subprocess.Popen[bytes]:
    """The sandbox in a child process listening on host:port, once it accepts connections;
    it ends when this process does.

    Raises PortTaken when something listens there already: it is not our sandbox, and the
    proxy would send it the tenants' credentials.
    """
    if listening(host, port):
        raise PortTaken(
            f"[sandbox] port {port} on {host} is already in use; stop what listens there "
            "or set another [sandbox] port"
        )
    code = "from proxy.serving.server import sandbox_while_parent_lives as run; "
    code += f"run({host!r}, {port}, {os.getpid()})"
    child = subprocess.Popen([sys.executable, "-c", code])
    try:
        wait_for_port(host, port)
    except TimeoutError:
        child.kill()
        raise
    return child


def serve(config_path: str, overrides: dict[str, Any], worker_class: str = "asgi") -> int:
    """Become gunicorn (a fresh interpreter, so metrics are set up before any import): no
    supervisor process of its own. The embedded sandbox, when enabled, is gunicorn's child and
    ends with it; 1, without becoming gunicorn, when the sandbox's port is taken."""
    path = str(Path(config_path).resolve())
    os.environ[CONFIG_ENV] = path
    os.environ[OVERRIDES_ENV] = json.dumps(overrides)
    os.environ[WORKER_CLASS_ENV] = worker_class
    config = config_from_env()
    private.make_private(config.data_path(""))
    private.warn_if_looser(config.data_path(""))
    env = {**os.environ, METRICS_ENV: prepare_metrics_dir(config)}
    command = [sys.executable, "-m", "gunicorn", "-c", "python:proxy.serving.gunicorn_conf"]
    # The configuration's path also on the command line: ps shows which proxy this is.
    command += ["--env", f"{CONFIG_ENV}={path}", "proxy.serving.asgi:app"]
    if config.sandbox.enabled:
        try:
            start_sandbox(config.sandbox.host, config.sandbox.port)
        except PortTaken as exc:
            log.error("%s", exc)
            return 1
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, command, env)


def free_port() -> int:
    """An unused TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def running(
    command: list[str],
    port: int,
    log: Path,
    cwd: Path | None = None,
    setup: Callable[[], None] | None = None,
) -> Iterator[int]:
    """A child process, output to ``log``, once it listens on ``port``; SIGTERM afterwards.

    ``setup`` runs in the child before it executes ``command``.
    """
    with open(log, "wb") as out:
        child = subprocess.Popen(command, stdout=out, stderr=out, cwd=cwd, preexec_fn=setup)
        try:
            wait_for_port("127.0.0.1", port, 30)
            yield child.pid
        finally:
            child.send_signal(signal.SIGTERM)
            try:
                child.wait(30)
            except subprocess.TimeoutExpired:
                child.kill()
