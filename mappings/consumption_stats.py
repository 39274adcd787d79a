"""v2 ``systems/{id}/consumption_stats`` from v4 ``telemetry/consumption_meter`` (15 minutes).

At most one local calendar month from start_at, as v2 allowed, fetched as one
``granularity=week`` call per week and merged. See ``mappings.telemetry`` for the window rules.
"""

from __future__ import annotations

from mappings.common import WEEK
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
plan = CONSUMPTION_STATS.plan
shape = CONSUMPTION_STATS.shape
