"""``GET /oauth/callback``: where the homeowner's browser lands after approving a tenant."""

from __future__ import annotations

from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from proxy.tokens import PendingLogins, TokenBroker, TokenError


async def oauth_callback(request: Request, broker: TokenBroker) -> PlainTextResponse:
    """Completes the code login of a pending ``auth login``, whose ``state`` it claims (once).

    A callback without such a state changes nothing.
    """
    params = request.query_params
    tenant = await PendingLogins(broker.config, broker.clock).claim(params.get("state", ""))
    if tenant is None or tenant not in broker.config.tenants:
        message = "Unknown or expired login: start again with `enphase-proxy auth login`.\n"
        return PlainTextResponse(message, 400)
    if "error" in params or not params.get("code"):
        error = params.get("error", "no code")
        return PlainTextResponse(f"Tenant {tenant} was not authorized ({error:.40}).\n", 400)
    try:
        await broker.authorize(tenant, params["code"])
    except TokenError as exc:
        return PlainTextResponse(f"Authorization failed: {exc}\n", 502)
    message = f"Tenant {tenant} is authorized; the proxy keeps its token fresh.\n"
    return PlainTextResponse(message + "You can close this page.\n")


def route(broker: Callable[[], TokenBroker]) -> Route:
    """The OAuth callback route, completing logins with the worker's ``broker``."""

    async def endpoint(request: Request) -> PlainTextResponse:
        return await oauth_callback(request, broker())

    return Route("/oauth/callback", endpoint)
