"""v2 ``systems/search_system_id?serial_num=`` from v4 ``systems/retrieve_system_id``.

An unknown or retired serial is v4's 404, which ``errors.from_v4`` turns into v2's not-found
body: "Envoy not found with this serial number", as v2 said it.
"""

from __future__ import annotations

from typing import Any

from mappings.base import Endpoint, V2Request, V2Response, V4Call
from mappings.errors import ENVOY_NOT_FOUND, not_found, unprocessable
from mappings.schema import INTEGER, STRING, obj, param


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
        return not_found(ENVOY_NOT_FOUND).response()
    return V2Response({"system_id": found})


RESPONSE = obj({"system_id": INTEGER}, ("system_id",), exact=True)
ENDPOINT = Endpoint(
    "/api/v2/systems/search_system_id",
    plan,
    shape,
    "SearchSystemId",
    "The system id of an Envoy serial number.",
    RESPONSE,
    parameters=(param("serial_num", STRING, "Serial number of the Envoy.", required=True),),
)
