"""A simulated Enphase API v4 ("the sandbox"): OAuth, monitoring endpoints, limits, faults.

``create_app()`` builds the Starlette app; ``serve()`` runs it with uvicorn;
``serve_in_thread()`` runs it on a free loopback port for tests. Demo credentials are in
``DEMO``; the fixture systems are described in ``proxy.sandbox.systems``.
"""

from .app import create_app, sandbox_state
from .server import Running, serve, serve_in_thread
from .settings import DEMO, App, Demo, Faults, SandboxSettings, User
from .state import SandboxState

__all__ = [
    "DEMO",
    "App",
    "Demo",
    "Faults",
    "Running",
    "SandboxSettings",
    "SandboxState",
    "User",
    "create_app",
    "sandbox_state",
    "serve",
    "serve_in_thread",
]
