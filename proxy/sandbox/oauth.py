"""OAuth 2.0 for the sandbox: /oauth/authorize, /oauth/token and the token store."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from .settings import App, User

if TYPE_CHECKING:  # the state holds this module's token store
    from .state import SandboxState

CODE_TTL = 600
GRANT_TYPES = ("authorization_code", "password", "refresh_token")


class OAuthError(Exception):
    """An OAuth error answer: ``{"error", "error_description"}`` with a status."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description

    def response(self) -> JSONResponse:
        """The error as a JSON response."""
        body = {"error": self.error, "error_description": self.description}
        return JSONResponse(body, status_code=self.status)


@dataclass(frozen=True)
class Grant:
    """What a code or token stands for: an app acting for a user until ``expires_at``."""

    client_id: str
    username: str
    expires_at: float
    redirect_uri: str = ""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class IssuedTokens:
    """Authorization codes, access tokens and rotating refresh tokens, safe across threads."""

    access_ttl: int
    refresh_ttl: int
    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    codes: dict[str, Grant] = field(default_factory=dict)
    access: dict[str, Grant] = field(default_factory=dict)
    refresh: dict[str, Grant] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def issue_code(self, client_id: str, username: str, redirect_uri: str, now: float) -> str:
        """A single-use authorization code."""
        code = secrets.token_urlsafe(8)
        with self.lock:
            self.codes[code] = Grant(client_id, username, now + CODE_TTL, redirect_uri)
        return code

    def redeem_code(self, code: str, client_id: str, redirect_uri: str, now: float) -> str:
        """The username a code was issued for; the code is spent either way."""
        with self.lock:
            grant = self.codes.pop(code, None)
        if grant is None or grant.client_id != client_id or grant.expires_at <= now:
            raise OAuthError(400, "invalid_grant", f"Invalid authorization code: {code}")
        if grant.redirect_uri != redirect_uri:
            raise OAuthError(400, "invalid_grant", "Redirect URI mismatch.")
        return grant.username

    def rotate(self, refresh_token: str, client_id: str, now: float) -> str:
        """The username behind a refresh token, which stops working immediately."""
        with self.lock:
            grant = self.refresh.pop(refresh_token, None)
            if grant is not None and grant.client_id != client_id:
                self.refresh[refresh_token] = grant
                grant = None
        if grant is None or grant.expires_at <= now:
            raise OAuthError(400, "invalid_grant", f"Invalid refresh token: {refresh_token}")
        return grant.username

    def issue(self, app: App, user: User, grant_type: str, now: float) -> dict[str, Any]:
        """A new access and refresh token pair as the token endpoint's JSON body."""
        jti = secrets.token_hex(16)
        app_type = "partner" if grant_type == "password" else "system"
        claims = {
            "aud": ["oauth2-resource"],
            "app_type": app_type,
            "user_name": user.username,
            "enl_uid": str(user.user_id),
            "enl_cid": str(user.company_id or ""),
            "scope": ["read", "write"],
            "exp": int(now) + self.access_ttl,
            "jti": jti,
            "client_id": app.client_id,
        }
        access = self._jwt(claims)
        refresh = self._jwt({**claims, "ati": jti, "jti": secrets.token_hex(16)})
        with self.lock:
            self.access[access] = Grant(app.client_id, user.username, now + self.access_ttl)
            self.refresh[refresh] = Grant(app.client_id, user.username, now + self.refresh_ttl)
        return {
            "access_token": access,
            "token_type": "bearer",
            "refresh_token": refresh,
            "expires_in": self.access_ttl - 1,
            "scope": "read write",
            "enl_uid": str(user.user_id),
            "enl_cid": str(user.company_id or ""),
            "enl_password_last_changed": str(user.password_last_changed),
            "is_internal_app": False,
            "app_type": app_type,
            "jti": jti,
        }

    def access_grant(self, token: str) -> Grant | None:
        """The grant behind an access token (expired or not), or None when unknown."""
        with self.lock:
            return self.access.get(token)

    def _jwt(self, claims: dict[str, Any]) -> str:
        header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
        signature = hmac.new(self.secret, f"{header}.{payload}".encode(), hashlib.sha256)
        return f"{header}.{payload}.{_b64(signature.digest())}"


