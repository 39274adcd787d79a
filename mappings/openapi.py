"""The OpenAPI 3.0 description of the v2 surface the proxy serves (at ``/api/v2/openapi.json``).

Transcribed from Enphase's published v2 documentation, adjusted to what the proxy answers:
every ``*_at`` is an epoch, or ISO 8601 text with ``datetime_format=iso8601``; v2's status 500
is never answered (upstream failures are 503); retired endpoints answer 410. Assembled from
the ``Endpoint`` each mapping exports (``mappings.registry``) and the shared components.
"""

from __future__ import annotations

from collections.abc import Iterable

from mappings.base import Endpoint
from mappings.registry import ENDPOINTS
from mappings.schema import COMMON, ERRORS, JSON, PARAMETERS, RESPONSES, SCHEMAS, ref


def operation(endpoint: Endpoint) -> JSON:
    """The path item of ``endpoint``: a GET, or a deprecated one answered 410 when retired."""
    params = [
        ref(p, "parameters") if isinstance(p, str) else p for p in (*COMMON, *endpoint.parameters)
    ]
    if endpoint.response is None:
        responses: JSON = {"410": ref("GoneError", "responses")}
    else:
        schema = ref(f"{endpoint.operation}Response")
        responses = {
            "200": {"description": "OK", "content": {"application/json": {"schema": schema}}}
        }
    if endpoint.no_content:
        responses["204"] = {"description": "No Content: the system has no such data."}
    responses |= {status: ref(name, "responses") for status, name in ERRORS.items()}
    get: JSON = {
        "operationId": endpoint.operation,
        "description": endpoint.description,
        "parameters": params,
        "responses": responses,
    }
    return {"get": get | ({"deprecated": True} if endpoint.response is None else {})}


def document(endpoints: Iterable[Endpoint]) -> JSON:
    """The OpenAPI document of ``endpoints``."""
    endpoints = list(endpoints)
    schemas = SCHEMAS | {
        f"{e.operation}Response": e.response for e in endpoints if e.response is not None
    }
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Enphase Enlighten Systems API v2 (served by enphase-proxy from API v4)",
            "version": "2.0",
            "description": (
                "The retired Enphase Enlighten Systems API v2, answered from API v4 by the proxy. "
                "Every *_at is Unix epoch seconds, or ISO 8601 in the system's time zone with "
                "datetime_format=iso8601. Upstream failures answer 503, never 500; endpoints "
                "Enphase retired in v4 answer 410 naming their replacement."
            ),
        },
        "servers": [{"url": "/"}],
        "paths": {e.route: operation(e) for e in endpoints},
        "components": {
            "schemas": schemas,
            "responses": RESPONSES,
            "parameters": PARAMETERS,
            "securitySchemes": {"ApiKey": {"type": "apiKey", "name": "key", "in": "query"}},
        },
        "security": [{"ApiKey": []}],
    }


OPENAPI: JSON = document(ENDPOINTS)
