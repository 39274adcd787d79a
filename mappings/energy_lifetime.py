"""v2 ``systems/{id}/energy_lifetime`` from v4's endpoint of the same name."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mappings import lifetime
from mappings.base import Endpoint, V2Request, V2Response, V4Call
from mappings.schema import DATE, INTEGER, META, array, nullable, obj, param

ROUTE = "/api/v2/systems/{system_id}/energy_lifetime"
needs_system = lifetime.needs_system
live_system = lifetime.live_system


def _all(req: V2Request) -> bool:
    return req.get("production") == "all"


def plan(req: V2Request, system: dict[str, Any] | None) -> list[V4Call]:
    """The system's whole-lifetime ``energy_lifetime`` call, once the dates are validated."""
    return lifetime.plan(req, system, "energy_lifetime")


def shape(req: V2Request, system: dict[str, Any] | None, replies: Sequence[Any]) -> V2Response:
    """v2's energy_lifetime body; micro and meter series only when ``production=all``."""
    series = (
        ("production", "micro_production", "meter_production") if _all(req) else ("production",)
    )
    return lifetime.lifetime_series(req, system, replies, series)


RESPONSE = obj(
    {
        "start_date": nullable(DATE),
        "system_id": INTEGER,
        "production": array(INTEGER, "Daily Wh from start_date, without gaps."),
        "micro_production": array(INTEGER),
        "meter_production": array(INTEGER),
        "meter_start_date": DATE,
        "meta": META,
    },
    ("start_date", "system_id", "production", "meta"),
)
ENDPOINT = Endpoint(
    ROUTE,
    plan,
    shape,
    "EnergyLifetime",
    "Daily production over the system's lifetime, in Wh.",
    RESPONSE,
    parameters=(
        "SystemId",
        "StartDate",
        "EndDate",
        param(
            "production",
            {"type": "string", "enum": ["all"]},
            "all adds the microinverter and meter series.",
        ),
    ),
    needs_system=needs_system,
    live_system=live_system,
    no_content=True,
)
