"""Miss-path overhead: a v2 stats call through the proxy minus the same v4 call made directly.

Run from the checkout: python -m bench.miss_overhead [calls]
Every proxied call is a cache miss (a distinct day), so each costs one v4 call. Direct and
proxied calls alternate, so a noisy neighbour slows both alike. The proxy worker's CPU time per
call (from /proc) is printed too: unlike latency, it does not grow with the machine's load.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import parse_qsl

import httpx2

from bench.support import AUTH, machine, stack
from proxy.clock import SYSTEM

DAY = 86400


def percentile(values: list[float], q: float) -> float:
    """The q-quantile (0..1) of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def timed(
    client: httpx2.Client,
    url: str,
    params: dict[str, str | int],
    headers: dict[str, str] | None = None,
) -> float:
    """Milliseconds one GET took; it must succeed."""
    started = time.perf_counter()
    response = client.get(url, params=params, headers=headers)
    elapsed = (time.perf_counter() - started) * 1000
    assert response.status_code == 200, response.text
    return elapsed


def worker_cpu(root: int) -> float:
    """Seconds of CPU used so far by the processes below ``root`` (gunicorn and its workers)."""
    parents, ticks = {}, {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            pid = int(stat.parent.name)
            parents[pid] = int(fields[1])
            ticks[pid] = int(fields[11]) + int(fields[12])  # utime + stime
    below = {root}
    for _ in range(3):  # serve -> gunicorn master -> workers
        below |= {pid for pid, parent in parents.items() if parent in below}
    return sum(ticks[pid] for pid in below - {root}) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    """Measure and print."""
    calls = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    base = (int(SYSTEM.now()) // DAY - 5) * DAY
    starts = [base - i * DAY for i in range(calls)]  # distinct local days: no shared window
    print(f"machine: {machine()}")
    with stack(workers=1) as s:
        token = httpx2.post(
            s["sandbox"] + "/oauth/token",
            params={"grant_type": "password", "username": "demo@example.com"},
            data={"password": "demo-password"},
            auth=("sandbox-client-id", "sandbox-client-secret"),
        ).json()["access_token"]
        v4 = s["sandbox"] + "/api/v4/systems/1002/telemetry/production_micro"
        headers = {"Authorization": f"Bearer {token}"}
        with httpx2.Client(timeout=30) as client:

            def direct(start: int) -> float:
                params: dict[str, str | int] = {
                    "key": "sandbox-api-key",
                    "start_at": start,
                    "granularity": "day",
                }
                return timed(client, v4, params=params, headers=headers)

            proxied = s["proxy"] + "/api/v2/systems/1002/stats"
            legacy = dict(parse_qsl(AUTH))

            def through_proxy(start: int) -> float:
                params: dict[str, str | int] = {**legacy, "start_at": start, "end_at": start + DAY}
                return timed(client, proxied, params=params)

            for start in starts:
                direct(start)  # warm the sandbox's own per-day data cache
            direct_ms, proxy_ms = [], []
            cpu_before = worker_cpu(s["pid"])
            for start in starts:  # interleaved, so both see the same machine load
                direct_ms.append(direct(start))
                proxy_ms.append(through_proxy(start))
            cpu_ms = (worker_cpu(s["pid"]) - cpu_before) * 1000 / calls
    for name, q in (("p50", 0.5), ("p99", 0.99)):
        d, p = percentile(direct_ms, q), percentile(proxy_ms, q)
        print(f"miss path {name}: direct v4 {d:.2f} ms, through proxy {p:.2f} ms")
        print(f"miss path overhead {name}: {p - d:.2f} ms (goal p50 <= 2 ms)")
    print(f"proxy worker CPU per miss (one v2 stats, one v4 call): {cpu_ms:.2f} ms")
    print(
        f"miss path mean overhead: {statistics.mean(proxy_ms) - statistics.mean(direct_ms):.2f} ms"
    )


if __name__ == "__main__":
    main()
