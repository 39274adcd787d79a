"""One upstream call as the layers see it: the httpx2 request and, in its extensions, its Call."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import httpx2

from proxy.config import Tenant

Params = Sequence[tuple[str, str]]
EXTENSION = "enphase_call"
STREAM = "enphase_stream"  # request extension: hand the reply on unread, as it arrives


class Needs(tuple[tuple[str, str], ...]):
    """The query pairs of a GET, with what its answer needs besides its endpoint's freshness.

    ``through``: the data up to that epoch (``proxy.cache`` says how); ``every``: a 2xx reply
    up to that many seconds old will do (the caller's own refresh period). The needs travel
    with the pairs through every layer that passes a call's query on; they are never sent
    upstream nor part of a cache key.
    """

    through: int | None
    every: int | None

    def __new__(
        cls, pairs: Iterable[tuple[str, str]], through: int | None = None, every: int | None = None
    ) -> Needs:
        """``pairs`` with these needs."""
        made = super().__new__(cls, pairs)
        made.through, made.every = through, every
        return made


def through(params: Params) -> int | None:
    """The epoch up to which the answer to a GET with ``params`` needs data, if it says."""
    return params.through if isinstance(params, Needs) else None


def every(params: Params) -> int | None:
    """How old a 2xx reply the GET with ``params`` accepts, if it says (its refresh period)."""
    return params.every if isinstance(params, Needs) else None


@dataclass(frozen=True, slots=True)
class Call:
    """Who a v4 call is for and what it asks: ``path`` below the API root, without the key."""

    tenant: Tenant
    path: str
    params: Params
    request_id: str = ""


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
