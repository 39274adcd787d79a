"""Access log lines: held briefly, written in whole lines, in blocks a pipe keeps unbroken."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest

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
    log.write({"request_id": "a", "status": 200})
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
        log.write({"request_id": f"{n:04d}", "path": "/api/v2/systems/1/stats"})
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
        log.write({"request_id": f"{n:04d}", "path": "/api/v2/systems/1/stats"})
    assert len(drain(read)) > 5 and armed == [60]
    log.flush()
