"""v2 ``systems/{id}/consumption_lifetime`` from v4's endpoint of the same name."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mappings import lifetime
from mappings.base import Endpoint, V2Request, V2Response, V4Call
from mappings.passthrough import only_body
from mappings.schema import DATE, INTEGER, META, array, nullable, obj

ROUTE = "/api/v2/systems/{system_id}/consumption_lifetime"
needs_system = lifetime.needs_system
live_system = lifetime.live_system


def plan(req: V2Request, system: dict[str, Any] | None) -> list[V4Call]:
    """The system's whole-lifetime ``consumption_lifetime`` call, once the dates are validated."""
    return lifetime.plan(req, system, "consumption_lifetime")


def shape(req: V2Request, system: dict[str, Any] | None, replies: Sequence[Any]) -> V2Response:
    """v2's consumption_lifetime body; 204 when the system has no consumption meter.

    v4 answers such a system with an empty series (a lifetime holds at least a day).
    """
    body = only_body(replies)
    if body is not None and body.get("consumption") == []:
        return V2Response(None, 204)
    return lifetime.lifetime_series(req, system, replies, ("consumption",))


RESPONSE = obj(
    {
        "start_date": nullable(DATE),
        "system_id": INTEGER,
        "consumption": array(INTEGER, "Daily consumed Wh from start_date, without gaps."),
        "meta": META,
    },
    ("start_date", "consumption", "meta"),
)
ENDPOINT = Endpoint(
    ROUTE,
    plan,
    shape,
    "ConsumptionLifetime",
    "Daily consumption over the system's lifetime, in Wh.",
    RESPONSE,
    parameters=("SystemId", "StartDate", "EndDate"),
    needs_system=needs_system,
    live_system=live_system,
    no_content=True,
)
