"""v2 ``systems/search_system_id?serial_num=`` from v4 ``systems/retrieve_system_id``.

An unknown or retired serial is v4's 404, which ``errors.from_v4`` turns into v2's not-found
body carrying v4's message.
"""

from __future__ import annotations

from typing import Any

from mappings.base import V2Request, V2Response, V4Call
from mappings.errors import not_found, unprocessable

NOT_FOUND = "Envoy not found with this serial number"


def plan(req: V2Request, system: dict[str, Any] | None) -> list[V4Call]:
    """The one v4 lookup; v2 422 without a serial number."""
    serial = (req.get("serial_num") or "").strip()
    if not serial:
        raise unprocessable("Provide envoy serial number (serial_num)")
    return [V4Call("/systems/retrieve_system_id", (("serial_num", serial),))]


def shape(req: V2Request, system: dict[str, Any] | None, replies: list[Any]) -> V2Response:
    """``{system_id}``; v2's 404 when v4 answered without one."""
    reply = replies[0] if isinstance(replies[0], dict) else {}
    found = reply.get("system_id")
    if not isinstance(found, int) or isinstance(found, bool):
        return not_found(NOT_FOUND).response()
    return V2Response({"system_id": found})
