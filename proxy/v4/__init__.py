"""The v4 API as data, pure and at the bottom of the house (imports nothing of the proxy).

Public API: two namespaces. ``paths``: the endpoint table (path templates, methods, freshness
and window rules, query parameters) that the broker's allow-list, cache keys, freshness and the
sandbox all read; ``shapes``: what a v4 200 body must hold to be data.
"""

from proxy.v4 import paths, shapes

__all__ = ["paths", "shapes"]
