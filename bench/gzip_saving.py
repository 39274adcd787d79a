"""Bytes gzip saves on a v2 ``stats`` answer (a finished day, 288 intervals), asked with and
without ``Accept-Encoding: gzip`` of the proxy served as deployed (gunicorn). Answers under
500 bytes (a ``summary``) are sent as they are.

Run: ``python -m bench.gzip_saving``.
"""

from __future__ import annotations

import datetime as dt

import httpx2

from bench.support import machine, stack
from bench.throughput import past_day_stats
from proxy.clock import SYSTEM


def sizes(url: str) -> tuple[int, int]:
    """(identity bytes, gzip bytes on the wire) of the answer to ``url``."""
    with httpx2.Client(timeout=60) as client:
        plain = client.get(url, headers={"Accept-Encoding": "identity"})
        with client.stream("GET", url, headers={"Accept-Encoding": "gzip"}) as packed:
            wire = sum(len(part) for part in packed.iter_raw())
            assert packed.headers.get("content-encoding") == "gzip", packed.headers
    plain.raise_for_status()
    return len(plain.content), wire


def main() -> None:
    """Print the sizes and the share saved."""
    print(machine(), dt.datetime.fromtimestamp(SYSTEM.now(), dt.UTC).date().isoformat())
    with stack() as urls:
        plain, wire = sizes(past_day_stats(urls["proxy"]))
    print(f"stats, one day: {plain} bytes, {wire} gzipped: {1 - wire / plain:.0%} saved")


if __name__ == "__main__":
    main()
