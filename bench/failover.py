"""Redis Sentinel failovers under load: two proxy replicas, legacy traffic, token refreshes due.

Run from the checkout: python -m bench.failover [failovers]   (default 20)
One master, one replica and three sentinels (redis-server, redis-sentinel on loopback ports),
two ``serve`` replicas (one worker each) keeping tokens, cache and quota in Redis through the
sentinels, the sandbox issuing access tokens that live ACCESS_TTL seconds (a refresh is due
every few seconds), and legacy clients polling two systems' summaries on each replica. Each
failover: STEADY seconds of traffic, the master is SIGKILLed, WATCH seconds more once the
sentinels name the new master, then the old master restarts and rejoins as a replica.
Prints one line per figure; recovery is from the kill to the last answer that was not a 200
in that failover's window (during the switch, Redis holds the cache: its answers are 503s).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2

from bench.redis_nodes import SentinelGroup, redis_cli, redis_sentinel_group
from bench.support import child, machine
from proxy.clock import SYSTEM
from proxy.config import load
from proxy.sandbox import DEMO, App, SandboxSettings
from proxy.sandbox.demo import config_text
from proxy.sandbox.server import serve_in_thread
from proxy.serving.server import free_port
from proxy.tokens.store import TokenRecord, open_store

FAILOVERS = 20
STEADY = 4.0  # seconds of traffic before each kill
WATCH = 6.0  # seconds of traffic after the sentinels name the new master
#: Seconds an access token lives; with REFRESH_MARGIN a refresh is due every ~5 s, and a token
#: stays valid longer than a renewal lock a killed master left behind (lock_timeout, 30 s), as
#: a real token's day and hour do.
ACCESS_TTL = 45
REFRESH_MARGIN = 40
CLIENTS = 2  # polling threads per replica
PAUSE = 0.05  # seconds between two requests of a thread
SYSTEMS = ("1001", "1002")
AUTH = {"key": "demo-v2-key", "user_id": "demo-user"}


@dataclass(frozen=True)
class Answer:
    """One legacy request: when it was answered, its status, Retry-After and X-Cache."""

    at: float
    status: int
    retry_after: str | None
    cache: str | None


@dataclass(frozen=True)
class Window:
    """One failover: when the master was killed, seconds until the sentinels named another,
    when watching ended, upstream calls in between, and the calls per second before it."""

    killed: float
    switch: float
    end: float
    calls: int
    rate: float


def replica_config(sandbox_url: str, group: SentinelGroup, data_dir: Path) -> Path:
    """A replica's configuration: its own data directory, every store on the sentinels' master."""
    tokens = f'[tokens]\nstore = "redis"\nrefresh_margin = {REFRESH_MARGIN}\ncheck_interval = 1\n'
    extra = f'{tokens}[cache]\nbackend = "redis"\nttl = {{ summary = 1 }}\n{group.toml()}'
    text = config_text(sandbox_url, data_dir, extra)
    data_dir.mkdir(parents=True)
    path = data_dir / "proxy.toml"
    path.write_text(text.replace('backend = "memory"', 'backend = "redis"', 1))  # [quota]
    return path


def poll(url: str, stop: threading.Event, answers: list[Answer]) -> None:
    """Legacy requests on ``url`` until ``stop``."""
    with httpx2.Client(base_url=url, timeout=30) as client:
        n = 0
        while not stop.is_set():
            n += 1
            try:
                reply = client.get(f"/api/v2/systems/{SYSTEMS[n % 2]}/summary", params=AUTH)
            except httpx2.TimeoutException:
                answers.append(Answer(SYSTEM.monotonic(), 0, None, None))  # no answer in time
                continue
            headers = reply.headers
            retry_after, cache = headers.get("Retry-After"), headers.get("X-Cache")
            answers.append(Answer(SYSTEM.monotonic(), reply.status_code, retry_after, cache))
            stop.wait(PAUSE)


def sandbox_stats(url: str) -> dict[str, Any]:
    """The sandbox's counters."""
    stats: dict[str, Any] = httpx2.get(url + "/_sandbox/stats").json()
    return stats


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 60) -> float:
    """Seconds until ``condition()`` holds."""
    started = SYSTEM.monotonic()
    while not condition():
        if SYSTEM.monotonic() - started > timeout:
            raise TimeoutError(what)
        time.sleep(0.05)
    return SYSTEM.monotonic() - started


def rejoined(port: int) -> bool:
    """Whether the restarted node replicates the new master."""
    try:
        return "master_link_status:up" in redis_cli(port, "INFO", "replication")
    except subprocess.CalledProcessError:  # still starting
        return False


