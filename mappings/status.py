"""The v2 system status enum and the mapping of v4's larger status enum onto it.

| v4 status | v2 status |
|---|---|
| comm, power, meter, meter_issue, micro, battery, storage_idle, normal | the same |
| encharge, encharge_issue, enpower, enpower_issue | battery |
| deactivated, retired, not_monitored, unused, disabled, no_data, nsr, unknown,
  grid_unknown | comm |
| rma | micro |
| warning, error | power |
| debug, info, monitored, muted, any, data_upload, on_grid, off_grid, anything else | normal |
"""

from __future__ import annotations

V2_STATUSES = frozenset(
    {"comm", "power", "meter", "meter_issue", "micro", "battery", "storage_idle", "normal"}
)

V2_STATUS: dict[str, str] = {
    **{status: status for status in V2_STATUSES},
    "encharge": "battery",
    "encharge_issue": "battery",
    "enpower": "battery",
    "enpower_issue": "battery",
    "deactivated": "comm",
    "retired": "comm",
    "not_monitored": "comm",
    "unused": "comm",
    "disabled": "comm",
    "no_data": "comm",
    "nsr": "comm",
    "unknown": "comm",
    "grid_unknown": "comm",
    "rma": "micro",
    "warning": "power",
    "error": "power",
    "debug": "normal",
    "info": "normal",
    "monitored": "normal",
    "muted": "normal",
    "any": "normal",
    "data_upload": "normal",
    "on_grid": "normal",
    "off_grid": "normal",
}


def v2_status(status: object) -> str:
    """The v2 status a legacy client understands for a v4 system status."""
    return V2_STATUS.get(str(status), "normal")
