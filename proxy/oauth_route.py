"""``GET /oauth/callback``: where the homeowner's browser lands after approving a tenant."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import PlainTextResponse

from proxy.tokens import TokenBroker, TokenError


async def oauth_callback(request: Request) -> PlainTextResponse:
    """Completes a code login; ``state`` names the tenant.

    The broker is the app's ``state.services.broker``.
    """
    broker: TokenBroker = request.app.state.services.broker
    params = request.query_params
    tenants = list(broker.config.tenants)
    tenant = params.get("state") or (tenants[0] if len(tenants) == 1 else "")
    if tenant not in broker.config.tenants:
        return PlainTextResponse("Unknown tenant: 'state' must name a tenant.\n", 400)
    if "error" in params or not params.get("code"):
        error = params.get("error", "no code")
        return PlainTextResponse(f"Tenant {tenant} was not authorized ({error:.40}).\n", 400)
    try:
        await broker.authorize(tenant, params["code"])
    except TokenError as exc:
        return PlainTextResponse(f"Authorization failed: {exc}\n", 502)
    message = f"Tenant {tenant} is authorized; the proxy keeps its token fresh.\n"
    return PlainTextResponse(message + "You can close this page.\n")
