"""The cache's key scheme: one key per tenant, system, v4 path and query, and purge globs."""

from __future__ import annotations

from urllib.parse import quote, urlencode

from proxy.cache.freshness import Params, pairs
from proxy.v4 import paths

CREDENTIALS = frozenset(
    {"key", "api_key", "access_token", "refresh_token", "token", "client_secret", "password"}
)


def cache_key(tenant: str, path: str, params: Params, system_id: str | None = None) -> str:
    """The key of a v4 GET for ``tenant``: ``v4:{tenant}:{system_id or -}:{path}?{query}``.

    The query is sorted and never holds credentials. ``system_id`` is read from the path's
    endpoint row when not given (``-`` for paths without one).
    """
    path = paths.clean(path)
    if system_id is None:
        found = paths.TABLE.find(path)
        system_id = found.path_params.get("system_id", "-") if found else "-"
    query = sorted((k, v) for k, v in pairs(params) if k.lower() not in CREDENTIALS)
    return f"v4:{_part(tenant)}:{system_id}:{path}?{urlencode(query)}"


def purge_pattern(tenant: str | None = None, system_id: str | None = None) -> str:
    """The glob matching the keys of ``tenant`` (and ``system_id``); all keys when both are None."""
    tenant_part = "*" if tenant is None else _part(tenant)
    system_part = "*" if system_id is None else _part(system_id)
    return f"v4:{tenant_part}:{system_part}:*"


def _part(value: str) -> str:
    """``value`` with every character that could split or glob a key percent-encoded."""
    return quote(str(value), safe="")
