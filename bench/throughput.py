"""Cache-hit throughput of v2 stats side by side with bare Starlette on the same server.

Run from the checkout: ``python -m bench.throughput [--seconds 5] [--rounds 5]`` (needs wrk and
redis-server). For 1 and 2 workers, bare Starlette (``bench.bare_app``, answering the proxy's
own stats body) and the proxy (the default file cache, and the Redis cache on a redis-server
started here) run on the proxy's server class at once and are loaded in turn with
``wrk -t1 -c50``, ``rounds`` times; figures are medians, so a noisy neighbour on a shared
machine skews every target alike. Prints a Markdown table: each round's ratios to bare and
their median, and the CPU the workers spent per request (sandbox and Redis aside), which the
machine's load disturbs less than requests per second. ``--frozen-bare``: bare Starlette's
workers freeze their loaded objects out of the collector's reach, as the proxy's do (without,
its full collections stall it for tens of milliseconds: its p99).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx2

from bench.support import AUTH, child, commit, have_wrk, machine, stack, wrk
from proxy.clock import SYSTEM
from proxy.serving import free_port
from proxy.serving.server import WORKER_CLASSES

DAY = 86400
CONNECTIONS = 50


def past_day_stats(proxy: str) -> str:
    """A stats URL for a finished day (a cache hit once warmed)."""
    start = (int(SYSTEM.now()) // DAY - 3) * DAY
    return f"{proxy}/api/v2/systems/1002/stats?{AUTH}&start_at={start}&end_at={start + DAY}"


@contextmanager
def redis_server() -> Iterator[str]:
    """A throwaway redis-server on a free loopback port; yields its URL."""
    port = free_port()
    with tempfile.TemporaryDirectory() as work:
        command = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
        command += ["--appendonly", "no", "--dir", work]
        with child(command, port, Path(work) / "redis.log"):
            yield f"redis://127.0.0.1:{port}/0"


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (gunicorn's workers, below the master or ``serve``)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [d for c in map(int, children) for d in (c, *descendants(c))]


def cpu_seconds(pids: list[int]) -> float:
    """User and system CPU the processes ``pids`` have used."""
    ticks = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def loaded(url: str, seconds: int, pids: list[int]) -> dict[str, float]:
    """wrk's figures for ``url``, and the CPU µs the processes ``pids`` spent per request."""
    before = cpu_seconds(pids)
    figures = wrk(url, seconds, CONNECTIONS, threads=1)
    used = cpu_seconds(pids) - before
    return {**figures, "cpu": used / (figures["rps"] * seconds) * 1e6}


@contextmanager
def bare(
    workers: int, worker_class: str, body: bytes, frozen: bool = False
) -> Iterator[tuple[str, int]]:
    """Bare Starlette answering ``body`` under gunicorn with the proxy's worker class (its
    workers' loaded objects frozen out of the collector's reach, as the proxy's, if
    ``frozen``); yields its URL and pid."""
    port = free_port()
    command = [sys.executable, "-m", "gunicorn", "-w", str(workers)]
    command += ["-c", "python:bench.frozen_conf"] if frozen else []
    command += ["-k", WORKER_CLASSES[worker_class], "-b", f"127.0.0.1:{port}"]
    command += ["bench.bare_app:app"]
    with tempfile.TemporaryDirectory() as work:
        (Path(work) / "body.json").write_bytes(body)
        os.environ["BARE_BODY"] = str(Path(work) / "body.json")
        with child(command, port, Path(work) / "bare.log") as pid:
            yield f"http://127.0.0.1:{port}/body", pid


@contextmanager
def proxy(workers: int, worker_class: str, redis: str | None) -> Iterator[tuple[str, int, bytes]]:
    """The proxy with the default config (or the Redis cache) and a warmed stats URL; yields the
    URL, the pid of ``serve`` and the body."""
    extra = f'[cache]\nbackend = "redis"\n[redis]\nurl = "{redis}"\n' if redis else ""
    with stack(workers=workers, worker_class=worker_class, extra=extra) as s:
        url = past_day_stats(s["proxy"])
        warm = httpx2.get(url, timeout=30)
        assert warm.status_code == 200, warm.text
        for _ in range(4 * workers):  # every worker has answered it once
            assert httpx2.get(url).headers["X-Cache"] == "HIT"
        yield url, s["pid"], warm.content


