"""Which mapping answers each v2 route (path templates as the service routes them)."""

from __future__ import annotations

from typing import Any, Protocol

from mappings import (
    consumption_lifetime,
    consumption_stats,
    deprecated,
    energy_lifetime,
    inventory,
    inverters_summary,
    production_meter_readings,
    rgm_stats,
    search_system_id,
    stats,
    summary,
    systems,
)
from mappings.base import V2Request, V2Response, V4Call


class V2Mapping(Protocol):
    """A mapping module or object; ``needs_system`` and ``follow`` are optional (see base)."""

    def plan(self, req: V2Request, system: dict[str, Any] | None) -> list[V4Call]:
        """The v4 calls answering ``req``."""
        ...

    def shape(
        self, req: V2Request, system: dict[str, Any] | None, replies: list[Any]
    ) -> V2Response:
        """The v2 answer from the replies."""
        ...


ROUTES: dict[str, V2Mapping] = {
    "/api/v2/systems/{system_id}/stats": stats,
    "/api/v2/systems/{system_id}/consumption_stats": consumption_stats,
    "/api/v2/systems/{system_id}/inventory": inventory,
    "/api/v2/systems/{system_id}/summary": summary,
    "/api/v2/systems/search_system_id": search_system_id,
    "/api/v2/systems/{system_id}/envoys": deprecated.ENVOYS,
    "/api/v2/systems/{system_id}/monthly_production": deprecated.MONTHLY_PRODUCTION,
    energy_lifetime.ROUTE: energy_lifetime,
    consumption_lifetime.ROUTE: consumption_lifetime,
    production_meter_readings.ROUTE: production_meter_readings,
    rgm_stats.ROUTE: rgm_stats,
    inverters_summary.ROUTE: inverters_summary,
    systems.ROUTE: systems,
}
