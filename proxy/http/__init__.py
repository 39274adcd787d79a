"""Inbound surfaces, the top of the house: what a client's request meets first.

ASGI middleware (request context, limits, access log), the v2 routes and their dispatcher, the
v4 broker route, the admin key check, the OAuth callback, and the renderers that shape every
``proxy.errors`` error for its surface (v2 bodies on legacy routes, v4 on ``/api/v4``).
Depends on ``v2``, ``upstream``, ``tokens``, ``quota``, ``observability``; nothing below imports it.

Public API: ``ProxyApp`` (the Starlette application, its middleware outermost),
``RequestContext``, ``GzipWhenAsked`` and ``LegacyDispatch`` (middleware), ``LegacyTable``
(the v2 routes by their last segment, whose GETs ``RequestContext`` answers directly),
``legacy_routes``, ``broker_route`` and ``callback_route`` (routes), ``bearer`` / ``key_matches`` /
``is_admin_key`` (operator keys), ``client_address`` / ``is_https`` / ``request_host`` (what
the request says of its client, believing only ``trusted_proxies``), ``HANDLERS`` (the
exception handlers) and ``render`` (any error as the answer of its surface, for what answers
outside the app).
"""

from proxy.http.admin import bearer, is_admin_key, key_matches
from proxy.http.application import ProxyApp
from proxy.http.compression import GzipWhenAsked
from proxy.http.forwarded import client_address, is_https
from proxy.http.forwarded import host as request_host
from proxy.http.middleware import RequestContext
from proxy.http.oauth_callback import route as callback_route
from proxy.http.renderers import HANDLERS, render
from proxy.http.v2_routes import LegacyDispatch, LegacyTable
from proxy.http.v2_routes import routes as legacy_routes
from proxy.http.v4_route import route as broker_route

__all__ = [
    "HANDLERS",
    "GzipWhenAsked",
    "LegacyDispatch",
    "LegacyTable",
    "ProxyApp",
    "RequestContext",
    "bearer",
    "broker_route",
    "callback_route",
    "client_address",
    "is_admin_key",
    "is_https",
    "key_matches",
    "legacy_routes",
    "render",
    "request_host",
]
