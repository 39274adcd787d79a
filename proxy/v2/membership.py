"""Unknown system ids answered locally: the tenant's systems list decides the v2 401.

A client polling an id its tenant does not have (a typo, a system moved to another account)
cost an upstream call per poll, and the refusal's cached reply was refreshed in the
background. After the upstream refuses an id once, the tenant's v4 systems list (the pages
the v2 ``/systems`` route reads, by increasing id, accepted up to ``LIST_EVERY`` old: one
page a day per 100 systems) decides: while it lacks the id, the v2 401 is answered with no
upstream call. Ids the upstream never refused never wait for the list, so a system added
since the list was fetched is answered as before; an id that appears in a later list is
looked up again.
"""

from __future__ import annotations

from typing import Any

from cachetools import LRUCache

from mappings.base import V2Request
from mappings.common import DAY, is_id
from mappings.errors import unauthorized
from mappings.systems import list_page, listed
from proxy.config import Tenant
from proxy.errors import ProxyError
from proxy.upstream import Upstream

LIST_EVERY = DAY
MAX_IDS = 4096  # refused ids a worker remembers; one forgotten costs one more lookup


async def in_list(upstream: Upstream, tenant: Tenant, system_id: int, rid: str) -> bool | None:
    """Whether the tenant's systems list holds ``system_id`` (None: it cannot be read now)."""
    pages: list[Any] = []
    found = None
    while found is None:
        call = list_page(len(pages) + 1, LIST_EVERY)
        try:
            reply = await upstream.get(tenant, call.path, call.params, rid, every=call.every)
        except ProxyError:  # refused by the quota or unavailable: the upstream decides
            return None
        if not 200 <= reply.status < 300:
            return None
        pages.append(reply.body)
        found = listed(system_id, pages)
    return found


class UnknownIds:
    """The (tenant, system id) pairs the upstream refused and the systems list lacks."""

    def __init__(self, max_ids: int = MAX_IDS) -> None:
        self.ids: LRUCache[tuple[str, int], bool] = LRUCache(max_ids)

    async def check(self, upstream: Upstream, tenant: Tenant, req: V2Request, rid: str) -> None:
        """Raise the v2 401 for an id refused before that the systems list still lacks."""
        key = _key(tenant, req)
        if key is None or key not in self.ids:
            return
        if await in_list(upstream, tenant, key[1], rid) is False:
            raise unauthorized()
        self.ids.pop(key, None)  # listed now (or the list unreadable): ask the upstream again

    async def learn(self, upstream: Upstream, tenant: Tenant, req: V2Request, rid: str) -> None:
        """Remember an id the upstream refused, if the systems list lacks it too."""
        key = _key(tenant, req)
        if key is not None and await in_list(upstream, tenant, key[1], rid) is False:
            self.ids[key] = True


def _key(tenant: Tenant, req: V2Request) -> tuple[str, int] | None:
    raw = req.path_params.get("system_id")
    return (tenant.name, int(raw)) if raw is not None and is_id(raw) else None
