"""The published v4 monitoring and commissioning paths the broker route may forward, and checks."""

from __future__ import annotations

import calendar
import re
import time
from collections.abc import Sequence

R, W = "GET", ("PUT", "POST", "DELETE")

#: v4 path template -> methods, from the published Monitoring and Commissioning API v4 specs.
PUBLISHED: dict[str, tuple[str, ...]] = {
    "/systems": (R,),
    "/systems/search": ("POST",),
    "/systems/{id}": (R,),
    "/systems/{id}/summary": (R,),
    "/systems/{id}/devices": (R,),
    "/systems/retrieve_system_id": (R,),
    "/systems/{id}/production_meter_readings": (R,),
    "/systems/{id}/rgm_stats": (R,),
    "/systems/{id}/consumption_lifetime": (R,),
    "/systems/{id}/energy_lifetime": (R,),
    "/systems/{id}/battery_lifetime": (R,),
    "/systems/{id}/energy_import_lifetime": (R,),
    "/systems/{id}/energy_export_lifetime": (R,),
    "/systems/inverters_summary_by_envoy_or_site": (R,),
    "/systems/{id}/telemetry/production_micro": (R,),
    "/systems/{id}/telemetry/production_meter": (R,),
    "/systems/{id}/telemetry/battery": (R,),
    "/systems/{id}/telemetry/consumption_meter": (R,),
    "/systems/{id}/devices/micros/{id}/telemetry": (R,),
    "/systems/{id}/devices/acbs/{id}/telemetry": (R,),
    "/systems/{id}/devices/encharges/{id}/telemetry": (R,),
    "/systems/config/{id}/battery_settings": (R, "PUT"),
    "/systems/config/{id}/storm_guard": (R, "PUT"),
    "/systems/config/{id}/grid_status": (R,),
    "/systems/config/{id}/load_control": (R, "PUT"),
    "/systems/{id}/energy_import_telemetry": (R,),
    "/systems/{id}/energy_export_telemetry": (R,),
    "/systems/{id}/live_data": (R,),
    "/partner/activations": (R, "POST"),
    "/partner/activations/{id}": (R, "PUT", "DELETE"),
    "/activations/{id}/users/{id}": (R, *W),
    "/activations/{id}/ops/production_mode": (R, "POST"),
    "/companies/{id}/users": (R, "POST"),
    "/users": ("POST",),
    "/users/search": (R,),
    "/companies/{id}/users/{id}": (R, "PUT"),
    "/partner/users/{id}": (R,),
    "/users/{id}": ("PUT",),
    "/partner/users/self": (R,),
    "/companies/self/branches": (R,),
    "/companies/self/authorized_subcontractors": (R,),
    "/activations/{id}/estimate": (R, "PUT"),
    "/partner/grid_profiles": (R,),
    "/systems/{id}/meters/{id}": (R, "PUT"),
    "/activations/{id}/meters/{id}/meter_control": ("POST",),
    "/pv_manufacturers": (R,),
    "/pv_manufacturers/{id}/pv_models": (R,),
    "/systems/config/{id}/tariff": (R, "PUT"),
    "/partner/systems/{id}/arrays": (R, "PUT"),
    "/partner/systems/{id}/arrays/{id}": (R, "PUT", "DELETE"),
}

#: Endpoints whose start must be within 2 years and whose span at most one week (release notes).
DATE_LIMITED = re.compile(
    r"^/systems/[^/]+/(rgm_stats|telemetry/\w+|devices/(micros|acbs|encharges)/[^/]+/telemetry)$"
)
WEEK_LIMITED = re.compile(r"^/systems/[^/]+/(telemetry/\w+|devices/\w+/[^/]+/telemetry)$")

SEGMENT = r"[A-Za-z0-9_-]{1,64}"
SAFE_RAW = re.compile(r"^[A-Za-z0-9_/-]*$")
_PATTERNS = [
    (re.compile("^" + re.escape(t).replace(re.escape("{id}"), SEGMENT) + "$"), m)
    for t, m in PUBLISHED.items()
]
TWO_YEARS = 730 * 86400
WEEK = 7 * 86400


def allowed_methods(raw_path: str) -> tuple[str, ...]:
    """The methods a published v4 path allows; () for anything unpublished or unsafe."""
    if not SAFE_RAW.match(raw_path) or "//" in raw_path:
        return ()
    methods: tuple[str, ...] = ()
    for pattern, allowed in _PATTERNS:
        if pattern.match(raw_path):
            methods += allowed
    return methods


def _epoch(params: dict[str, str], at: str, date: str) -> int | None:
    if re.fullmatch(r"-?[0-9]{1,18}", params.get(at, "")):
        return int(params[at])
    if date in params:
        try:
            return calendar.timegm(time.strptime(params[date], "%Y-%m-%d"))
        except ValueError:
            return None
    return None


def date_problem(path: str, query: Sequence[tuple[str, str]], now: float) -> str | None:
    """Why v4 would refuse this telemetry window (2 years back, one week long), if it would."""
    if not DATE_LIMITED.match(path):
        return None
    params = dict(query)
    start = _epoch(params, "start_at", "start_date")
    end = _epoch(params, "end_at", "end_date")
    if start is not None and start < now - TWO_YEARS:
        return "The requested start date must be within 2 years from current date"
    both = start is not None and end is not None
    if both and WEEK_LIMITED.match(path) and end - start > WEEK:
        return "The total duration requested can not be more than one week"
    if both and end < start:
        return "Requested date range is invalid: end is before start"
    return None
