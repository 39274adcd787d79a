"""Serving the app: the supervisor, gunicorn settings, the bounded worker, the ASGI entry.

At the top of the house with ``cli``. ``server`` starts gunicorn (and the sandbox when
configured); gunicorn loads ``gunicorn_conf`` and ``asgi:app`` in each ``worker``.

Public API: ``serve`` (run the proxy), ``running`` and ``free_port`` (a proxy on a free port,
for benches and tests), ``config_from_env`` (a worker's configuration).
"""

from proxy.serving.server import config_from_env, free_port, running, serve

__all__ = ["config_from_env", "free_port", "running", "serve"]
