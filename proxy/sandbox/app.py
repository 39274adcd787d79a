"""The sandbox Starlette app: OAuth, the v4 API and the test controls."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.routing import Route

from . import api, control, oauth
from .settings import SandboxSettings
from .state import SandboxState, new_state


def create_app(settings: SandboxSettings | None = None) -> Starlette:
    """A simulated Enphase API v4; its mutable state is at ``app.state.sandbox``."""
    app = Starlette(
        routes=[
            Route("/oauth/token", oauth.token, methods=["POST"]),
            Route("/oauth/authorize", oauth.authorize, methods=["GET"]),
            *control.routes(),
            *api.routes(),
        ]
    )
    app.state.sandbox = new_state(settings or SandboxSettings())
    return app


def sandbox_state(app: Starlette) -> SandboxState:
    """The mutable state of a sandbox app (faults, clock, counters, tokens)."""
    state: SandboxState = app.state.sandbox
    return state
