"""A sandbox and a proxy in one process on one clock, for benchmarks and simulated months.

Every HTTP call (legacy requests, upstream calls, token grants) goes through
``httpx.ASGITransport``; with a ``VirtualClock`` a month runs in minutes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
import httpx2
from starlette.applications import Starlette

from proxy.app import Services, create_app, opened_services
from proxy.cache import ReplyCache
from proxy.clock import SYSTEM, Clock
from proxy.config import Config
from proxy.pacer import Pacer
from proxy.quota import QuotaGovernor
from proxy.sandbox import SandboxSettings
from proxy.sandbox import create_app as create_sandbox
from proxy.tokens import TokenBroker
from proxy.upstream import HttpxSender, Sender, Upstream

SANDBOX_URL = "http://sandbox"  # the in-process sandbox's base URL (any host reaches it)

UpstreamFactory = Callable[
    [Config, Sender, TokenBroker, ReplyCache, QuotaGovernor, Pacer], Upstream
]


@dataclass(frozen=True)
class InProcess:
    """A sandbox and a proxy in this process: the proxy's services and a client calling it."""

    sandbox: Starlette
    services: Services
    proxy: httpx.AsyncClient


@asynccontextmanager
async def in_process(
    config: Config,
    sandbox: SandboxSettings,
    upstream: UpstreamFactory = Upstream,
    clock: Clock = SYSTEM,
) -> AsyncIterator[InProcess]:
    """The proxy for ``config`` (upstream at SANDBOX_URL) on an in-process sandbox at ``clock``.

    The services are opened as the proxy's lifespan opens them, and tokens are renewed
    in-process.
    """
    sandbox_app = create_sandbox(sandbox)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(sandbox_app)) as http:
        sender = HttpxSender(http, config.upstream.api_root)
        broker = TokenBroker(config, httpx2.ASGITransport(sandbox_app), clock=clock)
        async with opened_services(config, sender, broker, upstream, clock=clock) as services:
            app = create_app(config)
            app.state.services = services
            transport = httpx.ASGITransport(app)
            async with httpx.AsyncClient(transport=transport, base_url="http://proxy") as proxy:
                yield InProcess(sandbox_app, services, proxy)
