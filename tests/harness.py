"""Real servers for end-to-end tests: the sandbox and the proxy on loopback sockets."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from proxy.config import Config, parse
from proxy.sandbox import DEMO, App, SandboxSettings, create_app
from tests.servers import free_port, running, wait_for_port

ROOT = Path(__file__).resolve().parent.parent
SERVE_LOGS: list[Path] = []  # everything `enphase-proxy serve` printed during the session


@contextmanager
def uvicorn_thread(app: Any) -> Iterator[str]:
    """``app`` served by uvicorn in a thread on a free loopback port; yields its base URL."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for_port(port)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(15)


#: Tenant limits (proxy side) no test reaches.
UNMETERED = {"per_minute": 10**6, "per_month": 10**9}


@contextmanager
def sandbox(settings: SandboxSettings | None = None) -> Iterator[tuple[str, Any]]:
    """The sandbox on a real socket; yields (base URL, its Starlette app)."""
    app = create_app(settings)
    with uvicorn_thread(app) as url:
        yield url, app


@contextmanager
def unmetered_sandbox(clock_offset: float = 0.0) -> Iterator[str]:
    """The sandbox with a demo app whose plan limits no test reaches; yields its URL."""
    app = App(DEMO.client_id, DEMO.client_secret, DEMO.api_key, "Kilowatt", 10**6, 10**9)
    with sandbox(SandboxSettings(apps=[app])) as (url, _):
        httpx.post(url + "/_sandbox/clock", json={"offset": clock_offset}).raise_for_status()
        yield url


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


@contextmanager
def proxy(config: Config) -> Iterator[str]:
    """The proxy app in-process on a real socket; yields its base URL."""
    from proxy.app import create_app as create_proxy

    with uvicorn_thread(create_proxy(config)) as url:
        yield url


@contextmanager
def serve_process(config_path: Path, workers: int = 2, *args: str) -> Iterator[str]:
    """``enphase-proxy serve`` (real gunicorn workers) as a child process; yields its URL."""
    port = free_port()
    command = [sys.executable, "-m", "proxy.cli", "serve", "--config", str(config_path)]
    command += ["--port", str(port), "--workers", str(workers), *args]
    log_path = config_path.parent / f"serve-{port}.log"
    SERVE_LOGS.append(log_path)
    with running(command, port, log_path, ROOT):
        yield f"http://127.0.0.1:{port}"
