"""Every v2 route the proxy serves: the ``Endpoint`` each mapping module exports."""

from __future__ import annotations

from mappings import (
    consumption_lifetime,
    consumption_stats,
    deprecated,
    energy_lifetime,
    envoys,
    inventory,
    inverters_summary,
    monthly_production,
    production_meter_readings,
    rgm_stats,
    search_system_id,
    stats,
    summary,
    systems,
)
from mappings.base import Endpoint

ENDPOINTS: tuple[Endpoint, ...] = (
    systems.ENDPOINT,
    stats.ENDPOINT,
    consumption_stats.ENDPOINT,
    rgm_stats.ENDPOINT,
    inventory.ENDPOINT,
    summary.ENDPOINT,
    search_system_id.ENDPOINT,
    energy_lifetime.ENDPOINT,
    consumption_lifetime.ENDPOINT,
    production_meter_readings.ENDPOINT,
    inverters_summary.ENDPOINT,
    deprecated.ENVOYS,
    deprecated.MONTHLY_PRODUCTION,
)

#: The endpoints by route template, as the service routes them.
ROUTES: dict[str, Endpoint] = {endpoint.route: endpoint for endpoint in ENDPOINTS}

#: What answers a retired route for legacy clients configured with ``emulate_retired = true``.
EMULATED: dict[str, Endpoint] = {
    endpoint.route: endpoint for endpoint in (envoys.ENDPOINT, monthly_production.ENDPOINT)
}
