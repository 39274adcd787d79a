"""The operator console: a read-only web page and its JSON state, behind the admin key."""

from proxy.console.routes import routes

__all__ = ["routes"]
