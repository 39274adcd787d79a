"""v2 ``systems/{id}/consumption_stats`` from v4 ``telemetry/consumption_meter`` (15 minutes).

At most one local calendar month from start_at, as v2 allowed, fetched as one
``granularity=week`` call per week and merged. See ``mappings.telemetry`` for the window rules.
"""

from __future__ import annotations

from mappings.base import Endpoint
from mappings.common import WEEK
from mappings.schema import interval_series
from mappings.telemetry import Telemetry

CONSUMPTION_STATS = Telemetry(
    source="telemetry/consumption_meter",
    step=15 * 60,
    span=WEEK,
    granularity="week",
    fields=("enwh", "devices_reporting"),
    months=1,
)

needs_system = CONSUMPTION_STATS.needs_system
live_system = CONSUMPTION_STATS.live_system
plan = CONSUMPTION_STATS.plan
shape = CONSUMPTION_STATS.shape


RESPONSE = interval_series(("enwh", "devices_reporting"), 15)
ENDPOINT = Endpoint(
    "/api/v2/systems/{system_id}/consumption_stats",
    plan,
    shape,
    "ConsumptionStats",
    "15-minute consumption meter intervals, at most one month from start_at.",
    RESPONSE,
    parameters=("SystemId", "StartAt", "EndAt"),
    needs_system=needs_system,
    live_system=live_system,
)
