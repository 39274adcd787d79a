"""What the cache does with a lookup: serve, serve stale, refresh or fetch; pure.

A lookup sees the stored entry (if any) and the caller's needs. ``since``: the caller needs the
data from that epoch (``through``), so an entry stored before counts as absent; ``settled``:
a 2xx entry stored at or after it holds the caller's data final (``through`` plus the reporting
lag); ``every``: a 2xx entry younger than that many seconds will do; ``allowed``: the pacer's
answer to "may this stale entry be refreshed now?" (None: no pacer).

``servable`` first drops what may not be served at all: an entry stored before ``since``, or,
unless paced or settled, one older than its TTL plus ``stale_if_error``. Then ``decide``:

=====================================================  ==========================================
stored entry                                           action
=====================================================  ==========================================
none (or not servable)                                 FETCH: one fetch for all callers, a MISS
fresh, final, settled for the caller, or younger       HIT
than ``every``
stale, the pacer defers its refresh                    STALE: served, no call
stale, the pacer allows its refresh now,               WAIT: one refresh, waited for up to
stale-while-revalidate on, age within twice its TTL    ``Cache.refresh_wait`` s (a MISS), else
                                                       served STALE as it goes on
stale, no pacer, stale-while-revalidate on, age        REVALIDATE: served STALE at once, one
within twice its TTL                                   refresh in the background
stale, otherwise                                       FETCH, the stale entry kept for a failure
=====================================================  ==========================================

After a fetch, ``settle``:

=====================================================  ==========================================
fetch                                                  answer
=====================================================  ==========================================
a reply that is not a failure                          the reply, MISS
a failure (429, 5xx) or no reply, a stale entry held   the stale entry, STALE
a failure reply, nothing held                          the failure reply, MISS
no reply (upstream unavailable), nothing held          None: refuse (the caller raises)
=====================================================  ==========================================
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from proxy.cache.entry import Entry


class Decision(Enum):
    """What a lookup does."""

    HIT = "serve the stored entry as fresh"
    STALE = "serve the stored entry as stale, with no call"
    REVALIDATE = "serve the stored entry as stale, and refresh it in the background"
    WAIT = "refresh, waiting a bounded time for the reply before serving the stored one stale"
    FETCH = "fetch, every caller waiting for the one fetch"


@dataclass(frozen=True, slots=True)
class Needs:
    """What the caller needs of an entry, and the cache's stale settings (see module doc)."""

    since: float
    settled: float
    every: float | None = None
    stale_if_error: float = 0
    stale_while_revalidate: bool = True


def servable(entry: Entry | None, now: float, needs: Needs, paced: bool) -> Entry | None:
    """``entry`` when it may be served, fresh or stale (paced or settled: at any age)."""
    if entry is None or entry.stored_at < needs.since:
        return None
    if paced or holds(entry, needs.settled):
        return entry
    return entry if entry.age(now) <= entry.ttl + needs.stale_if_error else None


def usable(entry: Entry, now: float, needs: Needs) -> bool:
    """Whether ``entry`` answers the caller as it is: fresh, settled, or young enough."""
    young = needs.every is not None and entry.status < 300 and entry.age(now) < needs.every
    return entry.fresh(now) or holds(entry, needs.settled) or young


def decide(entry: Entry | None, now: float, needs: Needs, allowed: bool | None) -> Decision:
    """What to do with the servable ``entry`` (None: none), the pacer answering ``allowed``."""
    if entry is None:
        return Decision.FETCH
    if usable(entry, now, needs):
        return Decision.HIT
    if allowed is False:
        return Decision.STALE
    if needs.stale_while_revalidate and entry.age(now) <= 2 * entry.ttl:
        return Decision.WAIT if allowed else Decision.REVALIDATE
    return Decision.FETCH


def settle(held: Entry | None, fetched: Entry | None) -> tuple[Entry, str] | None:
    """The answer after a fetch that returned ``fetched`` (None: it raised), ``held`` stale."""
    if fetched is not None and not fetched.failed:
        return fetched, "MISS"
    if held is not None:
        return held, "STALE"
    return None if fetched is None else (fetched, "MISS")


def holds(entry: Entry, settled: float) -> bool:
    """Whether ``entry`` is a 2xx reply stored at or after ``settled`` (final for its caller)."""
    return entry.status < 300 and entry.stored_at >= settled
