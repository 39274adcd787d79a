"""Cache-hit throughput of v2 stats through one worker, as a ratio to a bare Starlette endpoint.

Run from the checkout: python -m bench.throughput [seconds]   (needs wrk: apt-get install wrk)
Prints one line per figure, for each gunicorn worker type.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.support import AUTH, child, free_port, have_wrk, machine, stack, wrk

DAY = 86400


def past_day_stats(proxy: str) -> str:
    """A stats URL for a finished day (a cache hit once warmed)."""
    start = (int(time.time()) // DAY - 3) * DAY
    return f"{proxy}/api/v2/systems/1002/stats?{AUTH}&start_at={start}&end_at={start + DAY}"


def bare_rps(worker_class: str, seconds: int) -> dict[str, float]:
    """wrk figures for the bare Starlette app under one gunicorn worker of this type."""
    port = free_port()
    klass = {"uvicorn": "uvicorn.workers.UvicornWorker", "asgi": "asgi"}[worker_class]
    command = [sys.executable, "-m", "gunicorn", "-w", "1", "-k", klass]
    command += ["-b", f"127.0.0.1:{port}", "bench.bare_app:app"]
    with tempfile.TemporaryDirectory() as logs, child(command, port, Path(logs) / "bare.log"):
        return wrk(f"http://127.0.0.1:{port}/json", seconds)


def proxy_figures(worker_class: str, access_log: bool, seconds: int) -> dict[str, float]:
    """wrk figures for a warmed stats URL through one proxy worker."""
    server = f"access_log = {'true' if access_log else 'false'}"
    with stack(workers=1, worker_class=worker_class, server=server) as s:
        url = past_day_stats(s["proxy"])
        warm = httpx.get(url, timeout=30)
        assert warm.status_code == 200, warm.text
        assert httpx.get(url).headers["X-Cache"] == "HIT"
        return wrk(url, seconds)


def main() -> None:
    """Measure and print."""
    seconds = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    if not have_wrk():
        sys.exit("wrk is not installed (apt-get install wrk)")
    print(f"machine: {machine()}")
    for worker_class in ("uvicorn", "asgi"):
        bare = bare_rps(worker_class, seconds)
        print(f"{worker_class}: bare starlette throughput {bare['rps']:.0f} req/s")
        for access_log in (True, False):
            proxy = proxy_figures(worker_class, access_log, seconds)
            label = f"{worker_class}, access log {'on' if access_log else 'off'}"
            ratio = proxy["rps"] / bare["rps"]
            print(f"{label}: stats cache-hit throughput {proxy['rps']:.0f} req/s")
            print(f"{label}: ratio proxy/bare {ratio:.2f} (goal >= 0.6)")
            for q in ("p50", "p99"):
                print(f"{label}: cache-hit latency, 50 connections, {q} {proxy[q]:.2f} ms")


if __name__ == "__main__":
    main()
