"""Report-aware refresh: a system's data changes only when it uploads, so refresh after that.

Envoys upload every 15 minutes at their own phase, cellular ones every few hours. From the
``last_report_at`` values fetched bodies showed (``proxy.quota.sightings``) the cadence is
bounded below by the oldest a report was seen at (a body fetched just before the next upload
shows a report nearly a cadence old) and above by the shortest gap between two reports; the
lower bound is the estimate (it errs toward refreshing too often, never toward missing an
upload). A reply stored after the latest known upload holds everything until the next
predicted one, and is not refreshed before it. A report older than ``MAXIMUM`` tells of an
offline system, not of its cadence.
"""

from __future__ import annotations

import itertools
import math

from proxy.quota.sightings import Sighting

UPLOADED = frozenset(
    {
        "summary",
        "latest_telemetry",
        "production_micro",
        "production_meter",
        "micro_telemetry",
        "consumption_meter",
        "battery",
        "acb_telemetry",
        "encharge_telemetry",
        "energy_import_telemetry",
        "energy_export_telemetry",
        "rgm_stats",
        "production_meter_readings",
    }
)
ROUNDING = 300  # cadences are whole multiples of 5 minutes
MINIMUM = 900  # no Envoy uploads more often than every 15 minutes
MAXIMUM = 6 * 3600  # a system silent longer than this is offline, not slow: look again
SETTLE = 30  # seconds after a predicted upload before its data is asked


def cadence(sighting: Sighting) -> float:
    """Seconds between two uploads of the system (MINIMUM until seen otherwise)."""
    oldest = max((age for age in sighting.reports.values() if age <= MAXIMUM), default=0.0)
    estimate = max(MINIMUM, math.ceil(oldest / ROUNDING) * ROUNDING)
    times = sorted(sighting.reports)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    return min(estimate, min(gaps, default=estimate), MAXIMUM)


def next_upload(sighting: Sighting | None, stored_at: float) -> float | None:
    """When the first upload after ``stored_at`` is expected (None: no upload seen yet, or
    none for longer than any cadence: the system is offline, and when it is back is unknown)."""
    if sighting is None or not sighting.reports:
        return None
    latest = max(sighting.reports)
    if stored_at < latest:
        return latest
    if stored_at - latest > MAXIMUM:
        return None
    every = cadence(sighting)
    return latest + (math.floor((stored_at - latest) / every) + 1) * every + SETTLE


def slow(sighting: Sighting | None) -> bool:
    """Whether the system is known to upload less often than every 15 minutes (cellular)."""
    return sighting is not None and bool(sighting.reports) and cadence(sighting) > MINIMUM
