"""The admin key check shared by every admin surface (cache purge, console)."""

from __future__ import annotations

import hmac

from starlette.requests import Request

from proxy.config import key_digest


def bearer(request: Request) -> str:
    """The credential of an ``Authorization: Bearer <credential>`` header, else ''."""
    scheme, _, credential = request.headers.get("authorization", "").partition(" ")
    return credential.strip() if scheme.lower() == "bearer" else ""


def key_matches(expected: str | None, presented: str) -> bool:
    """Whether ``presented`` is the configured key (never true when none is configured).

    The sha256 digests are compared, in constant time, so not even the key's length shows.
    """
    if not expected or not presented:
        return False
    return hmac.compare_digest(key_digest(presented), key_digest(expected))


def is_admin_key(admin_key: str | None, presented: str) -> bool:
    """Whether ``presented`` is the configured admin key (never true when none is configured)."""
    return key_matches(admin_key, presented)
