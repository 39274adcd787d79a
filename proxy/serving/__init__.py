"""Serving the app: the supervisor, gunicorn settings, the bounded worker, the ASGI entry.

``server`` starts gunicorn (and the sandbox when configured); gunicorn loads
``gunicorn_conf`` and ``asgi:app`` in each ``worker``.
"""
