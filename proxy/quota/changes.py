"""When a system's data can have changed: the daylight and upload rules, per cache key.

The pacer asks ``due`` whether a stale reply may be refreshed and ``weigh``s the keys in demand
before pacing them. The rules apply while the budget binds (a paced interval above 0); an
unbinding budget refreshes by natural freshness, as before, except that a system uploading
less often than every 15 minutes is not asked before its next upload. ``daylight`` off (the
tenant's opt-out) keeps the upload rule and drops the daylight one.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from proxy.quota import daylight, pacing, uploads
from proxy.quota.pacing import Paced
from proxy.quota.sightings import DAY, Sightings
from proxy.v4 import paths as v4paths


def system_of(key: str) -> tuple[str, str] | None:
    """(system id, endpoint name) of a cache key ``v4:{tenant}:{system}:{path}?{query}``."""
    parts = key.split(":", 3)
    if len(parts) < 4 or parts[2] == "-":
        return None
    found = v4paths.TABLE.find(parts[3].split("?", 1)[0])
    return (parts[2], found.endpoint.name) if found else None


def due(
    sightings: Sightings,
    tenant: str,
    key: str,
    age: float,
    period: float,
    interval: float,
    now: float,
    by_daylight: bool,
) -> bool:
    """Whether ``tenant``'s reply under ``key``, ``age`` s old, may be refreshed at ``now``."""
    system = system_of(key)
    if system is None or math.isinf(interval) or age < period:
        return pacing.due(age, period, interval)
    sighting = sightings.get(tenant, system[0])
    stored_at = now - age
    upload = uploads.next_upload(sighting, stored_at) if system[1] in uploads.UPLOADED else None
    arrived = upload is None or now >= upload
    if interval == 0:  # the budget does not bind: only a slow uploader's wait saves calls
        return arrived or not uploads.slow(sighting)
    if by_daylight and system[1] in daylight.PRODUCTION_ONLY:
        night = daylight.night_refresh(sighting, stored_at, now, arrived)
        if night is not None:
            return night
    return arrived and age >= interval


def weigh(
    sightings: Sightings,
    tenant: str,
    keys: Iterable[tuple[str, int, int]],
    now: float,
    by_daylight: bool,
) -> list[Paced]:
    """The keys in demand as the pacer counts them: uploads no more often than the system
    uploads, production-only data by day and twice a night."""
    weighed = []
    for key, period, span in keys:
        system = system_of(key)
        sighting = sightings.get(tenant, system[0]) if system else None
        if system is None or sighting is None:
            weighed.append(Paced(period, span))
            continue
        if system[1] in uploads.UPLOADED and sighting.reports:
            period = max(period, round(uploads.cadence(sighting)))
        shared = daylight.share(sighting, now) if system[1] in daylight.PRODUCTION_ONLY else None
        if by_daylight and shared is not None:
            weighed.append(Paced(period, span, shared, daylight.NIGHT_CALLS / DAY))
        else:
            weighed.append(Paced(period, span))
    return weighed
