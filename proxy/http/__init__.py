"""Inbound surfaces, the top of the house: what a client's request meets first.

ASGI middleware (request context, limits, access log), the v2 routes and their dispatcher, the
v4 broker route, the admin purge, the OAuth callback, and the renderers that shape every
``proxy.errors`` error for its surface (v2 bodies on legacy routes, v4 on ``/api/v4``).
Depends on ``v2``, ``upstream``, ``tokens``, ``quota``, ``observability``; nothing below imports it.
"""
