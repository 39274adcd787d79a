"""Shared benchmark plumbing: sandbox and proxy on loopback or in-process, wrk, machine facts."""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

from proxy.sandbox.demo import config_text
from proxy.serving import free_port, running

ROOT = Path(__file__).resolve().parent.parent

AUTH = "key=demo-v2-key&user_id=demo-user"


def machine() -> str:
    """One line describing this machine."""
    cpu = platform.processor() or platform.machine()
    with open("/proc/cpuinfo") as info:
        names = re.findall(r"model name\s*:\s*(.+)", info.read())
    return (
        f"{names[0] if names else cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )


def commit() -> str:
    """The checkout's commit, marked when it has changes."""

    def run(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()

    return run("rev-parse", "--short", "HEAD") + (" (modified)" if run("status", "-s") else "")


def child(command: list[str], port: int, log: Path) -> AbstractContextManager[int]:
    """A child process run from the checkout once it listens on ``port``; yields its pid."""
    return running(command, port, log, ROOT)


@contextmanager
def stack(
    workers: int = 1, worker_class: str = "asgi", extra: str = "", server: str = ""
) -> Iterator[dict[str, Any]]:
    """Sandbox and proxy (gunicorn) as child processes; yields their URLs and the data dir."""
    work = Path(tempfile.mkdtemp(prefix="enphase-bench-"))
    sandbox_port, proxy_port = free_port(), free_port()
    sandbox_cmd = [sys.executable, "-m", "proxy.cli", "sandbox", "--port", str(sandbox_port)]
    sandbox_url = f"http://127.0.0.1:{sandbox_port}"
    config = work / "proxy.toml"
    config.write_text(config_text(sandbox_url, work / "var", extra, server))
    proxy_cmd = [sys.executable, "-m", "proxy.cli", "serve", "--config", str(config)]
    proxy_cmd += ["--port", str(proxy_port), "--workers", str(workers)]
    proxy_cmd += ["--worker-class", worker_class]
    try:
        with child(sandbox_cmd, sandbox_port, work / "sandbox.log"):
            with child(proxy_cmd, proxy_port, work / "proxy.log") as proxy:
                yield {
                    "proxy": f"http://127.0.0.1:{proxy_port}",
                    "sandbox": sandbox_url,
                    "pid": proxy,
                    "work": work,
                }
    finally:
        shutil.rmtree(work, ignore_errors=True)


def wrk(url: str, seconds: int = 10, connections: int = 50, threads: int = 2) -> dict[str, float]:
    """Requests/s and p50/p99 latency (ms) of ``url`` under wrk."""
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    rps = float(_found(r"Requests/sec:\s+([\d.]+)", out).group(1))
    return {"rps": rps, "p50": _latency(out, "50%"), "p99": _latency(out, "99%")}


def _found(pattern: str, out: str) -> re.Match[str]:
    """The first match of ``pattern`` in wrk's output (wrk always prints it)."""
    match = re.search(pattern, out)
    if match is None:
        raise ValueError(f"wrk printed no {pattern!r}")
    return match


def _latency(out: str, label: str) -> float:
    value, unit = _found(rf"{label}\s+([\d.]+)(us|ms|s)", out).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def have_wrk() -> bool:
    """Whether wrk is installed."""
    return shutil.which("wrk") is not None
