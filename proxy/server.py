"""Runs the proxy under gunicorn, with the embedded sandbox beside it when configured."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from gunicorn.app.base import BaseApplication

from proxy.config import Config

WORKER_CLASSES = {
    "uvicorn": "uvicorn.workers.UvicornWorker",
    "asgi": "gunicorn.workers.gasgi.ASGIWorker",
}


def gunicorn_options(config: Config, worker_class: str = "uvicorn") -> dict[str, Any]:
    """Gunicorn settings: workers, timeouts, graceful shutdown and request-size limits."""
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
        "accesslog": None,
        "loglevel": s.log_level,
        "child_exit": _child_exit,
    }


def _child_exit(server: Any, worker: Any) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


class ProxyApplication(BaseApplication):
    """Gunicorn running create_app(config) in every worker."""

    def __init__(self, config: Config, options: dict[str, Any]) -> None:
        self.config = config
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        """Apply the options to gunicorn's settings."""
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        """The ASGI application."""
        from proxy.app import create_app

        return create_app(self.config)


def prepare_metrics_dir(config: Config) -> None:
    """A fresh shared directory for the workers' metrics, set before any metric exists."""
    path = config.data_path("metrics")
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(path)


def wait_for_port(host: str, port: int, timeout: float = 15.0) -> None:
    """Block until something accepts TCP connections on host:port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on {host}:{port} after {timeout}s")


def start_sandbox(host: str, port: int) -> subprocess.Popen:
    """The sandbox in a child process listening on host:port, once it accepts connections."""
    code = f"from proxy.sandbox import serve; serve({host!r}, {port})"
    child = subprocess.Popen([sys.executable, "-c", code])
    try:
        wait_for_port(host, port)
    except TimeoutError:
        child.kill()
        raise
    return child


@contextmanager
def embedded_sandbox(config: Config) -> Iterator[None]:
    """The simulated v4 API in a child process while the proxy runs, when enabled."""
    if not config.sandbox.enabled:
        yield
        return
    child = start_sandbox(config.sandbox.host, config.sandbox.port)
    try:
        yield
    finally:
        child.terminate()
        child.wait(10)


def serve(config: Config, worker_class: str = "uvicorn") -> int:
    """Run the proxy until it is stopped; the exit code."""
    prepare_metrics_dir(config)
    config.data_path("").mkdir(parents=True, exist_ok=True)
    with embedded_sandbox(config):
        ProxyApplication(config, gunicorn_options(config, worker_class)).run()
    return 0