def _basic_auth(request: Request) -> tuple[str, str] | None:
    """(client_id, client_secret) from an HTTP Basic header."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        client_id, sep, secret = base64.b64decode(value).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (client_id, secret) if sep else None


async def _params(request: Request) -> dict[str, str]:
    """Query parameters overlaid with a form-encoded body."""
    params = dict(request.query_params)
    if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        params.update(parse_qsl((await request.body()).decode(), keep_blank_values=True))
    return params


def _client(request: Request, params: dict[str, str]) -> App:
    """The app authenticated by Basic auth (or client_id/client_secret parameters)."""
    state: SandboxState = request.app.state.sandbox
    client_id, secret = _basic_auth(request) or (
        params.get("client_id", ""),
        params.get("client_secret", ""),
    )
    app = state.app_by_client(client_id)
    if app is None or not hmac.compare_digest(app.client_secret, secret):
        raise OAuthError(401, "invalid_client", "Bad client credentials")
    return app


def _require(params: dict[str, str], *names: str) -> list[str]:
    """The named parameters, or invalid_request when one is missing."""
    missing = [n for n in names if not params.get(n)]
    if missing:
        raise OAuthError(400, "invalid_request", f"Missing parameter: {missing[0]}")
    return [params[n] for n in names]


def _user_for(request: Request, app: App, grant_type: str, params: dict[str, str]) -> User:
    """The user a token request is for, per grant type."""
    state: SandboxState = request.app.state.sandbox
    now = state.now()
    if grant_type == "authorization_code":
        code, redirect_uri = _require(params, "code", "redirect_uri")
        username = state.tokens.redeem_code(code, app.client_id, redirect_uri, now)
    elif grant_type == "password":
        username, password = _require(params, "username", "password")
        user = state.user(username)
        if user is None or not hmac.compare_digest(user.password, password):
            raise OAuthError(400, "invalid_grant", "Bad credentials")
    elif grant_type == "refresh_token":
        (token,) = _require(params, "refresh_token")
        username = state.tokens.rotate(token, app.client_id, now)
    else:
        raise OAuthError(400, "unsupported_grant_type", f"Unsupported grant type: {grant_type}")
    user = state.user(username)
    if user is None:  # a code or refresh token of a user no longer configured
        raise OAuthError(400, "invalid_grant", "Unknown user")
    return user


async def token(request: Request) -> Response:
    """POST /oauth/token: exchange a code, password or refresh token for a token pair."""
    state: SandboxState = request.app.state.sandbox
    params = await _params(request)
    grant_type = params.get("grant_type", "")
    try:
        app = _client(request, params)
        user = _user_for(request, app, grant_type, params)
        body = state.tokens.issue(app, user, grant_type, state.now())
    except OAuthError as error:
        state.stats.token_failures[grant_type or "missing"] += 1
        return error.response()
    state.stats.token_grants[grant_type] += 1
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


async def authorize(request: Request) -> Response:
    """GET /oauth/authorize: approve at once for the demo (or ``username``) user; redirect."""
    state: SandboxState = request.app.state.sandbox
    params = dict(request.query_params)
    app = state.app_by_client(params.get("client_id", ""))
    redirect_uri = params.get("redirect_uri", app.redirect_uris[0] if app else "")
    if app is None or redirect_uri not in app.redirect_uris:
        return OAuthError(400, "invalid_request", "Unknown client or redirect_uri").response()
    if params.get("response_type") != "code":
        return OAuthError(400, "unsupported_response_type", "response_type must be code").response()
    user = state.user(params.get("username") or state.settings.users[0].username)
    if user is None:
        return OAuthError(400, "access_denied", "Unknown user").response()
    code = state.tokens.issue_code(app.client_id, user.username, redirect_uri, state.now())
    query = {"code": code, **({"state": params["state"]} if "state" in params else {})}
    separator = "&" if "?" in redirect_uri else "?"
    return RedirectResponse(f"{redirect_uri}{separator}{urlencode(query)}", status_code=302)
