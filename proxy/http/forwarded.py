"""What a request says about its client when it came through a trusted reverse proxy.

Only a peer in ``[server] trusted_proxies`` may say, with ``X-Forwarded-For``, ``-Proto`` and
``-Host``, who the client is and how it reached the proxy; anyone else's such headers are
ignored.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from functools import cache

from starlette.requests import Request

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@cache
def networks(trusted: tuple[str, ...]) -> tuple[Network, ...]:
    """The trusted proxies' addresses (``10.0.0.5``) and networks (``10.0.0.0/8``)."""
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in trusted)


def _is_in(address: str, trusted: Iterable[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted)


def via_trusted_proxy(request: Request, trusted: tuple[str, ...]) -> bool:
    """Whether the request's peer is one of the trusted proxies."""
    peer = request.client.host if request.client else ""
    return bool(trusted) and _is_in(peer, networks(trusted))


def client_address(request: Request, trusted: tuple[str, ...]) -> str:
    """The client's address: behind trusted proxies, the nearest one they did not add."""
    peer = request.client.host if request.client else ""
    if not via_trusted_proxy(request, trusted):
        return peer
    hops = [h.strip() for h in request.headers.get("x-forwarded-for", "").split(",") if h.strip()]
    for hop in reversed(hops):
        if not _is_in(hop, networks(trusted)):
            return hop
    return hops[0] if hops else peer


def _last(request: Request, name: str) -> str:
    """The value the nearest proxy added to a comma-separated forwarding header."""
    return request.headers.get(name, "").split(",")[-1].strip().lower()


def is_https(request: Request, trusted: tuple[str, ...]) -> bool:
    """Whether the client reached us over https (itself, or as a trusted proxy says)."""
    if request.url.scheme == "https":
        return True
    return via_trusted_proxy(request, trusted) and _last(request, "x-forwarded-proto") == "https"


def host(request: Request, trusted: tuple[str, ...]) -> str:
    """The host (and port) the client asked for."""
    if via_trusted_proxy(request, trusted) and _last(request, "x-forwarded-host"):
        return _last(request, "x-forwarded-host")
    return request.headers.get("host", "").lower()
