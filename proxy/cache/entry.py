"""One cached upstream reply and its encoding as bytes (a JSON head line, then the body)."""

from __future__ import annotations

import json
from dataclasses import dataclass

ENTRY_OVERHEAD = 480  # bytes of bookkeeping per memory entry besides its key and body


@dataclass(frozen=True, slots=True)
class Entry:
    """One cached upstream reply."""

    status: int
    body: bytes
    content_type: str
    stored_at: float
    ttl: int
    final: bool = False  # its window can no longer change: fresh for ever
    retry_after: int | None = None  # the upstream's Retry-After (seconds) of a failure, unstored

    def fresh(self, now: float) -> bool:
        """Whether the entry is final or within its TTL at ``now``."""
        return self.final or now < self.stored_at + self.ttl

    def age(self, now: float) -> int:
        """Whole seconds since the entry was stored."""
        return max(0, int(now - self.stored_at))

    @property
    def failed(self) -> bool:
        """Whether the reply is an upstream failure (5xx or 429): never stored nor served."""
        return self.status >= 500 or self.status == 429


def entry_size(entry: Entry) -> int:
    """Bytes a decoded entry is accounted for in memory, its key aside."""
    return len(entry.body) + ENTRY_OVERHEAD


def encode(entry: Entry) -> bytes:
    """``entry`` as bytes: a JSON head line, then the body."""
    head = json.dumps([entry.status, entry.content_type, entry.stored_at, entry.ttl, entry.final])
    return head.encode() + b"\n" + entry.body


def decode(raw: bytes) -> Entry:
    """The entry ``encode`` made ``raw`` from."""
    head, body = raw.split(b"\n", 1)
    status, content_type, stored_at, ttl, *final = json.loads(head)
    return Entry(status, body, content_type, stored_at, ttl, bool(final and final[0]))
