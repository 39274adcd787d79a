"""Real servers and processes the tests start themselves: redis-server, free loopback ports."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from proxy import server


def free_port() -> int:
    """An unused TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float = 15.0) -> None:
    """Block until something accepts connections on 127.0.0.1:port."""
    server.wait_for_port("127.0.0.1", port, timeout)


@contextmanager
def running(command: list[str], port: int, log: Path, cwd: Path | None = None) -> Iterator[int]:
    """A child process, output to ``log``, once it listens on ``port``; SIGTERM afterwards."""
    with open(log, "wb") as out:
        child = subprocess.Popen(command, stdout=out, stderr=out, cwd=cwd)
        try:
            server.wait_for_port("127.0.0.1", port, 30)
            yield child.pid
        finally:
            child.send_signal(signal.SIGTERM)
            try:
                child.wait(30)
            except subprocess.TimeoutExpired:
                child.kill()


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
