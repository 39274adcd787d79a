"""Cache-hit throughput of v2 stats through one worker, as a ratio to a bare Starlette endpoint.

Run from the checkout: python -m bench.throughput [seconds] [rounds] [worker types]  (needs wrk)
For each gunicorn worker type, the bare app and the proxy (access log on and off on the default
file cache, and log on with the memory cache) run side by side and are loaded in turn,
``rounds`` times; figures are medians, so a noisy neighbour on a shared machine skews every
target alike. Prints one line per figure.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx2

from bench.support import AUTH, child, have_wrk, machine, stack, wrk
from proxy.clock import SYSTEM
from proxy.serving import free_port

DAY = 86400
WORKERS = {"asgi": "asgi"}  # the proxy runs only under gunicorn's own ASGI worker
PROXIES = {  # target: (access log, cache backend, label)
    "on": (True, "file", "access log on"),
    "off": (False, "file", "access log off"),
    "memory": (True, "memory", "access log on, memory cache"),
}


def past_day_stats(proxy: str) -> str:
    """A stats URL for a finished day (a cache hit once warmed)."""
    start = (int(SYSTEM.now()) // DAY - 3) * DAY
    return f"{proxy}/api/v2/systems/1002/stats?{AUTH}&start_at={start}&end_at={start + DAY}"


@contextmanager
def bare(worker_class: str) -> Iterator[str]:
    """The bare Starlette app under one gunicorn worker of this type; yields its base URL."""
    port = free_port()
    command = [sys.executable, "-m", "gunicorn", "-w", "1", "-k", WORKERS[worker_class]]
    command += ["-b", f"127.0.0.1:{port}", "bench.bare_app:app"]
    with tempfile.TemporaryDirectory() as logs, child(command, port, Path(logs) / "bare.log"):
        yield f"http://127.0.0.1:{port}"


@contextmanager
def proxy(worker_class: str, access_log: bool, backend: str) -> Iterator[str]:
    """One proxy worker with a warmed stats URL; yields that URL."""
    server = f"access_log = {'true' if access_log else 'false'}"
    extra = f'[cache]\nbackend = "{backend}"\n'
    with stack(workers=1, worker_class=worker_class, extra=extra, server=server) as s:
        url = past_day_stats(s["proxy"])
        warm = httpx2.get(url, timeout=30)
        assert warm.status_code == 200, warm.text
        assert httpx2.get(url).headers["X-Cache"] == "HIT"
        yield url


def measure(worker_class: str, seconds: int, rounds: int) -> dict[str, dict[str, float]]:
    """Median wrk figures per target, the targets loaded in turn."""
    with ExitStack() as running:
        base = running.enter_context(bare(worker_class))
        targets = {
            "bare": base + "/json",
            "bare-day": base + "/stats",
            **{
                name: running.enter_context(proxy(worker_class, log, backend))
                for name, (log, backend, _) in PROXIES.items()
            },
        }
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in targets}
        for _ in range(rounds):
            for name, url in targets.items():
                runs[name].append(wrk(url, seconds))
    return {
        name: {k: statistics.median(r[k] for r in results) for k in results[0]}
        for name, results in runs.items()
    }


def main() -> None:
    """Measure and print."""
    seconds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    worker_classes = sys.argv[3].split(",") if len(sys.argv) > 3 else list(WORKERS)
    if not have_wrk():
        sys.exit("wrk is not installed (apt-get install wrk)")
    print(f"machine: {machine()}")
    for worker_class in worker_classes:
        figures = measure(worker_class, seconds, rounds)
        base, day = figures["bare"]["rps"], figures["bare-day"]["rps"]
        print(f"{worker_class}: bare starlette throughput {base:.0f} req/s (median)")
        print(f"{worker_class}: bare starlette, stats-sized body, {day:.0f} req/s (median)")
        for name, (_, _, what) in PROXIES.items():
            proxied = figures[name]
            label = f"{worker_class}, {what}"
            print(f"{label}: stats cache-hit throughput {proxied['rps']:.0f} req/s (median)")
            print(f"{label}: ratio proxy/bare {proxied['rps'] / base:.2f} (goal >= 0.6)")
            print(f"{label}: ratio proxy/bare same-size body {proxied['rps'] / day:.2f}")
            for q in ("p50", "p99"):
                print(f"{label}: cache-hit latency, 50 connections, {q} {proxied[q]:.2f} ms")


if __name__ == "__main__":
    main()
