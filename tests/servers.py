"""Real servers and processes the tests start themselves: redis-server, free loopback ports."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing.process import BaseProcess
from typing import Any

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
