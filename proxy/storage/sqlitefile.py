"""SQLite files shared by the workers of one host: created safely by many at once, used under a
lock and in transactions."""

from __future__ import annotations

import asyncio
import fcntl
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

_T = TypeVar("_T")


class SqliteFile:
    """One connection to ``path`` (WAL, ``schema`` applied), used by one thread at a time."""

    def __init__(self, path: Path, schema: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        # Switching a new file to WAL fails at once ("database is locked") rather than wait when
        # another process does it too: the workers of a first start take turns.
        with open(path.with_name(path.name + ".init-lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.executescript(schema)
        self._mutex = threading.Lock()

    async def locked(self, fn: Callable[..., _T], *args: Any) -> _T:
        """``fn(*args)`` under this connection's lock, in a thread."""

        def run() -> _T:
            with self._mutex:
                return fn(*args)

        return await asyncio.to_thread(run)

    async def transaction(self, fn: Callable[..., _T], *args: Any) -> _T:
        """``fn(*args)`` inside one ``BEGIN IMMEDIATE`` transaction, in a thread."""

        def run() -> _T:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                result = fn(*args)
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")
            return result

        return await self.locked(run)

    def close(self) -> None:
        """Close the connection."""
        self.db.close()
