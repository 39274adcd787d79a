"""Running the sandbox on a real socket with uvicorn, in the foreground or a thread."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import uvicorn
from starlette.applications import Starlette

from .app import create_app
from .settings import SandboxSettings


def serve(
    host: str = "127.0.0.1", port: int = 8091, settings: SandboxSettings | None = None
) -> None:
    """Serve the sandbox on ``host:port`` until interrupted."""
    uvicorn.run(create_app(settings), host=host, port=port, log_level="warning")


@dataclass(frozen=True)
class Running:
    """A sandbox serving in a background thread."""

    url: str
    app: Starlette


@contextmanager
def serve_in_thread(
    settings: SandboxSettings | None = None, host: str = "127.0.0.1", port: int = 0
) -> Iterator[Running]:
    """Serve the sandbox on a (by default free) port in a thread for the ``with`` block."""
    app = create_app(settings)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("sandbox server failed to start")
        time.sleep(0.01)
    try:
        yield Running(f"http://{host}:{sock.getsockname()[1]}", app)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
