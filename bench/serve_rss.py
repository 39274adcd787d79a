"""Resident memory of the whole `serve` process tree on a small host, for 1 and 2 workers.

Run from the checkout: python -m bench.serve_rss
For each worker count: `enphase-proxy serve` against a sandbox (in this process), warmed by 200
legacy requests on a few systems, then the tree's memory: RSS of each process and their sum
(which counts the pages workers share with the master once per process), and PSS summed (each
shared page split between its sharers: the memory the tree really takes). Then the same with
the embedded sandbox (a child of gunicorn's master that ends with it; not counted).
Prints one line per figure.
"""

from __future__ import annotations

import datetime as dt
import sys
import tempfile
from pathlib import Path

import httpx2

from bench.support import child, machine
from proxy.clock import SYSTEM
from proxy.sandbox import DEMO, App, SandboxSettings
from proxy.sandbox.demo import config_text
from proxy.sandbox.server import serve_in_thread
from proxy.serving.server import free_port

MIB = 1024 * 1024
WARM_REQUESTS = 200
AUTH = {"key": "demo-v2-key", "user_id": "demo-user"}


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    found = [pid]
    for parent in found:
        found += [p for p, pp in parents.items() if pp == parent and p not in found]
    return found


def memory(pid: int, field: str) -> int:
    """``field`` (``Rss`` or ``Pss``) of ``pid`` in bytes, from smaps_rollup."""
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    return 0


def command(pid: int) -> str:
    """What ``pid`` runs, shortly."""
    args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    text = b" ".join(args).decode(errors="replace")
    return "gunicorn" if "gunicorn" in text else "sandbox" if "sandbox" in text else "serve"


def measure(workers: int, sandbox_url: str, work: Path, embedded: bool) -> None:
    """Start serve, warm it, print its tree's memory."""
    port = free_port()
    extra = f"[sandbox]\nenabled = true\nport = {free_port()}\n" if embedded else ""
    path = work / f"proxy-{workers}-{embedded}.toml"
    path.write_text(config_text(sandbox_url, work / "var", server=extra))
    argv = [sys.executable, "-m", "proxy.cli", "serve", "--config", str(path)]
    argv += ["--port", str(port), "--workers", str(workers)]
    with child(argv, port, work / "serve.log") as pid:
        url = f"http://127.0.0.1:{port}"
        with httpx2.Client(base_url=url, timeout=30) as client:
            client.get("/healthz").raise_for_status()
            for n in range(WARM_REQUESTS):
                client.get(f"/api/v2/systems/{1001 + n % 3}/summary", params=AUTH)
        tree = [p for p in descendants(pid) if command(p) != "sandbox"]
        label = f"{workers} worker(s){' with the embedded sandbox' if embedded else ''}"
        by_kind = ", ".join(f"{command(p)} {memory(p, 'Rss') / MIB:.1f}" for p in tree)
        print(f"{label}: processes (RSS MiB): {by_kind}")
        print(f"{label}: RSS summed {sum(memory(p, 'Rss') for p in tree) / MIB:.1f} MiB")
        print(f"{label}: PSS summed {sum(memory(p, 'Pss') for p in tree) / MIB:.1f} MiB")
        others = [p for p in tree if command(p) != "gunicorn"]
        print(f"{label}: processes besides gunicorn's master and workers: {len(others)}")


def main() -> None:
    """Measure 1 and 2 workers, then 1 worker with the embedded sandbox."""
    print(f"date: {dt.datetime.fromtimestamp(SYSTEM.now(), dt.UTC):%Y-%m-%d %H:%M} UTC")
    print(f"machine: {machine()}")
    app = App(DEMO.client_id, DEMO.client_secret, DEMO.api_key, "Kilowatt", 10**6, 10**9)
    with tempfile.TemporaryDirectory() as tmp, serve_in_thread(SandboxSettings(apps=[app])) as sb:
        for workers in (1, 2):
            measure(workers, sb.url, Path(tmp), embedded=False)
        measure(1, sb.url, Path(tmp), embedded=True)


if __name__ == "__main__":
    main()
