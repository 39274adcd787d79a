"""Runs the proxy under gunicorn, with the embedded sandbox beside it when configured."""

from __future__ import annotations

import json
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
from typing import Any, NoReturn

from proxy.clock import SYSTEM, Clock
from proxy.config import Config, load

CONFIG_ENV = "ENPHASE_PROXY_CONFIG"
OVERRIDES_ENV = "ENPHASE_PROXY_OVERRIDES"
METRICS_ENV = "PROMETHEUS_MULTIPROC_DIR"  # read by prometheus_client itself
WORKER_CLASS_ENV = "ENPHASE_PROXY_WORKER_CLASS"
#: Only gunicorn's own ASGI worker bounds request heads (uvicorn's buffers a whole head first).
WORKER_CLASSES = {"asgi": "proxy.serving.worker.BoundedASGIWorker"}
FDS_RESERVED = 64  # descriptors a worker needs besides client and upstream connections


def config_from_env() -> Config:
    """The configuration ``serve`` handed to gunicorn: the file plus command-line overrides."""
    config = load(os.environ[CONFIG_ENV])
    overrides = json.loads(os.environ.get(OVERRIDES_ENV) or "{}")
    return replace(config, server=replace(config.server, **overrides))


def connection_cap(config: Config, open_files: int) -> int:
    """Client connections per worker: as configured, but within ``open_files`` descriptors."""
    spare = open_files - config.upstream.max_connections - FDS_RESERVED
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
    }


def prepare_metrics_dir(config: Config) -> str:
    """A fresh directory where every worker writes its metrics."""
    path = config.data_path("metrics")
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True, exist_ok=True)
    return str(path)


def wait_for_port(host: str, port: int, timeout: float = 15.0, clock: Clock = SYSTEM) -> None:
    """Block until something accepts TCP connections on host:port."""
    deadline = clock.monotonic() + timeout
    while clock.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
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
    it ends when this process does."""
    code = "from proxy.serving.server import sandbox_while_parent_lives as run; "
    code += f"run({host!r}, {port}, {os.getpid()})"
    child = subprocess.Popen([sys.executable, "-c", code])
    try:
        wait_for_port(host, port)
    except TimeoutError:
        child.kill()
        raise
    return child


def serve(config_path: str, overrides: dict[str, Any], worker_class: str = "asgi") -> NoReturn:
    """Become gunicorn (a fresh interpreter, so metrics are set up before any import): no
    supervisor process of its own. The embedded sandbox, when enabled, is gunicorn's child and
    ends with it."""
    path = str(Path(config_path).resolve())
    os.environ[CONFIG_ENV] = path
    os.environ[OVERRIDES_ENV] = json.dumps(overrides)
    os.environ[WORKER_CLASS_ENV] = worker_class
    config = config_from_env()
    config.data_path("").mkdir(parents=True, exist_ok=True)
    env = {**os.environ, METRICS_ENV: prepare_metrics_dir(config)}
    command = [sys.executable, "-m", "gunicorn", "-c", "python:proxy.serving.gunicorn_conf"]
    # The configuration's path also on the command line: ps shows which proxy this is.
    command += ["--env", f"{CONFIG_ENV}={path}", "proxy.serving.asgi:app"]
    if config.sandbox.enabled:
        start_sandbox(config.sandbox.host, config.sandbox.port)
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
