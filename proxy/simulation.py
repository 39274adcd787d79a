"""A sandbox and a proxy in one process on one clock, for benchmarks and simulated months.

Every HTTP call (legacy requests, upstream calls, token grants) goes through an ASGI
transport; with a ``VirtualClock`` a month runs in minutes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, nullcontext
from dataclasses import dataclass

import httpx2
from starlette.applications import Starlette

from proxy.app import Services, create_app, opened_services
from proxy.clock import SYSTEM, Clock
from proxy.config import Config
from proxy.sandbox import SandboxSettings
from proxy.sandbox import create_app as create_sandbox
from proxy.tokens import TokenBroker
from proxy.upstream import UNTAPPED, Taps

SANDBOX_URL = "http://sandbox"  # the in-process sandbox's base URL (any host reaches it)


@dataclass(frozen=True)
class InProcess:
    """A sandbox and a proxy in this process: the proxy's services and a client calling it."""

    sandbox: Starlette
    services: Services
    proxy: httpx2.AsyncClient


@asynccontextmanager
async def in_process(
    config: Config,
    sandbox: SandboxSettings | Starlette,
    clock: Clock = SYSTEM,
    taps: Taps = UNTAPPED,
) -> AsyncIterator[InProcess]:
    """The proxy for ``config`` (upstream at SANDBOX_URL) on an in-process sandbox at ``clock``:
    a new one for its settings, or a sandbox app that outlives this proxy (a restart).

    The services are opened as a worker opens them, without its background tasks, and handed
    to one app on the same clock; tokens are renewed in-process. ``taps`` watch the upstream
    calls.
    """
    sandbox_app = sandbox if isinstance(sandbox, Starlette) else create_sandbox(sandbox)
    http = httpx2.AsyncClient(transport=httpx2.ASGITransport(sandbox_app))
    broker = TokenBroker(config, httpx2.ASGITransport(sandbox_app), clock=clock)
    async with opened_services(config, http, broker, clock=clock, taps=taps) as services:
        app = create_app(config, clock, lambda: nullcontext(services))
        transport = httpx2.ASGITransport(app)
        async with app.router.lifespan_context(app):
            async with httpx2.AsyncClient(transport=transport, base_url="http://proxy") as proxy:
                yield InProcess(sandbox_app, services, proxy)
