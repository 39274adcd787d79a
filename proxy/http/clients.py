"""Who is calling: legacy v2 key + user_id, or a team client's proxy-issued key, to a tenant."""

from __future__ import annotations

from collections.abc import Iterable

from proxy.config import Client, Config, Tenant


def find_client(clients: Iterable[Client], key: str) -> Client | None:
    """The client whose key is ``key``; every client is compared, in constant time each."""
    found = None
    for client in clients:
        if client.key_matches(key) and found is None:
            found = client
    return found


def legacy_caller(
    config: Config, key: str | None, user_id: str | None
) -> tuple[Client, Tenant] | None:
    """The legacy client of a v2 ``key`` and the tenant its ``user_id`` may use, if authorized."""
    if not key or not user_id:
        return None
    client = find_client(config.legacy_clients, key)
    tenant = config.tenant_for_user(user_id)
    if client is None or tenant is None or tenant.name not in client.tenants:
        return None
    return client, tenant


def legacy_tenant(config: Config, key: str | None, user_id: str | None) -> Tenant | None:
    """The tenant a v2 ``key`` + ``user_id`` pair may use, or None when not authorized."""
    caller = legacy_caller(config, key, user_id)
    return caller[1] if caller else None


def team_client(config: Config, key: str | None) -> Client | None:
    """The team client holding the proxy-issued ``key``."""
    return find_client(config.team_clients, key) if key else None
