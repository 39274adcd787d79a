"""A counter the processes of one host share to learn that any of them changed the file cache.

Eight bytes in a small file beside the cache, memory-mapped by every worker: a writer bumps it
(under an exclusive ``flock``) after each write or purge; a reader compares it with the value
it last saw, a memory read and not a syscall, so a cache hit can ask "did anything change?"
for nothing. A reader that sees a new value drops what it kept in memory.

Order makes it safe: the bump follows the commit, and a reader reads the counter before it
reads the store, so what it reads after seeing a value is never older than the writes that
value counts.
"""

from __future__ import annotations

import fcntl
import mmap
import os
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

COUNTER = struct.Struct("=Q")  # native order: only processes of this host map it


class Generation:
    """The host's shared change counter in the file at ``path`` (made if absent)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        with self._locked():
            if os.fstat(self._fd).st_size < COUNTER.size:
                os.ftruncate(self._fd, COUNTER.size)  # zero-filled
        self._map = mmap.mmap(self._fd, COUNTER.size)

    def read(self) -> int:
        """The current value."""
        value: int = COUNTER.unpack_from(self._map)[0]
        return value

    def bump(self) -> None:
        """Count one change (every reader then sees a new value)."""
        with self._locked():
            COUNTER.pack_into(self._map, 0, (self.read() + 1) % (1 << 64))

    def close(self) -> None:
        """Unmap and close the file."""
        self._map.close()
        os.close(self._fd)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """Exclusive among the host's processes (two bumps never make one)."""
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)


@dataclass(frozen=True, slots=True)
class Checked:
    """Cached replies found unchanged and fresh at ``generation`` (None: the store has none),
    fresh until ``until`` (epoch): while both hold, finding them again needs no read."""

    generation: int | None
    until: float

    def holds(self, generation: int | None, now: float) -> bool:
        """Whether nothing was written or purged since, and no reply has gone stale."""
        return self.generation is not None and generation == self.generation and now < self.until
