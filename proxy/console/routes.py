"""The console's routes: login form, session cookie, the page, its JSON state and assets.

The session cookie holds an expiry and its HMAC under the admin key, so every worker and
replica accepts it without shared state, and changing the admin key ends every session.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from proxy.clock import Clock
from proxy.config import Config
from proxy.console.recorder import Recorder
from proxy.console.state import state
from proxy.errors import NotAuthorized, NotFound
from proxy.http import bearer, is_admin_key
from proxy.quota import describe

COOKIE = "console_session"
SESSION_SECONDS = 8 * 3600
STATIC = Path(__file__).resolve().parent / "static"
HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self';"
        " connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}
LOGIN_PAGE = (STATIC / "login.html").read_text()
CONSOLE_PAGE = (STATIC / "console.html").read_text()


def session_token(admin_key: str, expires: int) -> str:
    """A session cookie value valid until ``expires``."""
    mac = hmac.new(admin_key.encode(), f"console:{expires}".encode(), hashlib.sha256)
    return f"{expires}.{mac.hexdigest()}"


def session_valid(admin_key: str | None, token: str, now: float) -> bool:
    """Whether ``token`` is an unexpired session made with ``admin_key``."""
    expires, _, _ = token.partition(".")
    if not admin_key or not expires.isdigit() or int(expires) <= now:
        return False
    return hmac.compare_digest(token.encode(), session_token(admin_key, int(expires)).encode())


def _html(text: str, status: int = 200) -> Response:
    return Response(text, status, HEADERS, "text/html; charset=utf-8")


class Console:
    """The console's endpoints, on the proxy's ``config`` and ``clock``, reading the worker's
    ``recorder`` (its history, broker and pacer) per request."""

    def __init__(self, config: Config, clock: Clock, recorder: Callable[[], Recorder]) -> None:
        self.admin_key = config.server.admin_key
        self.config = config
        self.clock = clock
        self.recorder = recorder

    def signed_in(self, request: Request) -> bool:
        """Whether the request carries a valid session cookie or the admin key as a bearer."""
        cookie = request.cookies.get(COOKIE, "")
        return session_valid(self.admin_key, cookie, self.clock.now()) or is_admin_key(
            self.admin_key, bearer(request)
        )

    async def page(self, request: Request) -> Response:
        """The console when signed in, else the login form."""
        return _html(CONSOLE_PAGE if self.signed_in(request) else LOGIN_PAGE)

    async def login(self, request: Request) -> Response:
        """Check the admin key from the form; on success set the session cookie."""
        admin_key = self.admin_key
        form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
        if not is_admin_key(admin_key, form.get("key", "")):
            refused = LOGIN_PAGE.replace('<p class="error" hidden>', '<p class="error">')
            return _html(refused, 401)
        assert admin_key is not None
        expires = int(self.clock.now()) + SESSION_SECONDS
        response = RedirectResponse("/console", 303, HEADERS)
        response.set_cookie(
            COOKIE,
            session_token(admin_key, expires),
            max_age=SESSION_SECONDS,
            path="/console",
            secure=request.url.scheme == "https",
            httponly=True,
            samesite="strict",
        )
        return response

    async def api_state(self, request: Request) -> Response:
        """The console state as JSON; 401 without a session or the admin key."""
        if not self.signed_in(request):
            raise NotAuthorized("Sign in with the admin key.")
        recorder = self.recorder()
        await recorder.record()  # this worker's latest counts, so a reload shows them
        body = await state(
            self.config, recorder.broker, recorder.pacer, recorder.history, self.clock.now()
        )
        return JSONResponse(body, headers=HEADERS)

    async def clear_block(self, request: Request) -> Response:
        """Forget the upstream 429 blocks of the form's ``tenant``'s v4 app; 401 unless signed in.

        The session cookie is SameSite=strict: another site cannot post here with it.
        """
        if not self.signed_in(request):
            raise NotAuthorized("Sign in with the admin key.")
        form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
        tenant = self.config.tenants.get(form.get("tenant", ""))
        if tenant is None:
            raise NotFound("No such tenant.")
        governor = self.recorder().pacer.governor
        blocks = await governor.blocks(tenant)
        await governor.clear_blocks(tenant)
        return JSONResponse(
            {"tenant": tenant.name, "cleared": [describe(b) for b in blocks]}, headers=HEADERS
        )


async def logout(request: Request) -> Response:
    """Forget the session cookie."""
    response = RedirectResponse("/console", 303, HEADERS)
    response.delete_cookie(COOKIE, path="/console", httponly=True, samesite="strict")
    return response


def routes(config: Config, clock: Clock, recorder: Callable[[], Recorder]) -> list[BaseRoute]:
    """The console's routes under /console, on ``clock``, reading the worker's ``recorder``."""
    console = Console(config, clock, recorder)
    return [
        Route("/console", console.page),
        Route("/console/login", console.login, methods=["POST"]),
        Route("/console/logout", logout, methods=["POST"]),
        Route("/console/api/state", console.api_state),
        Route("/console/api/clear-block", console.clear_block, methods=["POST"]),
        Mount("/console/static", StaticFiles(directory=STATIC), name="console-static"),
    ]
