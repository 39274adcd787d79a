"""Why no access token can be handed out, and what a human runs to fix it."""

from __future__ import annotations

from proxy.config import Tenant


class TokenError(Exception):
    """No usable access token for ``tenant``; the message never contains a secret."""

    def __init__(self, tenant: str, message: str) -> None:
        super().__init__(message)
        self.tenant = tenant


class NeedsReauthorization(TokenError):
    """A human must authorize the tenant again; ``hint`` says what to run."""

    def __init__(self, tenant: str, reason: str, hint: str) -> None:
        super().__init__(tenant, f"tenant {tenant!r} needs re-authorization ({reason}); {hint}")
        self.reason = reason
        self.hint = hint


class TokenUnavailable(TokenError):
    """The token could not be renewed right now (upstream or lock trouble); retry later."""


def hint(tenant: Tenant) -> str:
    """The command that re-authorizes ``tenant``."""
    command = "password" if tenant.grant == "password" else "login"
    return f"run: enphase-proxy auth {command} --tenant {tenant.name}"
