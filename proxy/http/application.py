"""The proxy's Starlette application, its own middleware outermost."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.types import ASGIApp


class ProxyApp(Starlette):
    """Starlette without its last-resort ``ServerErrorMiddleware``: the proxy's outermost
    middleware (``RequestContext``) answers every error in its surface's shape, so that layer
    never answered, yet cost a call per request and per message sent (a cache hit sends two).
    The routes' exception handlers apply as in Starlette, inside the middleware."""

    def build_middleware_stack(self) -> ASGIApp:
        """The middleware given, outermost first, around the handlers and the router."""
        if {500, Exception} & set(self.exception_handlers):
            raise ValueError("a 500 handler would go unused: RequestContext answers errors")
        app: ASGIApp = ExceptionMiddleware(
            self.router, handlers=self.exception_handlers, debug=self.debug
        )
        for cls, args, kwargs in reversed(self.user_middleware):
            app = cls(app, *args, **kwargs)
        return app
