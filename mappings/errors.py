"""v2 error bodies, and the translation of v4 error replies into them."""

from __future__ import annotations

import re
from typing import Any

from mappings.base import V2Error, V4Call

NOT_AUTHORIZED = "Not authorized to access requested resource."
ENVOY_NOT_FOUND = "Envoy not found with this serial number"
#: v4 paths of one system: v2 answered 401 for a system it did not show, never 404.
_SYSTEM_PATH = re.compile(r"^/systems/(?:config/)?\d+(?:/|$)")
DATE_FIELDS = ("start_at", "end_at", "first_interval", "last_interval")
_RUBY_PAIR = re.compile(r":(\w+)=>\s*(-?\d+)")


def unauthorized(*extra: str) -> V2Error:
    """v2 401: the client may not use this resource."""
    return V2Error(401, {"reason": "401", "message": [NOT_AUTHORIZED, *extra]})


def not_found(message: str) -> V2Error:
    """v2 404 with one message."""
    return V2Error(404, {"reason": "404", "errorMessages": [message]})


def unprocessable(message: str, **fields: Any) -> V2Error:
    """v2 422: the text as both ``reason`` and ``message``, as v2 (Rails) answered; date fields
    are included when known."""
    body: dict[str, Any] = {"reason": message, "message": message}
    body.update({k: v for k, v in fields.items() if v is not None})
    return V2Error(422, body)


def usage_limit(
    plan: str,
    period: str,
    period_start: int,
    period_end: int,
    limit: int,
    retry_after: int | None = None,
) -> V2Error:
    """v2 409: the plan's usage limit is exhausted until period_end (``retry_after`` s)."""
    body = {
        "reason": "409",
        "message": [f"Usage limit exceeded for plan {plan_name(plan)}"],
        "period": period,
        "period_start": period_start,
        "period_end": period_end,
        "limit": limit,
    }
    headers = (("Retry-After", str(retry_after)),) if retry_after is not None else ()
    return V2Error(409, body, headers)


def unavailable(message: str, retry_after: int | None = None, code: int = 7) -> V2Error:
    """v2 503: the upstream cannot answer now."""
    headers = (("Retry-After", str(retry_after)),) if retry_after is not None else ()
    return V2Error(503, {"errorCode": code, "errorMessages": [message]}, headers)


def deprecated(endpoint: str, replacement: str, successor_url: str) -> V2Error:
    """v2-shaped 410 for an endpoint v4 retired, naming its replacement (RFC 9745 headers)."""
    message = f"The v2 endpoint '{endpoint}' was retired by Enphase in API v4; use {replacement}."
    headers = (
        ("Deprecation", "@1672531200"),
        ("Link", f'<{successor_url}>; rel="successor-version"'),
    )
    return V2Error(410, {"reason": "410", "message": [message]}, headers)


def ruby_hash_fields(details: str) -> dict[str, int]:
    """The integer date fields of a Ruby hash literal such as ``{:start_at=>1566930600, ...}``."""
    return {k: int(v) for k, v in _RUBY_PAIR.findall(details or "") if k in DATE_FIELDS}


def plan_name(plan: str) -> str:
    """A plan as Enphase writes its name (``watt`` -> ``Watt``)."""
    return plan[:1].upper() + plan[1:]


def _text(value: Any) -> str:
    """A v4 message as text: a list of messages joined, never printed as a Python list."""
    if isinstance(value, list):
        return "; ".join(str(item) for item in value if item not in (None, ""))
    return "" if value is None else str(value)


def _details(body: Any) -> str:
    if isinstance(body, dict):
        return _text(body.get("details")) or _text(body.get("message"))
    return ""


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        return None


def _not_found(call: V4Call | None, body: Any) -> V2Error:
    """v2's answer when v4 found nothing for ``call``."""
    path, params = (call.path, dict(call.params)) if call else ("", {})
    if _SYSTEM_PATH.match(path):
        return unauthorized()
    if path == "/systems/retrieve_system_id":
        return not_found(ENVOY_NOT_FOUND)
    if path == "/systems/inverters_summary_by_envoy_or_site":
        if "site_id" in params:
            return unprocessable(f"Couldn't find Site with 'id'={params['site_id']}")
        serial = params.get("envoy_serial_number")
        return unprocessable(f"Couldn't find Envoy with 'serial_num'={serial}")
    return not_found(_details(body) or "Not Found")


def from_v4(
    status: int, body: Any, retry_after: int | None = None, call: V4Call | None = None
) -> V2Error:
    """The v2 error a legacy client expects for a v4 error reply to ``call``."""
    if status in (401, 403):
        return unauthorized()
    if status == 404:
        return _not_found(call, body)
    if status == 422:
        details = _details(body)
        message = details.split(". {", 1)[0].split(" {", 1)[0] or "Unprocessable Entity"
        return unprocessable(message, **ruby_hash_fields(details))
    if status == 429:
        fields = body if isinstance(body, dict) else {}
        details = _details(body)
        plan = details.rsplit("plan ", 1)[-1] if "plan " in details else "unknown"
        return usage_limit(
            plan,
            str(fields.get("period") or "minute"),
            _int(fields.get("period_start")) or 0,
            _int(fields.get("period_end")) or 0,
            _int(fields.get("limit")) or 0,
        )
    if isinstance(body, dict) and "errorCode" in body:
        messages = body.get("errorMessages")
        first = messages[0] if isinstance(messages, list) and messages else messages
        code = _int(body.get("errorCode")) or 7
        return unavailable(str(first or "Data temporarily unavailable."), retry_after, code)
    if 400 <= status < 500:
        return unprocessable(_details(body) or f"Upstream rejected the request ({status})")
    return unavailable("Data temporarily unavailable.", retry_after)
