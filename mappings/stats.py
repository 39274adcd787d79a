"""v2 ``systems/{id}/stats`` from v4 ``telemetry/production_micro`` (5-minute intervals).

At most one local day from start_at; one ``granularity=day`` call per 24 hours of it (two on a
25-hour DST day). See ``mappings.telemetry`` for the window rules.
"""

from __future__ import annotations

from mappings.base import Endpoint
from mappings.common import DAY
from mappings.schema import interval_series
from mappings.telemetry import Telemetry

STATS = Telemetry(
    source="telemetry/production_micro",
    step=5 * 60,
    span=DAY,
    granularity="day",
    fields=("powr", "enwh", "devices_reporting"),
    days=1,
    reported_only=True,  # v2 left out intervals nothing was reported in (the dark hours)
    refuse_after_last=True,
)

needs_system = STATS.needs_system
live_system = STATS.live_system
plan = STATS.plan
shape = STATS.shape


RESPONSE = interval_series(("powr", "enwh", "devices_reporting"), 5)
ENDPOINT = Endpoint(
    "/api/v2/systems/{system_id}/stats",
    plan,
    shape,
    "Stats",
    "5-minute microinverter production intervals, at most one day from start_at.",
    RESPONSE,
    parameters=("SystemId", "StartAt", "EndAt"),
    needs_system=needs_system,
    live_system=live_system,
)
