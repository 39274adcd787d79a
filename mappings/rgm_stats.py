"""v2 ``systems/{id}/rgm_stats`` (up to a month) from week-long v4 ``rgm_stats`` calls.

The window follows ``mappings.telemetry``: start_at floored to 15 minutes (default local
midnight), end_at default now, at most one local calendar month, 422 when start is after end.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from mappings.base import Endpoint, V2Request, V2Response, V4Call
from mappings.common import WEEK, system_id, too_old, zone
from mappings.passthrough import lacks_live_meta, query, respond, v2_meta
from mappings.schema import EPOCH, INTEGER, META, STRING, array, nullable, obj
from mappings.shaping import records, required
from mappings.telemetry import canonical_windows, project, window

ROUTE = "/api/v2/systems/{system_id}/rgm_stats"
STEP = 15 * 60


def needs_system(req: V2Request) -> bool:
    """Always: the system zone fixes local midnight and the month cap, and ``meta`` when empty."""
    return True


def _window(req: V2Request, system: dict[str, Any] | None) -> tuple[int, int]:
    return window(req, system, STEP, months=1, reported=True)


def plan(req: V2Request, system: dict[str, Any] | None) -> list[V4Call]:
    """One v4 ``rgm_stats`` call per week of the window; none when v4 would refuse the start."""
    start, end = _window(req, system)
    if too_old(start, req.now):
        return []
    path = f"/systems/{system_id(req)}/rgm_stats"
    windows = canonical_windows(start, end, zone(system), "week", WEEK, req.now)
    # A whole week needs no end_at (v4 answers a week after start_at, up to now): the key of
    # the current week stays the same all week.
    return [
        V4Call(path, query(start_at=s) if e - s == WEEK else query(start_at=s, end_at=e))
        for s, e in windows
    ]


def _bodies(replies: Sequence[Any]) -> list[dict[str, Any]]:
    return [body for body in replies if isinstance(body, dict)]


def _meta(bodies: list[dict[str, Any]]) -> Any:
    """The v4 ``meta`` of the latest week, the one v2's ``meta`` comes from."""
    return bodies[-1].get("meta") if bodies else None


def live_system(req: V2Request, system: dict[str, Any] | None, replies: Sequence[Any]) -> bool:
    """Whether ``meta`` comes from the system body (no reply, or one without it)."""
    return lacks_live_meta(_meta(_bodies(replies)))


def shape(req: V2Request, system: dict[str, Any] | None, replies: Sequence[Any]) -> V2Response:
    """The weekly replies merged into one v2 body, de-duplicated and clipped to the window."""
    start, end = _window(req, system)
    bodies = _bodies(replies)
    meters: dict[str, list[dict[str, Any]]] = {}
    for meter in (meter for body in bodies for meter in records(body, "meter_intervals")):
        meters.setdefault(required(meter, "meter_serial_number"), []).append(meter)
    out = {
        "system_id": system_id(req),
        # no body: a start too old for v4, answered without a call as v2 answered it
        "total_devices": max((required(body, "total_devices") for body in bodies), default=0),
        "meta": v2_meta(_meta(bodies), system),
        "intervals": [
            project(row, ("wh_del", "devices_reporting"))
            for row in _merge(_rows(bodies), start, end)
        ],
        "meter_intervals": [
            {
                "meter_serial_number": serial,
                "envoy_serial_number": _text(parts[0].get("envoy_serial_number")),
                "intervals": [_meter_row(row) for row in _merge(_rows(parts), start, end)],
            }
            for serial, parts in meters.items()
        ],
    }
    return respond(req, system, out)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _meter_row(row: dict[str, Any]) -> dict[str, Any]:
    """A v2 meter interval: channel, end_at, Wh delivered and current W (null when not sent)."""
    return {
        "channel": required(row, "channel"),
        "end_at": row["end_at"],
        "wh_del": row.get("wh_del"),
        "curr_w": row.get("curr_w"),
    }


def _rows(containers: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return [row for container in containers for row in records(container, "intervals")]


def _merge(rows: Iterable[dict[str, Any]], start: int, end: int) -> list[dict[str, Any]]:
    """Rows with ``start < end_at <= end``, first one per (channel, end_at), in arrival order."""
    seen: set[tuple[Any, Any]] = set()
    merged = []
    for row in rows:
        at = required(row, "end_at")
        key = (row.get("channel"), at)
        if start < at <= end and key not in seen:
            seen.add(key)
            merged.append(row)
    return merged


RESPONSE = obj(
    {
        "system_id": INTEGER,
        "total_devices": INTEGER,
        "meta": META,
        "intervals": array(
            obj(
                {"end_at": EPOCH, "wh_del": INTEGER, "devices_reporting": INTEGER},
                ("end_at", "wh_del", "devices_reporting"),
            )
        ),
        "meter_intervals": array(
            obj(
                {
                    "meter_serial_number": STRING,
                    "envoy_serial_number": nullable(STRING),
                    "intervals": array(
                        obj(
                            {
                                "channel": INTEGER,
                                "end_at": EPOCH,
                                "wh_del": nullable({"type": "number"}),
                                "curr_w": nullable(INTEGER),
                            },
                            ("channel", "end_at", "wh_del", "curr_w"),
                        )
                    ),
                },
                ("meter_serial_number", "envoy_serial_number", "intervals"),
            )
        ),
    },
    ("system_id", "total_devices", "meta", "intervals", "meter_intervals"),
)
ENDPOINT = Endpoint(
    ROUTE,
    plan,
    shape,
    "RgmStats",
    "15-minute revenue-grade meter intervals, at most one month from start_at.",
    RESPONSE,
    parameters=("SystemId", "StartAt", "EndAt"),
    needs_system=needs_system,
    live_system=live_system,
)
