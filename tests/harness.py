"""Real servers for end-to-end tests: the sandbox and the proxy on loopback sockets."""

from __future__ import annotations

import asyncio
import resource
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import httpx2
import uvicorn

from proxy.config import Config, parse
from proxy.sandbox import DEMO, App, SandboxSettings, create_app
from proxy.sandbox.demo import config_text as config_text
from proxy.sandbox.demo import proxy_config as proxy_config
from proxy.tokens import TokenBroker
from proxy.tokenstore import TokenRecord, open_store
from tests.servers import free_port, running, wait_for_port

SCRAPE = {"Authorization": "Bearer test-scrape-key"}  # the scrape key config_text sets
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
        httpx2.post(url + "/_sandbox/clock", json={"offset": clock_offset}).raise_for_status()
        yield url


def limit_open_files(soft: int) -> None:
    """Set this process's soft limit of open files to ``soft`` (within the hard limit)."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(soft, hard), hard))


@contextmanager
def proxy(config: Config) -> Iterator[str]:
    """The proxy app in-process on a real socket; yields its base URL."""
    from proxy.app import create_app as create_proxy

    with uvicorn_thread(create_proxy(config)) as url:
        yield url


@contextmanager
def serve_process(
    config_path: Path, workers: int = 2, *args: str, open_files: int | None = None
) -> Iterator[str]:
    """``enphase-proxy serve`` (real gunicorn workers) as a child process, once it answers.

    Gunicorn listens before its workers have started their services, so the URL is yielded
    once /healthz answers. ``open_files`` lowers the child's soft limit of open files.
    """
    port = free_port()
    command = [sys.executable, "-m", "proxy.cli", "serve", "--config", str(config_path)]
    command += ["--port", str(port), "--workers", str(workers), *args]
    log_path = config_path.parent / f"serve-{port}.log"
    SERVE_LOGS.append(log_path)
    limit = None if open_files is None else partial(limit_open_files, open_files)
    with running(command, port, log_path, ROOT, limit):
        url = f"http://127.0.0.1:{port}"
        # Gunicorn listens before its workers have started their services.
        httpx2.get(url + "/healthz", timeout=30).raise_for_status()
        yield url


# Tokens: a sandbox in its own process, token configurations, stored records.

CLIENT = ("sandbox-client-id", "sandbox-client-secret")


@contextmanager
def sandbox_process(
    access_token_ttl: int = 86400, refresh_token_ttl: int = 7 * 86400
) -> Iterator[str]:
    """The sandbox serving in its own process on a free port; yields its base URL."""
    port = free_port()
    ttls = f"access_token_ttl={access_token_ttl}, refresh_token_ttl={refresh_token_ttl}"
    code = "from proxy.sandbox import SandboxSettings as S, serve; "
    code += f"serve('127.0.0.1', {port}, S({ttls}))"
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


def token_config(url: str, data_dir: Path, **kwargs: Any) -> Config:
    """A configuration with one sandbox tenant (see ``token_config_text``)."""
    return parse(token_config_text(url, data_dir, **kwargs))


def token_config_text(
    url: str,
    data_dir: Path,
    *,
    tenant: str = "demo",
    grant: str = "password",
    password: bool = True,
    redis_url: str | None = None,
    tokens: str = "",
) -> str:
    """The harness configuration for one sandbox tenant; ``tokens`` adds lines to [tokens]."""
    extra = f'[tokens]\nstore = "{"redis" if redis_url else "file"}"\n{tokens}\n'
    if redis_url:
        extra += f'[redis]\nurl = "{redis_url}"\n'
    secret = "demo-password" if password else None
    return config_text(url, data_dir, extra, name=tenant, grant=grant, password=secret)


def grants(url: str) -> dict[str, int]:
    """The sandbox's successful token grants by type."""
    return httpx2.get(f"{url}/_sandbox/stats").json()["token_grants"]


def fresh_tokens(url: str) -> dict:
    """A token set straight from the sandbox's password grant."""
    form = {"grant_type": "password", "username": "demo@example.com", "password": "demo-password"}
    return httpx2.post(f"{url}/oauth/token", data=form, auth=CLIENT).json()


def token_works(url: str, access_token: str) -> bool:
    """Whether the sandbox v4 API accepts the access token."""
    response = httpx2.get(
        f"{url}/api/v4/systems",
        params={"key": "sandbox-api-key"},
        headers={"Authorization": f"Bearer {access_token}"},
    )
    return response.status_code == 200


def stored(config: Config, tenant: str) -> TokenRecord | None:
    """The tenant's record, read through a store opened for this one call."""

    async def read() -> TokenRecord | None:
        store = open_store(config)
        try:
            return await store.load(tenant)
        finally:
            await store.close()

    return asyncio.run(read())


async def import_tokens(config: Config, tenant: str, tokens: dict, expires_at: int) -> None:
    """Store ``tokens`` (a token response) for ``tenant`` as an import would."""
    broker = TokenBroker(config, detached=False)
    await broker.import_tokens(tenant, tokens["access_token"], tokens["refresh_token"], expires_at)
    await broker.close()
