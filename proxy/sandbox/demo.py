"""Proxy configurations for the sandbox's demo accounts, as the tests and the benches run them."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import tomlkit

from proxy.config import Config, parse
from proxy.sandbox.settings import DEMO

#: A tenant's fields on the sandbox's Watt app: its plan's limits (10 a minute, 1,000 a month).
WATT_APP: dict[str, Any] = {
    "api_key": DEMO.watt_api_key,
    "client_id": DEMO.watt_client_id,
    "client_secret": DEMO.watt_client_secret,
    "plan": "watt",
    "per_minute": None,
    "per_month": None,
}


def config_text(
    sandbox_url: str, data_dir: Path, extra: str = "", server: str = "", **tenant: Any
) -> str:
    """A proxy configuration (TOML) for the demo tenant on the sandbox at ``sandbox_url``.

    ``extra`` lands right after ``[quota] backend``: it may add [quota] keys, then open tables.
    ``tenant`` overrides the tenant's fields; a field set to None is left out.
    """
    fields = {
        "name": "demo",
        "user_ids": ["demo-user"],
        "api_key": "sandbox-api-key",
        "client_id": "sandbox-client-id",
        "client_secret": "sandbox-client-secret",
        "plan": "kilowatt",
        "per_minute": 1000,
        "per_month": 1000000,
        "grant": "password",
        "username": "demo@example.com",
        "password": "demo-password",
        **tenant,
    }
    accounts = {"tenants": [fields["name"]]}
    head = {
        "server": {
            "data_dir": str(data_dir),
            "admin_key": "test-admin-key",
            "scrape_key": "test-scrape-key",
        }
    }
    middle = {
        "upstream": {
            "api_root": f"{sandbox_url}/api/v4",
            "token_url": f"{sandbox_url}/oauth/token",
            "authorize_url": f"{sandbox_url}/oauth/authorize",
            "timeout": 5.0,
        },
        "quota": {"backend": "memory"},
    }
    tail = {
        "tenants": [{k: v for k, v in fields.items() if v is not None}],
        "legacy_clients": [{"name": "legacy", "key": "demo-v2-key", **accounts}],
        "team_clients": [{"name": "team", "key": "demo-team-key", **accounts}],
    }
    dump = tomlkit.dumps
    return f"{dump(head)}{server}\n\n{dump(middle)}{extra}\n\n{dump(tail)}"


def proxy_config(sandbox_url: str, data_dir: Path, extra: str = "", **tenant: Any) -> Config:
    """A parsed proxy Config for the sandbox at ``sandbox_url``."""
    return parse(config_text(sandbox_url, data_dir, extra, **tenant), str(data_dir / "proxy.toml"))


def with_fleet_tenant(text: str, name: str = "fleet") -> str:
    """``text`` with a second tenant, the sandbox's fleet user, on the first tenant's v4 app.

    Its v2 ``user_id`` is ``fleet-user``; every client may use it.
    """
    data = tomllib.loads(text)
    first = data["tenants"][0]
    user = {"username": DEMO.fleet_username, "password": DEMO.fleet_password}
    data["tenants"].append({**first, "name": name, "user_ids": ["fleet-user"], **user})
    for client in data["legacy_clients"] + data["team_clients"]:
        client["tenants"].append(name)
    return tomlkit.dumps(data)
