"""What a v4 200 reply must hold to be data: its top-level JSON type and the member carrying it.

A 200 that does not (empty, HTML, ``{}``, ``[1,2]``, ``"ok"``) is an upstream failure, never
data: the proxy serves the stale reply it holds, or answers that the upstream is unavailable.
Only the member where each endpoint keeps its data is required, so replies lacking optional
fields (the v4 spec's own examples do) still count.
"""

from __future__ import annotations

from typing import Any

#: endpoint name (``proxy.cache.freshness.endpoint_name``) -> the members of which one must be
#: present, with their JSON types; ``None`` in place of the members: the reply is a JSON array.
DATA: dict[str, tuple[tuple[str, type], ...] | None] = {
    "systems": (("systems", list),),
    "system": (("system_id", int),),
    "retrieve_system_id": (("system_id", int),),
    "summary": (
        ("energy_lifetime", int),
        ("energy_today", int),
        ("current_power", int),
        ("status", str),
        ("last_report_at", int),
    ),
    "devices": (("devices", dict),),
    "energy_lifetime": (("production", list),),
    "consumption_lifetime": (("consumption", list),),
    "production_meter_readings": (("meter_readings", list),),
    "rgm_stats": (("intervals", list),),
    "inverters_summary": None,
    **dict.fromkeys(
        (
            "production_micro",
            "production_meter",
            "consumption_meter",
            "battery",
            "micro_telemetry",
            "acb_telemetry",
            "encharge_telemetry",
        ),
        (("intervals", list),),
    ),
}


def usable(endpoint: str, body: Any) -> bool:
    """Whether ``body`` (parsed JSON, None when it was not JSON) is data for ``endpoint``."""
    if endpoint not in DATA:
        return True
    members = DATA[endpoint]
    if members is None:
        return isinstance(body, list)
    if not isinstance(body, dict):
        return False
    return any(_typed(body.get(name), kind) for name, kind in members)


def _typed(value: Any, kind: type) -> bool:
    return isinstance(value, kind) and not isinstance(value, bool)
