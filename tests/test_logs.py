"""Access log lines: held briefly, written in whole lines, in blocks a pipe keeps unbroken."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from proxy.http.middleware import AccessLines
from proxy.observability.logs import AccessLog

pytestmark = pytest.mark.anyio
Channel = tuple[socket.socket, int]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def channel() -> Iterator[Channel]:
    """A reader and a writable fd that keep each write as one message (unlike a pipe)."""
    reader, writer = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    reader.setblocking(False)
    with reader, writer:
        yield reader, writer.fileno()


def drain(reader: socket.socket) -> list[bytes]:
    """Every block written so far, one per write."""
    blocks = []
    while True:
        try:
            blocks.append(reader.recv(65536))
        except BlockingIOError:
            return blocks


async def test_lines_wait_for_the_delay_then_go_out_whole(channel: Channel) -> None:
    read, write = channel
    log = AccessLog(write, block=4096, delay=0.05)
    log.request("a", b'"status":200', 0.1)
    assert drain(read) == []
    await asyncio.sleep(0.1)
    (block,) = drain(read)
    line = json.loads(block)
    assert (line["request_id"], line["status"], line["logger"]) == ("a", 200, "proxy.access")
    assert block.endswith(b"\n")


async def test_a_full_block_is_written_at_once_and_never_split(channel: Channel) -> None:
    read, write = channel
    log = AccessLog(write, block=1024, delay=60)
    for n in range(100):
        log.request(f"{n:04d}", b'"path":"/api/v2/systems/1/stats"', 0.1)
    log.flush()
    blocks = drain(read)
    assert len(blocks) > 5 and all(len(b) <= 1024 and b.endswith(b"\n") for b in blocks)
    ids = [json.loads(line)["request_id"] for b in blocks for line in b.splitlines()]
    assert ids == [f"{n:04d}" for n in range(100)]


async def test_a_busy_log_arms_one_timer_not_one_per_block(
    channel: Channel, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Full blocks go out without re-arming the delay's timer (a timer per block was a cost
    on every cache hit)."""
    read, write = channel
    loop = asyncio.get_running_loop()
    armed: list[float] = []
    call_later = loop.call_later

    def counted(delay: float, *args: Any) -> asyncio.TimerHandle:
        armed.append(delay)
        return call_later(delay, *args)

    monkeypatch.setattr(loop, "call_later", counted)
    log = AccessLog(write, block=1024, delay=60)
    for n in range(100):
        log.request(f"{n:04d}", b'"path":"/api/v2/systems/1/stats"', 0.1)
    assert len(drain(read)) > 5 and armed == [60]
    log.flush()


async def test_an_access_line_encodes_a_repeated_requests_fields_once(channel: Channel) -> None:
    """Requests told apart only by id and duration share their fields' encoding; the lines
    are whole JSON objects with every field; distinct paths (the client's) stay bounded."""
    read, write = channel
    lines = AccessLines(max_kept=3)
    scope: dict[str, Any] = {"method": "GET", "path": '/api/v2/"x"', "state": {"tenant": "t"}}
    known = lines.known(scope, "/api/v2/{x}", 200)
    assert lines.known(dict(scope), "/api/v2/{x}", 200) is known
    log = AccessLog(write, block=4096, delay=60)
    log.request("abc", known, 1.234)
    log.flush()
    (block,) = drain(read)
    assert orjson.loads(block) == {
        "ts": orjson.loads(block)["ts"],
        "level": "info",
        "logger": "proxy.access",
        "msg": "request",
        "request_id": "abc",
        "method": "GET",
        "path": '/api/v2/"x"',
        "route": "/api/v2/{x}",
        "status": 200,
        "tenant": "t",
        "duration_ms": 1.23,
    }
    for n in range(10):
        lines.known({**scope, "path": f"/p{n}" + "x" * 5000}, "unmatched", 404)
    assert len(lines.kept) <= 3 and all(len(path) <= 256 for _, path, *_ in lines.kept)
