"""The console's routes: login form, session cookie, the page, its JSON state and assets.

Sessions live in the console's history store (proxy.console.sessions), so signing out ends a
session for every worker; failed logins are counted there and refused past a limit. Every
console answer, static files included, carries the security headers; every POST must come
from the console's own origin.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from proxy.clock import Clock
from proxy.config import Config
from proxy.console import sessions
from proxy.console.history import History
from proxy.console.recorder import Recorder
from proxy.console.sessions import SESSION_SECONDS, session_token, session_valid
from proxy.console.state import state
from proxy.errors import NotAuthorized, NotFound
from proxy.http import bearer, client_address, is_admin_key, is_https, request_host
from proxy.quota import describe

__all__ = ["routes", "session_token", "session_valid"]

COOKIE = "console_session"
STATIC = Path(__file__).resolve().parent / "static"
HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self';"
        " connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    # not no-referrer: browsers then send "Origin: null" with the console's own form posts
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}
LOGIN_PAGE = (STATIC / "login.html").read_text()
CONSOLE_PAGE = (STATIC / "console.html").read_text()

log = logging.getLogger("proxy.console")


class WithHeaders:
    """An ASGI app whose every answer carries the console's security headers."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.headers = [(k.lower().encode(), v.encode()) for k, v in HEADERS.items()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {name for name, _ in self.headers}
                kept = [(k, v) for k, v in message.get("headers", []) if k.lower() not in names]
                message = {**message, "headers": kept + self.headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _html(text: str, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(text, status, {**HEADERS, **(headers or {})}, "text/html; charset=utf-8")


def _refused_cross_origin() -> Response:
    return _html("Cross-origin request refused.", 403)


class Console:
    """The console's endpoints, on the proxy's ``config`` and ``clock``, reading the worker's
    ``recorder`` (its history, broker and pacer) per request."""

    def __init__(self, config: Config, clock: Clock, recorder: Callable[[], Recorder]) -> None:
        self.server = config.server
        self.config = config
        self.clock = clock
        self.recorder = recorder

    def _history(self) -> History:
        return self.recorder().history

    async def signed_in(self, request: Request) -> bool:
        """Whether the request carries a live session cookie or the admin key as a bearer."""
        admin_key = self.server.admin_key
        if is_admin_key(admin_key, bearer(request)):
            return True
        cookie = request.cookies.get(COOKIE, "")
        now = self.clock.now()
        return bool(cookie) and await sessions.live(self._history(), admin_key, cookie, now)

    def same_origin(self, request: Request) -> bool:
        """Whether a POST comes from the console's own pages (no ``Origin``: not a browser's)."""
        origin = request.headers.get("origin")
        if origin is None:
            return True
        return urlsplit(origin).netloc.lower() == request_host(request, self.server.trusted_proxies)

    async def page(self, request: Request) -> Response:
        """The console when signed in, else the login form."""
        return _html(CONSOLE_PAGE if await self.signed_in(request) else LOGIN_PAGE)

    async def login(self, request: Request) -> Response:
        """Check the admin key from the form; on success set the session cookie.

        Past too many failed logins (from the client's address, or from anywhere) in a minute,
        every login is refused until the minute ends.
        """
        if not self.same_origin(request):
            return _refused_cross_origin()
        server, history, now = self.server, self._history(), self.clock.now()
        address = client_address(request, server.trusted_proxies)
        wait = await sessions.refused(history, address, now)
        if wait is not None:
            log.warning("console login from %s refused: too many failures", address)
            retry = {"Retry-After": str(wait)}
            return _html("Too many failed logins; try again later.", 429, retry)
        form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
        if not is_admin_key(server.admin_key, form.get("key", "")):
            await sessions.failed(history, address, now)
            log.warning("console login from %s failed (wrong key)", address)
            refused = LOGIN_PAGE.replace('<p class="error" hidden>', '<p class="error">')
            return _html(refused, 401)
        assert server.admin_key is not None
        response = RedirectResponse("/console", 303, HEADERS)
        response.set_cookie(
            COOKIE,
            await sessions.start(history, server.admin_key, now),
            max_age=SESSION_SECONDS,
            path="/console",
            secure=is_https(request, server.trusted_proxies),
            httponly=True,
            samesite="strict",
        )
        return response

    async def logout(self, request: Request) -> Response:
        """End the session (for every worker) and forget its cookie."""
        if not self.same_origin(request):
            return _refused_cross_origin()
        cookie = request.cookies.get(COOKIE)
        if cookie:
            await sessions.end(self._history(), cookie)
        response = RedirectResponse("/console", 303, HEADERS)
        response.delete_cookie(COOKIE, path="/console", httponly=True, samesite="strict")
        return response

    async def api_state(self, request: Request) -> Response:
        """The console state as JSON; 401 without a session or the admin key."""
        if not await self.signed_in(request):
            raise NotAuthorized("Sign in with the admin key.")
        recorder = self.recorder()
        await recorder.record()  # this worker's latest counts, so a reload shows them
        body = await state(
            self.config, recorder.broker, recorder.pacer, recorder.history, self.clock.now()
        )
        return JSONResponse(body, headers=HEADERS)

    async def clear_block(self, request: Request) -> Response:
        """Forget the upstream 429 blocks of the form's ``tenant``'s v4 app; 401 unless signed
        in, 403 from another origin."""
        if not self.same_origin(request):
            return _refused_cross_origin()
        if not await self.signed_in(request):
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


def routes(config: Config, clock: Clock, recorder: Callable[[], Recorder]) -> list[BaseRoute]:
    """The console's routes under /console, on ``clock``, reading the worker's ``recorder``."""
    console = Console(config, clock, recorder)
    return [
        Route("/console", console.page),
        Route("/console/login", console.login, methods=["POST"]),
        Route("/console/logout", console.logout, methods=["POST"]),
        Route("/console/api/state", console.api_state),
        Route("/console/api/clear-block", console.clear_block, methods=["POST"]),
        Mount(
            "/console/static",
            WithHeaders(StaticFiles(directory=STATIC)),
            name="console-static",
        ),
    ]
