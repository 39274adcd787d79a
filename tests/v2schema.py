"""Validation of v2 bodies against the proxy's own OpenAPI document (``mappings.openapi``)."""

from __future__ import annotations

from functools import cache
from typing import Any

from jsonschema import Draft7Validator

from mappings.openapi import OPENAPI


def as_json_schema(schema: Any) -> Any:
    """An OpenAPI 3.0 schema as JSON Schema: ``nullable: true`` becomes ``anyOf [.., null]``."""
    if isinstance(schema, list):
        return [as_json_schema(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    converted = {k: as_json_schema(v) for k, v in schema.items() if k != "nullable"}
    return {"anyOf": [converted, {"type": "null"}]} if schema.get("nullable") else converted


def response_schema(route_template: str, status: int) -> dict[str, Any] | None:
    """The documented body schema of ``status`` on ``route_template`` (None: no body)."""
    response = OPENAPI["paths"][route_template]["get"]["responses"][str(status)]
    while "$ref" in response:
        response = OPENAPI["components"]["responses"][response["$ref"].rsplit("/", 1)[-1]]
    content = response.get("content")
    return content["application/json"]["schema"] if content else None


def closed(schema: Any) -> Any:
    """``schema`` with every object that lists its properties closed to any other member."""
    if isinstance(schema, list):
        return [closed(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: closed(v) for k, v in schema.items()}
    if "properties" in out:
        out.setdefault("additionalProperties", False)
    return out


@cache
def _validator(route_template: str, status: int, exact: bool) -> Draft7Validator | None:
    schema = response_schema(route_template, status)
    if schema is None:
        return None
    root = as_json_schema({"allOf": [schema], "components": OPENAPI["components"]})
    root = closed(root) if exact else root
    return Draft7Validator(root, format_checker=Draft7Validator.FORMAT_CHECKER)


def validate(route_template: str, status: int, body: Any, *, exact: bool = False) -> None:
    """Raise (ValidationError; KeyError if undocumented) unless ``body`` matches the v2 doc.

    ``exact``: a member the doc does not define is a failure too (v2 bodies had no others).
    """
    validator = _validator(route_template, status, exact)
    if validator is None:
        if body not in (None, b"", ""):
            raise AssertionError(f"{route_template} {status} has no body, got {body!r}")
        return
    validator.validate(body)


def validate_body(schema: Any, body: Any, *, exact: bool = False) -> None:
    """Raise unless ``body`` matches ``schema``, a v2 schema using the document's components."""
    root = as_json_schema({"allOf": [schema], "components": OPENAPI["components"]})
    checker = Draft7Validator.FORMAT_CHECKER
    Draft7Validator(closed(root) if exact else root, format_checker=checker).validate(body)
