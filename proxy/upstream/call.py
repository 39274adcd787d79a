"""One upstream call as the layers see it: the httpx2 request and, in its extensions, its Call."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import httpx2

from proxy.config import Tenant
from proxy.v4 import paths

Params = Sequence[tuple[str, str]]
EXTENSION = "enphase_call"
STREAM = "enphase_stream"  # request extension: hand the reply on unread, as it arrives


@dataclass(frozen=True, slots=True)
class Call:
    """Who a v4 call is for and what it asks: ``path`` below the API root, without the key.

    What a GET's answer needs besides its endpoint's freshness (``proxy.cache.decision`` applies
    it; never sent upstream nor part of a cache key): ``through``, the data up to that epoch;
    ``every``, a 2xx reply up to that many seconds old will do (the caller's refresh period).
    ``found``: the path's row in the v4 table (None: outside it), resolved once for every layer.
    """

    tenant: Tenant
    path: str
    params: Params
    request_id: str = ""
    through: int | None = None
    every: int | None = None
    found: paths.PathMatch | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "found", paths.find(self.path))

    @property
    def endpoint(self) -> paths.V4Endpoint | None:
        """The endpoint row of the call's path (None: outside the table)."""
        return self.found.endpoint if self.found else None


def request(
    root: str,
    call: Call,
    method: str = "GET",
    *,
    content: bytes | None = None,
    headers: dict[str, str] | None = None,
    stream: bool = False,
) -> httpx2.Request:
    """The httpx2 request for ``call`` below ``root``, carrying ``call`` for the layers."""
    sent = {"Accept": "application/json", **(headers or {})}
    if call.request_id:
        sent["X-Request-Id"] = call.request_id
    return httpx2.Request(
        method,
        root.rstrip("/") + call.path,
        params=list(call.params),
        headers=sent,
        content=content,
        extensions={EXTENSION: call, STREAM: stream},
    )


def call_of(request: httpx2.Request) -> Call:
    """The Call ``request`` carries."""
    call: Call = request.extensions[EXTENSION]
    return call