def main(failovers: int = FAILOVERS) -> None:
    """Run ``failovers`` failovers and print the figures."""
    app = App(DEMO.client_id, DEMO.client_secret, DEMO.api_key, "Kilowatt", 10**6, 10**9)
    settings = SandboxSettings(apps=[app], access_token_ttl=ACCESS_TTL)
    answers: list[Answer] = []
    windows: list[Window] = []
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        sandbox = stack.enter_context(serve_in_thread(settings))
        sandbox_url = sandbox.url
        group = stack.enter_context(redis_sentinel_group(workdir / "redis"))
        paths = [replica_config(sandbox_url, group, workdir / name) for name in ("a", "b")]
        urls = []
        for path in paths:
            port = free_port()
            command = [sys.executable, "-m", "proxy.cli", "serve", "--config", str(path)]
            command += ["--port", str(port), "--workers", "1"]
            stack.enter_context(child(command, port, path.parent / "serve.log"))
            urls.append(f"http://127.0.0.1:{port}")
        for url in urls:
            httpx2.get(url + "/healthz", timeout=30).raise_for_status()
        stop = threading.Event()
        threads = [
            threading.Thread(target=poll, args=(url, stop, answers), daemon=True)
            for url in urls
            for _ in range(CLIENTS)
        ]
        for thread in threads:
            thread.start()
        grants_before = sandbox_stats(sandbox_url)["token_grants"].get("refresh_token", 0)
        started = SYSTEM.monotonic()
        try:
            for _ in range(failovers):
                calls_before = sandbox_stats(sandbox_url)["api_calls"]
                steady_from = SYSTEM.monotonic()
                time.sleep(STEADY)
                calls_at_kill = sandbox_stats(sandbox_url)["api_calls"]
                rate = (calls_at_kill - calls_before) / (SYSTEM.monotonic() - steady_from)
                master = group.master()
                group.nodes.kill(master)
                killed = SYSTEM.monotonic()
                switch = wait_for(lambda: group.master() != master, "no failover")  # noqa: B023
                time.sleep(WATCH)
                end = SYSTEM.monotonic()
                calls = sandbox_stats(sandbox_url)["api_calls"] - calls_at_kill
                windows.append(Window(killed, switch, end, calls, rate))
                group.nodes.start(master)
                wait_for(lambda: rejoined(master), "the old master never rejoined")  # noqa: B023
        finally:
            stop.set()
            for thread in threads:
                thread.join(30)
        elapsed = SYSTEM.monotonic() - started
        scrape = {"Authorization": "Bearer test-scrape-key"}  # the key config_text sets
        metrics = [httpx2.get(url + "/metrics", headers=scrape).text for url in urls]
        grants = sandbox_stats(sandbox_url)["token_grants"].get("refresh_token", 0) - grants_before
        record = stored_record(paths[0])
        refresh_token = (record.refresh_token if record else None) or ""
        renewed = httpx2.post(
            sandbox_url + "/oauth/token",
            data={"grant_type": "refresh_token", "refresh_token": refresh_token},
            auth=(DEMO.client_id, DEMO.client_secret),
        )
    report(answers, windows, metrics, grants, record, renewed.status_code, elapsed)


def stored_record(path: Path) -> TokenRecord | None:
    """The demo tenant's token record as the replicas' store holds it."""

    async def read() -> TokenRecord | None:
        store = open_store(load(path))
        try:
            return await store.load("demo")
        finally:
            await store.close()

    return asyncio.run(read())


def reauthorizations(metrics_text: str) -> float:
    """The replica's enphase_proxy_reauthorization_needed_total, summed."""
    total = 0.0
    for line in metrics_text.splitlines():
        if line.startswith("enphase_proxy_reauthorization_needed_total"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def spread(values: list[float]) -> str:
    """Median and maximum."""
    return f"{statistics.median(values):.1f}, {max(values):.1f}"


def report(
    answers: list[Answer],
    windows: list[Window],
    metrics: list[str],
    grants: int,
    record: TokenRecord | None,
    renewed: int,
    elapsed: float,
) -> None:
    """Print the figures."""
    statuses = Counter(a.status for a in answers)
    recoveries = []
    extra = []
    for w in windows:
        bad = [a.at for a in answers if w.killed <= a.at <= w.end and a.status != 200]
        recoveries.append(max(bad) - w.killed if bad else 0.0)
        extra.append(w.calls - w.rate * (w.end - w.killed))
    switches = [w.switch for w in windows]
    print(f"date: {dt.datetime.fromtimestamp(SYSTEM.now(), dt.UTC):%Y-%m-%d %H:%M} UTC")
    print(f"machine: {machine()}")
    print(f"failovers: {len(windows)}")
    print(f"seconds: {elapsed:.0f}")
    print(f"legacy requests: {len(answers)}")
    print(f"responses by status: {dict(sorted(statuses.items()))}")
    unexplained = sum(1 for a in answers if a.status == 503 and not a.retry_after)
    print(f"500s: {sum(n for s, n in statuses.items() if s >= 500 and s != 503)}")
    print(f"503s without Retry-After: {unexplained}")
    print(f"requests unanswered in 30 s: {statuses[0]}")
    print(f"stale answers: {sum(1 for a in answers if a.cache == 'STALE')}")
    print(f"token refreshes: {grants}")
    print(f"reauthorizations: {sum(reauthorizations(text) for text in metrics):.0f}")
    lost = record is None or record.reauthorize is not None or renewed != 200
    print(f"tokens lost: {int(lost)}")
    print(f"sentinel switch seconds (median, max): {spread(switches)}")
    print(f"recovery seconds (median, max): {spread(recoveries)}")
    print(f"extra upstream calls per failover (mean): {statistics.mean(extra):.1f}")
    print(json.dumps({"recoveries": [round(r, 2) for r in recoveries]}))


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # stop every child on the way out
    main(int(sys.argv[1]) if len(sys.argv) > 1 else FAILOVERS)
