"""A diskcache ``Disk`` that holds bytes only: a row in any other mode is refused, never read.

diskcache's own ``Disk`` pickles any value or key that is not a string, bytes or number, and
unpickles any row marked so: whoever can write the database in ``data_dir`` could run code in
the worker that reads it. The caches store encoded replies (bytes) under string keys, so this
disk writes nothing else and reads nothing else: a value row that is not bytes reads as absent
(diskcache takes the ``OSError`` for a row deleted meanwhile, so the reply is fetched again),
and a key row marked pickled is returned as its bytes, matching no cache key.
"""

from __future__ import annotations

from typing import Any

import diskcache

MODE_RAW = diskcache.core.MODE_RAW  # a value in the row itself
MODE_BINARY = diskcache.core.MODE_BINARY  # a value in a file of its own, read as bytes


class RefusedRow(OSError):
    """A cache row that is not bytes: refused unread."""


class BytesDisk(diskcache.Disk):  # type: ignore[misc]  # diskcache has no type information
    """Stores bytes values under string keys; refuses to write or read anything else."""

    def put(self, key: Any) -> tuple[Any, bool]:
        """The database key of a string ``key`` (any other is refused)."""
        if type(key) is not str:
            raise TypeError(f"cache keys are strings, not {type(key).__name__}")
        return key, True

    def get(self, key: Any, raw: bool) -> Any:
        """The key of a row: its string, or the bytes of one marked pickled (never unpickled)."""
        return key if raw else bytes(key)

    def store(self, value: Any, read: bool, key: Any = diskcache.UNKNOWN) -> tuple[Any, ...]:
        """The row of a bytes ``value`` (any other is refused)."""
        if type(value) is not bytes:
            raise TypeError(f"cache values are bytes, not {type(value).__name__}")
        return super().store(value, read, key)  # type: ignore[no-any-return]

    def fetch(self, mode: int, filename: str | None, value: Any, read: bool) -> Any:
        """The bytes of a row stored as bytes; any other row is refused unread."""
        if mode == MODE_RAW and isinstance(value, bytes | memoryview):
            return bytes(value)
        if mode == MODE_BINARY and not read:
            return super().fetch(mode, filename, value, read)
        raise RefusedRow(f"cache row in mode {mode} is not bytes: refused")
