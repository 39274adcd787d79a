"""Proxy configurations for the sandbox's demo accounts, as the tests and the benches run them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from proxy.config import Config, parse


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
    lines = "\n".join(f"{k} = {_toml(v)}" for k, v in fields.items() if v is not None)
    name = _toml([fields["name"]])
    return f"""
[server]
data_dir = {_toml(str(data_dir))}
admin_key = "test-admin-key"
scrape_key = "test-scrape-key"
{server}

[upstream]
api_root = "{sandbox_url}/api/v4"
token_url = "{sandbox_url}/oauth/token"
authorize_url = "{sandbox_url}/oauth/authorize"
timeout = 5.0

[quota]
backend = "memory"

{extra}

[[tenants]]
{lines}

[[legacy_clients]]
name = "legacy"
key = "demo-v2-key"
tenants = {name}

[[team_clients]]
name = "team"
key = "demo-team-key"
tenants = {name}
"""


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return str(value)


def proxy_config(sandbox_url: str, data_dir: Path, extra: str = "", **tenant: Any) -> Config:
    """A parsed proxy Config for the sandbox at ``sandbox_url``."""
    return parse(config_text(sandbox_url, data_dir, extra, **tenant), str(data_dir / "proxy.toml"))
