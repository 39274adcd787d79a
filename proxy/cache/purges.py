"""Cache purges shared by the workers of one host: an append-only log in the data directory.

Each worker keeps its own memory cache; a purge answered by one worker is appended here, and
every worker applies the purges it has not seen before its next cache lookup (one ``stat``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

Purge = tuple[str | None, str | None]  # (tenant, system_id); None means every one


class PurgeLog:
    """The purges announced since this worker opened the log."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
        self.seen = os.fstat(self.fd).st_size  # a new worker's cache is empty: nothing to apply

    def announce(self, purge: Purge) -> None:
        """Tell every worker of the host (one write of one line: appends never interleave)."""
        os.write(self.fd, json.dumps(purge).encode() + b"\n")

    def unseen(self) -> list[Purge]:
        """The purges announced since the last call, in order."""
        size = os.fstat(self.fd).st_size
        if size == self.seen:
            return []
        lines = os.pread(self.fd, size - self.seen, self.seen).splitlines()
        self.seen = size
        return [(tenant, system_id) for tenant, system_id in map(json.loads, lines)]

    def close(self) -> None:
        """Close the log file."""
        os.close(self.fd)
