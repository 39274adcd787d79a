"""The admin key check shared by every admin surface (cache purge, console)."""

from __future__ import annotations

import hmac

from starlette.requests import Request


def bearer(request: Request) -> str:
    """The credential of an ``Authorization: Bearer <credential>`` header, else ''."""
    scheme, _, credential = request.headers.get("authorization", "").partition(" ")
    return credential.strip() if scheme.lower() == "bearer" else ""


def is_admin_key(admin_key: str | None, presented: str) -> bool:
    """Whether ``presented`` is the configured admin key (never true when none is configured)."""
    if not admin_key or not presented:
        return False
    return hmac.compare_digest(presented.encode(), admin_key.encode())
