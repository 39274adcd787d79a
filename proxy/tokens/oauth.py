"""The v4 token endpoint for one tenant's app: authlib's OAuth 2 client on httpx2."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx2
from authlib.integrations.httpx_client import AsyncOAuth2Client, OAuthError

from proxy.clock import Clock
from proxy.config import Tenant
from proxy.tokens.store import TokenRecord

__all__ = ["TRANSIENT", "Credentials", "OAuthError", "TokenEndpoint"]

# Failures worth retrying later: the network, or an answer that is not a token set.
TRANSIENT = (httpx2.HTTPError, ValueError, KeyError)


@dataclass(frozen=True)
class Credentials:
    """What one tenant presents to the token endpoint."""

    tenant: str
    client_id: str
    client_secret: str = field(repr=False)
    grant: str = "authorization_code"
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    @classmethod
    def of(cls, tenant: Tenant) -> Credentials:
        """The credentials of a configured tenant."""
        return cls(
            tenant.name,
            tenant.client_id,
            tenant.client_secret,
            tenant.grant,
            tenant.username,
            tenant.password,
        )

    @property
    def can_password(self) -> bool:
        """Whether tokens can be had with no one authorizing (password grant, password known)."""
        return self.grant == "password" and bool(self.username and self.password)


class TokenEndpoint:
    """Grants for one tenant's app; raises authlib's OAuthError or one of TRANSIENT."""

    def __init__(
        self,
        credentials: Credentials,
        url: str,
        timeout: float,
        clock: Clock,
        transport: httpx2.AsyncBaseTransport | None = None,
    ) -> None:
        self.credentials = credentials
        self.url = url
        self.clock = clock
        self._client = AsyncOAuth2Client(
            client_id=credentials.client_id,
            client_secret=credentials.client_secret,
            token_endpoint_auth_method="client_secret_basic",
            timeout=timeout,
            transport=transport,
        )

    async def grant(self, grant_type: str, **params: Any) -> TokenRecord:
        """A new token set from the ``grant_type`` grant."""
        started = int(self.clock.now())
        if grant_type == "refresh_token":
            token = await self._client.refresh_token(self.url, **params)
        else:
            token = await self._client.fetch_token(self.url, grant_type=grant_type, **params)
        expires_in = token.get("expires_in")
        return TokenRecord(
            access_token=token["access_token"],
            refresh_token=token.get("refresh_token"),
            expires_at=started + int(expires_in) if expires_in is not None else None,
            obtained_at=started,
        )

    async def password_grant(self) -> TokenRecord:
        """A new token set from the configured username and password."""
        credentials = self.credentials
        return await self.grant(
            "password", username=credentials.username, password=credentials.password
        )

    async def aclose(self) -> None:
        """Release connections."""
        await self._client.aclose()
