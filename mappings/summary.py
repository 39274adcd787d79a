"""v2 ``systems/{id}/summary`` from v4 ``summary``, or from ``energy_lifetime`` for a past day.

A past ``summary_date`` is answered as v2 answered historical requests: energy_today is that
day's production, energy_lifetime the sum of the days before it, current_power, modules and
size_w are 0, last_interval_end_at is the system's last energy time. ``summary_date`` is echoed;
today's date is a current request; a future or unparseable date is a v2 422, and so is a day
before the system's first (v4's answer). The day is cut out of the system's whole lifetime
(``mappings.lifetime``), one reply shared with every other lifetime request.

A current summary's energy_lifetime excludes today, as v2's did (v4's includes it). v2
requires its three times: one v4's summary lacks comes from the system details (fetched only
then); when neither has it, the answer is a 503 rather than an invented time.

v4's status enum is larger than v2's; ``mappings.status.V2_STATUS`` maps it onto v2's.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from mappings import lifetime
from mappings.base import Endpoint, V2Request, V2Response, V4Call
from mappings.common import date_param, system_id, wants_iso8601
from mappings.errors import unavailable, unprocessable
from mappings.passthrough import lacks_live_meta, respond, v2_meta
from mappings.schema import DATE, EPOCH, INTEGER, obj, param, ref
from mappings.shaping import missing, required
from mappings.status import v2_status


def needs_system(req: V2Request) -> bool:
    """With summary_date (the zone says which day is today) or iso8601."""
    return req.get("summary_date") not in (None, "") or wants_iso8601(req)


def past_day(req: V2Request, system: dict[str, Any] | None) -> dt.date | None:
    """The requested summary_date when before today; None for today; v2 422 when in the future."""
    day = date_param(req, "summary_date")
    if day is None:
        return None
    today = lifetime.today(req, system)
    if day > today:
        raise unprocessable(f"summary_date {day.isoformat()} is in the future")
    return day if day < today else None


def plan(req: V2Request, system: dict[str, Any] | None) -> list[V4Call]:
    """v4 summary for today, or the system's lifetime series for a past summary_date."""
    sid = system_id(req)
    day = past_day(req, system)
    if day is None:
        return [V4Call(f"/systems/{sid}/summary")]
    return [lifetime.call(req, system, "energy_lifetime", day)]


def _date(value: Any) -> dt.date | None:
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        return None


def _source(value: Any) -> str:
    return "meter" if value == "meter" else "microinverters"


#: v2's required times in a current summary, and where v4's system details keep each.
TIMES = {
    "last_interval_end_at": "last_energy_at",
    "last_report_at": "last_report_at",
    "operational_at": "operational_at",
}


def _epoch(value: Any) -> int | None:
    return value if type(value) is int else None


def _lacks_times(reply: Any) -> bool:
    return not isinstance(reply, dict) or any(_epoch(reply.get(key)) is None for key in TIMES)


def follow(req: V2Request, system: dict[str, Any] | None, replies: list[Any]) -> list[V4Call]:
    """The system details, when v4's summary lacks a time v2 requires and they are not known."""
    wanted = system is None and len(replies) == 1 and past_day(req, system) is None
    return [V4Call(f"/systems/{system_id(req)}")] if wanted and _lacks_times(replies[0]) else []


def live_system(req: V2Request, system: dict[str, Any] | None, replies: list[Any]) -> bool:
    """Whether the system body fills in what v4's reply lacks: the times of a current summary,
    the status and report times of a past one."""
    reply = replies[0] if replies else None
    if past_day(req, system) is None:
        return _lacks_times(reply)
    return lacks_live_meta(reply.get("meta") if isinstance(reply, dict) else None)


def _times(reply: dict[str, Any], details: Any) -> dict[str, int]:
    """v2's three required times from the summary, else from the system details; 503 if none."""
    fallback = details if isinstance(details, dict) else {}
    times = {}
    for key, source in TIMES.items():
        value = _epoch(reply.get(key))
        value = _epoch(fallback.get(source)) if value is None else value
        if value is None:
            raise unavailable(f"Enphase did not send the system's {key}; try again later.", 300)
        times[key] = value
    return times


def _current(
    req: V2Request, system: dict[str, Any] | None, reply: dict[str, Any], details: Any
) -> dict[str, Any]:
    today = required(reply, "energy_today")
    # v2's lifetime excludes the requested day; v4's includes today.
    before = required(reply, "energy_lifetime") - today
    if before < 0:
        raise missing("system's energy_lifetime (it was below energy_today)")
    return {
        "current_power": required(reply, "current_power"),
        "energy_lifetime": before,
        "energy_today": today,
        **_times(reply, details),
        "modules": required(reply, "modules"),
        "size_w": int(required(reply, "size_w")),  # v4 may send a fraction of a W
        "source": _source(required(reply, "source")),
        "status": v2_status(required(reply, "status")),
        "summary_date": reply.get("summary_date") or lifetime.today(req, system).isoformat(),
        "system_id": system_id(req),
    }


def _historic(
    req: V2Request, system: dict[str, Any] | None, day: dt.date, reply: dict[str, Any]
) -> dict[str, Any]:
    start, series = lifetime.cut(reply, None, day, ("production",))
    production = required(series, "production")
    first = _date(start)
    index = (day - first).days if first else -1
    meter_start = _date(reply.get("meter_start_date"))
    meta = v2_meta(reply.get("meta"), system)
    meta_times = {"last_interval_end_at": meta["last_energy_at"], **meta}
    return {
        "current_power": 0,
        "energy_lifetime": sum(production[: max(index, 0)]),
        # a day after the series ends: the system recorded no production that day
        "energy_today": production[index] if 0 <= index < len(production) else 0,
        **_times(meta_times, None),
        "modules": 0,
        "size_w": 0,
        "source": "meter" if meter_start and meter_start <= day else "microinverters",
        "status": meta["status"],
        "summary_date": day.isoformat(),
        "system_id": system_id(req),
    }


def shape(req: V2Request, system: dict[str, Any] | None, replies: list[Any]) -> V2Response:
    """v2's twelve summary fields, current or for the past summary_date."""
    reply = replies[0] if isinstance(replies[0], dict) else {}
    day = past_day(req, system)
    if day is None:
        details = system if system is not None else (replies[1:] or [None])[0]
        body = _current(req, system, reply, details)
    else:
        body = _historic(req, system, day, reply)
    return respond(req, system, body)


RESPONSE = obj(
    {
        "current_power": INTEGER,
        "energy_lifetime": INTEGER,
        "energy_today": INTEGER,
        "last_interval_end_at": EPOCH,
        "last_report_at": EPOCH,
        "modules": INTEGER,
        "operational_at": EPOCH,
        "size_w": INTEGER,
        "source": {"type": "string", "enum": ["microinverters", "meter"]},
        "status": ref("Status"),
        "summary_date": DATE,
        "system_id": INTEGER,
    },
    (
        "current_power",
        "energy_lifetime",
        "energy_today",
        "last_interval_end_at",
        "last_report_at",
        "modules",
        "operational_at",
        "size_w",
        "source",
        "status",
        "summary_date",
        "system_id",
    ),
    exact=True,
)
ENDPOINT = Endpoint(
    "/api/v2/systems/{system_id}/summary",
    plan,
    shape,
    "Summary",
    "Summary of the system, today or for a past summary_date.",
    RESPONSE,
    parameters=(
        "SystemId",
        param(
            "summary_date",
            DATE,
            "A past day (YYYY-MM-DD); a future or unparseable date answers 422.",
        ),
    ),
    needs_system=needs_system,
    live_system=live_system,
    follow=follow,
)
