"""v2 ``systems/{id}/consumption_lifetime`` from v4's endpoint of the same name."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mappings.base import Endpoint, V2Request, V2Response, V4Call
from mappings.common import system_id
from mappings.passthrough import date_range, lifetime_series, needs_system_for_dates, only_body
from mappings.schema import DATE, INTEGER, META, array, nullable, obj

ROUTE = "/api/v2/systems/{system_id}/consumption_lifetime"
needs_system = needs_system_for_dates


def plan(req: V2Request, system: dict[str, Any] | None) -> list[V4Call]:
    """One v4 ``consumption_lifetime`` call with the validated dates."""
    return [V4Call(f"/systems/{system_id(req)}/consumption_lifetime", date_range(req))]


def shape(req: V2Request, system: dict[str, Any] | None, replies: Sequence[Any]) -> V2Response:
    """v2's consumption_lifetime body; 204 when the system has no consumption meter.

    v4 answers such a system with an empty series (any date range holds at least a day).
    """
    body = only_body(replies)
    if body is not None and body.get("consumption") == []:
        return V2Response(None, 204)
    return lifetime_series(req, system, replies, ("consumption",))


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
    no_content=True,
)
