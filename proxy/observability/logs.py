"""JSON log lines on stderr; only whitelisted fields are ever written."""

from __future__ import annotations

import asyncio
import atexit
import json
import logging
import os
import select
import stat
import sys
import time

from proxy.clock import SYSTEM, Clock

FIELDS = (
    "request_id",
    "method",
    "path",
    "route",
    "status",
    "duration_ms",
    "tenant",
    "client",
    "endpoint",
    "cache",
)


class _Clock:
    """ISO 8601 UTC timestamps, formatted once per second."""

    second = -1
    stamp = ""

    def iso(self, created: float) -> str:
        """``created`` as ``YYYY-MM-DDTHH:MM:SS.mmmZ``."""
        second = int(created)
        if second != self.second:
            self.second = second
            self.stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return f"{self.stamp}.{int((created - second) * 1000):03d}Z"


_clock = _Clock()


class JsonFormatter(logging.Formatter):
    """One JSON object per record with the message and known context fields."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as a JSON line."""
        line = {
            "ts": _clock.iso(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        context = record.__dict__
        line.update({f: context[f] for f in FIELDS if context.get(f) is not None})
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


HEAD = b'{"ts":"%s","level":"info","logger":"proxy.access","msg":"request",'
FILE_BLOCK = 64 * 1024


def block_for(fd: int) -> int:
    """The most bytes one write to ``fd`` keeps whole among its writers."""
    try:
        regular = stat.S_ISREG(os.fstat(fd).st_mode)
    except OSError:  # closed: whatever it becomes, PIPE_BUF is safe
        regular = False
    return FILE_BLOCK if regular else select.PIPE_BUF


class AccessLog:
    """Access lines held briefly and written to stderr together, like nginx's ``buffer=``.

    A write per request cost a sixth of the cache-hit throughput. Lines go out when a block
    would pass ``block`` bytes, at most ``delay`` seconds after they were held, or on
    ``flush``. By default a block is PIPE_BUF, so it is never interleaved with another
    process's writes on a pipe or socket; on a regular file (where Linux keeps each write
    whole) it is ``FILE_BLOCK``, a system call per 250-odd lines rather than per 15.
    """

    def __init__(
        self, fd: int = 2, block: int | None = None, delay: float = 0.25, clock: Clock = SYSTEM
    ) -> None:
        self.fd = fd
        self.clock = clock
        self.block = block if block is not None else block_for(fd)
        self.delay = delay
        self._held = bytearray()
        self._timer: asyncio.TimerHandle | None = None
        self._millisecond = -1
        self._stamp = b""

    def request(self, request_id: str, known: bytes, duration_ms: float) -> None:
        """Hold one request's access line: its id (of ``[A-Za-z0-9._-]``, as JSON needs no
        escape for), ``known`` (more fields, encoded, without braces) and its duration."""
        self._hold(
            b'"request_id":"%s",%s,"duration_ms":%.2f}' % (request_id.encode(), known, duration_ms)
        )

    def _hold(self, rest: bytes) -> None:
        """Hold a line: the head, then ``rest`` (the fields after it, and the closing brace)."""
        head = self._head(self.clock.now())
        held = self._held
        if len(held) + len(head) + len(rest) + 1 > self.block:
            self._write()
        held += head
        held += rest
        held += b"\n"
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.delay, self._due)

    def flush(self) -> None:
        """Write every held line now."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._write()

    def _due(self) -> None:
        """The delay since the first line held is over."""
        self._timer = None
        self._write()

    def _write(self) -> None:
        """Write the held lines, leaving the timer be: a full block does not re-arm it, so a
        busy worker arms one timer per ``delay``, not one per block."""
        if self._held:
            os.write(self.fd, self._held)
            self._held.clear()

    def _head(self, now: float) -> bytes:
        """The line's fields before the request's (the object left open), made once per
        millisecond: a busy worker writes several lines in each."""
        millisecond = int(now * 1000)
        if millisecond != self._millisecond:
            self._millisecond = millisecond
            self._stamp = HEAD % _clock.iso(now).encode()
        return self._stamp


ACCESS = AccessLog()
atexit.register(ACCESS.flush)


def configure(level: str = "info") -> None:
    """Send every log record to stderr as JSON at ``level``."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for client in ("httpx", "httpx2"):  # one INFO line per HTTP call otherwise
        logging.getLogger(client).setLevel(logging.WARNING)