def measure(
    workers: list[int],
    worker_class: str,
    backends: list[str],
    seconds: int,
    rounds: int,
    frozen: bool = False,
) -> dict[tuple[int, str], list[dict[str, float]]]:
    """wrk figures of every round per (workers, target), the targets loaded in turn."""
    with ExitStack() as running:
        redis = running.enter_context(redis_server()) if "redis" in backends else None
        targets: dict[tuple[int, str], tuple[str, int]] = {}  # URL, pid above its workers
        for n in workers:  # bare beside each proxy, so each is loaded right before or after it
            for i, backend in enumerate(backends):
                url, pid, body = running.enter_context(
                    proxy(n, worker_class, redis if backend == "redis" else None)
                )
                targets[(n, backend)] = url, pid
                if i == 0:
                    targets[(n, "bare")] = running.enter_context(
                        bare(n, worker_class, body, frozen)
                    )
        runs: dict[tuple[int, str], list[dict[str, float]]] = {t: [] for t in targets}
        order = list(targets)
        for _ in range(rounds):
            for target in order:
                url, pid = targets[target]
                runs[target].append(loaded(url, seconds, [pid, *descendants(pid)]))
            order.reverse()  # bare runs last, then first: a drifting load weighs on both alike
    return runs


def table(
    runs: dict[tuple[int, str], list[dict[str, float]]], worker_class: str, frozen: bool = False
) -> list[str]:
    """The Markdown table: medians, and the median of each round's ratio to bare Starlette
    (each round's runs close in time, so the ratio of a round is the least noisy figure)."""
    lines = [
        "| workers | server | req/s | ratio | rounds' ratios | p50 ms | p99 ms | p99 ratio "
        "| CPU µs/req |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    bare_name = f"bare Starlette ({worker_class}{', GC frozen' if frozen else ''})"
    names = {"bare": bare_name, "file": "proxy, file cache (default)"}
    names["redis"] = "proxy, Redis cache"
    for (n, target), results in sorted(runs.items(), key=lambda t: (t[0][0], t[0][1] != "bare")):
        base = runs[(n, "bare")]
        rps = statistics.median(r["rps"] for r in results)
        p50 = statistics.median(r["p50"] for r in results)
        p99 = statistics.median(r["p99"] for r in results)
        cpu = statistics.median(r["cpu"] for r in results)
        rounds = list(zip(results, base, strict=True))
        ratios = [r["rps"] / b["rps"] for r, b in rounds]
        ratio = statistics.median(ratios)
        p99_ratio = statistics.median(r["p99"] / b["p99"] for r, b in rounds)
        each = ", ".join(f"{r:.2f}" for r in ratios)
        lines.append(
            f"| {n} | {names[target]} | {rps:,.0f} | **{ratio:.2f}** | {each} | {p50:.2f} | "
            f"{p99:.2f} | **{p99_ratio:.2f}** | {cpu:.1f} |"
        )
    return lines


def main() -> None:
    """Measure and print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5, help="per wrk run")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--workers", default="1,2", help="worker counts, comma-separated")
    parser.add_argument("--backends", default="file,redis", help="proxy cache backends")
    parser.add_argument("--worker-class", default="asgi", choices=sorted(WORKER_CLASSES))
    parser.add_argument(
        "--frozen-bare",
        action="store_true",
        help="bare Starlette's workers freeze their loaded objects, as the proxy's do",
    )
    args = parser.parse_args()
    if not have_wrk():
        sys.exit("wrk is not installed (apt-get install wrk)")
    workers = [int(n) for n in args.workers.split(",")]
    backends = args.backends.split(",")
    load = os.getloadavg()
    started = f"{datetime.fromtimestamp(SYSTEM.now(), UTC):%Y-%m-%d %H:%M} UTC, commit {commit()}"
    runs = measure(
        workers, args.worker_class, backends, args.seconds, args.rounds, args.frozen_bare
    )
    after = os.getloadavg()
    print(f"{started}, {machine()}")
    print(
        f"wrk -t1 -c{CONNECTIONS}, {args.rounds} interleaved rounds of {args.seconds} s, medians;"
        f" load average {load[0]:.1f} before, {after[0]:.1f} after\n"
    )
    print("\n".join(table(runs, args.worker_class, args.frozen_bare)))


if __name__ == "__main__":
    main()
