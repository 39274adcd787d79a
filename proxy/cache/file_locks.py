"""Fetch locks shared by the processes of a host, held for as long as their holder lives.

One lock file per key being fetched, locked with ``flock``: the kernel releases it when its
holder closes it or dies (a SIGKILLed worker's key is free at once, not after a timeout). The
holder removes the file when it releases the lock; a process that locked a file removed
meanwhile finds it no longer at its path and tries again, so two holders never meet.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from proxy.storage import try_lock


@dataclass(frozen=True, slots=True)
class Held:
    """A lock this process holds: the open lock file and its path."""

    fd: int
    path: Path


class KeyLocks:
    """Non-blocking exclusive locks by key, in ``directory``."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self._held: set[Held] = set()

    def acquire(self, key: str) -> Held | None:
        """The lock of ``key`` when no process holds it, else None."""
        path = self.directory / hashlib.sha256(key.encode()).hexdigest()
        while True:
            fd = try_lock(path)
            if fd is None:
                return None
            if _still_at(fd, path):
                held = Held(fd, path)
                self._held.add(held)
                return held
            os.close(fd)  # its holder released and removed it as we locked it: take the new one

    def release(self, held: object) -> None:
        """Release ``held`` if this process holds it (any other token is ignored)."""
        if not isinstance(held, Held) or held not in self._held:
            return
        self._held.discard(held)
        with contextlib.suppress(FileNotFoundError):
            held.path.unlink()  # while still locked: a waiter that opened it sees it gone
        os.close(held.fd)

    def close(self) -> None:
        """Release every lock this process holds."""
        for held in list(self._held):
            self.release(held)


def _still_at(fd: int, path: Path) -> bool:
    """Whether the file open as ``fd`` is still the one at ``path``."""
    try:
        return os.stat(path).st_ino == os.fstat(fd).st_ino
    except FileNotFoundError:
        return False
