"""gzip for the requests that ask for it, and nothing in the way of those that do not."""

from __future__ import annotations

from starlette.middleware.gzip import GZipMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send


def asks_for_gzip(scope: Scope) -> bool:
    """Whether the request's ``Accept-Encoding`` names gzip."""
    for key, value in scope["headers"]:  # a loop, not any() of a generator: asked per request
        if key == b"accept-encoding" and b"gzip" in value.lower():
            return True
    return False


class GzipWhenAsked:
    """Starlette's ``GZipMiddleware`` (which leaves ``text/event-stream`` alone) for requests
    that accept gzip; the others go straight to the app.

    Starlette's identity path, taken by every request without gzip (a legacy poller's), parses
    the answer's headers and adds ``Vary`` on each: about a tenth of a cache hit's CPU. An
    uncompressed answer without ``Vary`` is still right for every client.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.gzip = GZipMiddleware(app)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and asks_for_gzip(scope):
            await self.gzip(scope, receive, send)
        else:
            await self.app(scope, receive, send)
