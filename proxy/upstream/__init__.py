"""Upstream v4 calls as httpx2 transport layers, each with one job.

    Caching(Authorize(Govern(Meter(Wire(client)))))

Below the inbound surfaces and the v2 runner; above ``cache``, ``tokens`` and ``quota``, which
its layers use. ``stack`` builds the stack and wraps it in ``Upstream``, what callers use;
``call`` is one call as the layers see it.

Public API: ``Upstream`` (``get`` one v4 call, answered as a ``Reply``; ``send`` a team
client's request), ``layers`` and ``open_http`` (the stack and its client), ``Params``,
``Call`` / ``call_of`` (the call a request carries) and ``Taps`` (watching calls, for benches).
"""

from proxy.upstream.call import Call, call_of
from proxy.upstream.stack import UNTAPPED, Params, Reply, Taps, Upstream, layers, open_http

__all__ = [
    "UNTAPPED",
    "Call",
    "Params",
    "Reply",
    "Taps",
    "Upstream",
    "call_of",
    "layers",
    "open_http",
]
