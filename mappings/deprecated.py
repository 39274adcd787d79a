"""v2 endpoints Enphase retired in v4 (``envoys``, ``monthly_production``): a v2-shaped 410.

The answer names the v4 replacement and carries RFC 9745 ``Deprecation`` and a
``Link: <...>; rel="successor-version"`` header; no upstream call is made.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mappings.base import Endpoint, V2Error, V2Request, V2Response, V4Call
from mappings.common import system_id
from mappings.errors import deprecated
from mappings.schema import DATE, param


@dataclass(frozen=True)
class Retired:
    """A retired v2 endpoint (a mapping object); ``{id}`` in the texts is the system id."""

    endpoint: str
    replacement: str
    successor: str

    def error(self, req: V2Request) -> V2Error:
        """The 410 for ``req``, naming the replacement for its system."""
        sid = system_id(req)
        return deprecated(
            self.endpoint, self.replacement.format(id=sid), self.successor.format(id=sid)
        )

    def plan(self, req: V2Request, system: dict[str, Any] | None) -> list[V4Call]:
        """Never any call: raises the 410."""
        raise self.error(req)

    def shape(
        self, req: V2Request, system: dict[str, Any] | None, replies: list[Any]
    ) -> V2Response:
        """The 410 as an answer, for services that shape an empty plan."""
        return self.error(req).response()


_ENVOYS = Retired(
    "envoys",
    replacement="/api/v4/systems/{id}/devices",
    successor="/api/v4/systems/{id}/devices",
)
_MONTHLY_PRODUCTION = Retired(
    "monthly_production",
    replacement=(
        "/api/v4/systems/{id}/energy_lifetime or /api/v4/systems/{id}/production_meter_readings"
    ),
    successor="/api/v4/systems/{id}/energy_lifetime",
)


ENVOYS = Endpoint(
    "/api/v2/systems/{system_id}/envoys",
    _ENVOYS.plan,
    _ENVOYS.shape,
    "Envoys",
    "Retired in API v4: use /api/v4/systems/{system_id}/devices.",
    None,
    parameters=("SystemId",),
)

MONTHLY_PRODUCTION = Endpoint(
    "/api/v2/systems/{system_id}/monthly_production",
    _MONTHLY_PRODUCTION.plan,
    _MONTHLY_PRODUCTION.shape,
    "MonthlyProduction",
    "Retired in API v4: use /api/v4/systems/{system_id}/energy_lifetime or "
    "/api/v4/systems/{system_id}/production_meter_readings.",
    None,
    parameters=("SystemId", param("start_date", DATE, "First day of the month.", required=True)),
)
