"""v4 applications: Enphase counts a plan's calls per app (client id and API key), not per user.

Tenants that share a client id share one minute and one month budget. The shared counts are
kept under the app's first tenant (in configuration order), so an app that had one tenant
keeps the count it already has in a persistent quota store when a second tenant joins it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from proxy.config import Limits, Tenant


@dataclass(frozen=True)
class AppBudget:
    """One v4 application: its client id, plan and limits, and the tenants spending from it."""

    client_id: str
    plan: str
    limits: Limits
    tenants: tuple[str, ...]

    @property
    def counter(self) -> str:
        """The name the app's minute and month counts are kept under in the quota store."""
        return self.tenants[0]


def alone(tenant: Tenant) -> AppBudget:
    """The app of a tenant that shares it with no other tenant."""
    return AppBudget(tenant.client_id, tenant.plan, tenant.limits, (tenant.name,))


def apps_by_tenant(tenants: Iterable[Tenant]) -> dict[str, AppBudget]:
    """Each tenant's app, by tenant name (the configuration checks that an app's tenants agree
    on its plan: the first tenant's is the app's)."""
    members: dict[str, list[Tenant]] = {}
    for tenant in tenants:
        members.setdefault(tenant.client_id, []).append(tenant)
    by_tenant = {}
    for client_id, group in members.items():
        first = group[0]
        app = AppBudget(client_id, first.plan, first.limits, tuple(t.name for t in group))
        by_tenant.update(dict.fromkeys(app.tenants, app))
    return by_tenant
