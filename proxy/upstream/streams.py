"""How many streamed replies (``live_data``) a worker holds, per team client and per tenant.

A stream holds an upstream connection for minutes; the caps keep one client, or one tenant's
clients, from holding them all (the streams' own pool, proxy.upstream.wire.open_client, keeps
them from the connections ordinary calls need).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from proxy.config import UpstreamSettings
from proxy.errors import TooManyStreams, Unavailable

BUSY = "Too many concurrent streams; try again later."


class StreamSlots:
    """The streams a worker holds, counted by client, by tenant and in all."""

    def __init__(self) -> None:
        self.clients: Counter[str] = Counter()
        self.tenants: Counter[str] = Counter()
        self.total = 0

    def take(self, client: str, tenant: str, caps: UpstreamSettings) -> Callable[[], None]:
        """A slot for one stream of ``client`` in ``tenant`` (its release, safe to call twice).

        Over the client's cap: TooManyStreams (429); over the tenant's or the worker's: 503.
        """
        if self.clients[client] >= caps.streams_per_client:
            raise TooManyStreams
        if self.tenants[tenant] >= caps.streams_per_tenant or self.total >= caps.max_streams:
            raise Unavailable(BUSY)
        self.clients[client] += 1
        self.tenants[tenant] += 1
        self.total += 1
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                self.clients[client] -= 1
                self.tenants[tenant] -= 1
                self.total -= 1

        return release
