"""Slow request bodies against `serve`: are normal legacy requests still answered?

Run from the checkout: python -m bench.slow_bodies [CONNECTIONS]   (default 2000)
A sandbox and `serve` (2 workers, default caps) run as child processes on loopback. A spawned
process opens CONNECTIONS connections that each send a whole request head for
``POST /console/login`` declaring a 1 MiB body, then 1 byte of it every 15 s, and reopens each
one the proxy closes (issue 22, finding 1). While it holds them, 100 legacy ``summary``
requests start 0.3 s apart, one after the other, each on a new connection: over 30 s, the
proxy's `keepalive` cut (408) and the holder's reopening come round several times. Then the
holder is told to stop. Prints how many were answered 200 and how long they took.
"""

from __future__ import annotations

import datetime as dt
import http.client
import multiprocessing
import queue
import resource
import selectors
import socket
import statistics
import sys
import time
from multiprocessing.synchronize import Event
from urllib.parse import urlsplit

from bench.support import AUTH, commit, machine, stack
from proxy.clock import SYSTEM

CONNECTIONS = 2000
REQUESTS = 100
TIMEOUT = 10.0  # seconds a normal request may take before it counts as unanswered
TRICKLE = 15.0  # seconds between two body bytes on each slow connection
#: Seconds between the starts of two normal requests: spread over 30 s, they meet the slow
#: connections both freshly opened and past `keepalive`, when the proxy cuts and they reopen.
PACE = 0.3
#: The holder's own deadline past the longest the requests can take: it ends even if the
#: bench dies without telling it to stop.
HOLD_LIMIT = REQUESTS * (PACE + TIMEOUT) + 60.0
SUMMARY = f"/api/v2/systems/1001/summary?{AUTH}"
MIB = 1024 * 1024


def slow_body(port: int) -> socket.socket:
    """A connection that sent a ``POST /console/login`` head declaring 1 MiB, and 1 byte."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    head = f"POST /console/login HTTP/1.1\r\nHost: proxy\r\nContent-Length: {MIB}\r\n"
    sock.sendall(head.encode() + b"Content-Type: application/x-www-form-urlencoded\r\n\r\nk")
    return sock


def top_up(port: int, watch: selectors.BaseSelector, missing: int) -> int:
    """Open up to ``missing`` slow-body connections into ``watch``; how many are still missing."""
    while missing:
        try:
            sock = slow_body(port)
        except OSError:  # the listen backlog is full: try again on the next round
            return missing
        watch.register(sock, selectors.EVENT_READ, sock)
        missing -= 1
    return 0


def drop(watch: selectors.BaseSelector, sock: socket.socket) -> None:
    """Forget and close one slow-body connection."""
    watch.unregister(sock)
    sock.close()


def hold(port: int, count: int, reports: multiprocessing.Queue[int], stop: Event) -> None:
    """Keep ``count`` slow-body connections open until ``stop`` (or HOLD_LIMIT): report how
    many opened, then how many the proxy closed."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:  # one descriptor per connection: the default soft limit is often 1,024
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    deadline = SYSTEM.monotonic() + HOLD_LIMIT
    closed = 0
    # a selector, not select.select: that one refuses descriptors past 1,023
    with selectors.DefaultSelector() as watch:
        missing = top_up(port, watch, count)
        reports.put(count - missing)
        last_byte = SYSTEM.monotonic()
        while not stop.wait(0.2) and SYSTEM.monotonic() < deadline:
            for key, _ in watch.select(0):  # readable: the proxy answered 408 or hung up
                drop(watch, key.data)
                closed += 1
                missing += 1
            missing = top_up(port, watch, missing)
            if SYSTEM.monotonic() - last_byte >= TRICKLE:
                last_byte = SYSTEM.monotonic()
                for key in list(watch.get_map().values()):
                    try:
                        key.data.send(b"k")
                    except OSError:  # closed by the proxy since the last look
                        drop(watch, key.data)
                        closed += 1
                        missing += 1
        for key in list(watch.get_map().values()):
            drop(watch, key.data)
    reports.put(closed)


def status(port: int) -> int:
    """The status of one legacy summary request on a new connection; 0 when unanswered."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
    try:
        conn.request("GET", SUMMARY)
        reply = conn.getresponse()
        reply.read()
        return reply.status
    except OSError:  # refused, reset or timed out: not answered
        return 0
    finally:
        conn.close()


def main(connections: int = CONNECTIONS) -> None:
    """Hold ``connections`` slow bodies while REQUESTS normal requests run; print the figures."""
    print(f"date: {dt.datetime.fromtimestamp(SYSTEM.now(), dt.UTC):%Y-%m-%d %H:%M} UTC")
    print(f"commit: {commit()}")
    print(f"machine: {machine()}")
    with stack(workers=2) as urls:
        port = urlsplit(urls["proxy"]).port or 0
        if status(port) != 200:  # also warms the cache, as a polling client finds it
            sys.exit("the proxy does not answer the summary request")
        context = multiprocessing.get_context("spawn")
        reports: multiprocessing.Queue[int] = context.Queue()
        stop = context.Event()
        holder = context.Process(target=hold, args=(port, connections, reports, stop))
        holder.start()
        try:
            held = reports.get(timeout=120)
            seconds: list[float] = []
            answered = 0
            begin = SYSTEM.monotonic()
            for n in range(REQUESTS):
                time.sleep(max(0.0, begin + n * PACE - SYSTEM.monotonic()))
                started = SYSTEM.monotonic()
                answered += status(port) == 200
                seconds.append(SYSTEM.monotonic() - started)
            window = SYSTEM.monotonic() - begin
        finally:
            stop.set()
            try:
                closed: int | str = reports.get(timeout=60)
            except queue.Empty:
                closed = "unknown (the holder did not report)"
            holder.join(10)
            if holder.is_alive():
                holder.terminate()
                holder.join()
            reports.close()
    print(f"slow-body connections: {connections} asked, {held} opened (2 workers, default caps)")
    print(f"slow-body connections the proxy closed (each reopened): {closed}")
    print(f"normal requests answered 200: {answered} of {REQUESTS}")
    median, longest = statistics.median(seconds), max(seconds)
    print(
        f"time for the {REQUESTS}: {sum(seconds):.1f} s over {window:.0f} s; "
        f"each: median {median * 1000:.0f} ms, max {longest * 1000:.0f} ms"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else CONNECTIONS)
