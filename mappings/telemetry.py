"""v2 interval endpoints answered from v4 telemetry: windows, split calls, merged intervals.

A window ``(S, E]`` starts at start_at floored to the interval length (default: local midnight
today in the system zone) and ends at end_at (default: now), never later than now or than the
endpoint's cap after S in local calendar time (a day is 23 or 25 hours across DST changes).
start_at later than end_at or than now is a v2 422. A start further back than v4's two-year
limit is answered without any call, as v2 answered old starts: empty intervals, ``meta`` from
the system body and ``total_devices`` 0 (v4 only tells the device count with telemetry).
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from mappings.base import V2Request, V2Response, V4Call
from mappings.common import (
    epoch_param,
    floor_to,
    local_midnight,
    split_windows,
    system_id,
    too_old,
    zone,
)
from mappings.errors import unprocessable
from mappings.passthrough import lacks_live_meta, respond, v2_meta
from mappings.shaping import missing, records, required


def local_shift(ts: int, tz: ZoneInfo, days: int = 0, months: int = 0) -> int:
    """``ts`` moved by whole local calendar days and months in ``tz`` (day clamped to month end)."""
    local = dt.datetime.fromtimestamp(ts, tz)
    index = local.month - 1 + months
    year, month = local.year + index // 12, index % 12 + 1
    day = min(local.day, calendar.monthrange(year, month)[1])
    return int(
        (local.replace(year=year, month=month, day=day) + dt.timedelta(days=days)).timestamp()
    )


def window(
    req: V2Request,
    system: dict[str, Any] | None,
    step: int,
    days: int = 0,
    months: int = 0,
    *,
    reported: bool = False,
) -> tuple[int, int]:
    """``(S, E]``: start_at (default local midnight) floored, end_at (default now) capped.

    ``reported``: as v2 documented for stats and rgm_stats, a start_at after the system's last
    reported interval is a v2 422 with the date fields, and one before its operational date
    begins at that date. A 422 echoes start_at as used: floored.
    """
    tz = zone(system)
    known = system if isinstance(system, dict) else {}
    requested = epoch_param(req, "start_at")
    start = local_midnight(req.now, tz) if requested is None else requested
    end = epoch_param(req, "end_at")
    end = req.now if end is None else end
    first, last = _epoch(known.get("operational_at")), _epoch(known.get("last_energy_at"))
    if reported and requested is not None and first is not None:
        start = max(start, first)
    late = reported and requested is not None and last is not None and start > last
    if start > min(end, req.now) or late:
        raise unprocessable(
            "Requested date range is invalid for this system",
            start_at=floor_to(start, step),
            end_at=end,
            first_interval=first,
            last_interval=last,
        )
    start = floor_to(start, step)
    return start, min(end, req.now, local_shift(start, tz, days, months))


def _epoch(value: Any) -> int | None:
    return value if type(value) is int else None


def _first(replies: list[Any]) -> dict[str, Any]:
    """The first reply, whose ``meta`` and ``total_devices`` the v2 body carries."""
    return replies[0] if replies and isinstance(replies[0], dict) else {}


def canonical_windows(
    start: int, end: int, tz: ZoneInfo, unit: str, span: int, now: int
) -> list[tuple[int, int]]:
    """The shared windows covering ``(start, end]``: whole local days (``unit`` day) or local
    weeks from Monday (week), each cut into pieces of at most ``span`` seconds.

    Every client asking about the same day or week gets the same windows, so they share one
    cached upstream reply. A piece v4 would refuse as too old starts at ``start`` instead.
    """
    first = local_midnight(start, tz)
    if unit == "week":
        first = local_shift(first, tz, days=-dt.datetime.fromtimestamp(first, tz).weekday())
    pieces: list[tuple[int, int]] = []
    at = first
    while at < end:
        following = local_shift(at, tz, days=7 if unit == "week" else 1)
        pieces += split_windows(at, following, span)
        at = following
    return [(start if too_old(s, now) else s, e) for s, e in pieces if e > start]


def calls(windows: list[tuple[int, int]], path: str, granularity: str) -> list[V4Call]:
    """One v4 telemetry GET of ``granularity`` per window."""
    return [
        V4Call(path, (("start_at", str(at)), ("granularity", granularity))) for at, _ in windows
    ]


def merge(
    replies: Iterable[Any], start: int, end: int, key: str = "intervals"
) -> list[dict[str, Any]]:
    """The ``key`` intervals with start < end_at <= end, in order; the first reply wins a tie."""
    replies = list(replies)
    if len(replies) == 1:
        ordered = _in_order(records(replies[0], key), start, end)
        if ordered is not None:
            return ordered
    by_end: dict[int, dict[str, Any]] = {}
    for reply in replies:
        for item in records(reply, key):
            at = item.get("end_at")
            if type(at) is not int:
                raise missing("end time of an interval")
            if start < at <= end and at not in by_end:
                by_end[at] = item
    return [by_end[at] for at in sorted(by_end)]


def _in_order(items: list[dict[str, Any]], start: int, end: int) -> list[dict[str, Any]] | None:
    """The items in ``(start, end]`` when their end_at values rise strictly (as v4 sends them)."""
    kept, last = [], None
    for item in items:
        at = item.get("end_at")
        if type(at) is not int or (last is not None and at <= last):
            return None
        last = at
        if start < at <= end:
            kept.append(item)
    return kept


def project(item: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    """A v2 interval: ``end_at`` then ``fields``; v2 503 when v4 left one out."""
    interval = {"end_at": item["end_at"]}
    for name in fields:
        value = item.get(name)
        interval[name] = value if type(value) is int else required(item, name)
    return interval


def _reported(interval: dict[str, Any], fields: tuple[str, ...]) -> bool:
    """Whether any of ``fields`` is non-zero (a loop: any() over a generator is slower here)."""
    for name in fields:  # noqa: SIM110
        if interval[name]:
            return True
    return False


@dataclass(frozen=True)
class Telemetry:
    """A v2 interval endpoint answered from one v4 telemetry source (a mapping object)."""

    source: str
    step: int
    span: int
    granularity: str
    fields: tuple[str, ...]
    days: int = 0
    months: int = 0
    reported_only: bool = False
    refuse_after_last: bool = False  # a start after the last reported interval is a 422

    def needs_system(self, req: V2Request) -> bool:
        """Always: the system zone fixes local midnight, the window cap and ``meta``."""
        return True

    def window(self, req: V2Request, system: dict[str, Any] | None) -> tuple[int, int]:
        """The answered ``(S, E]`` of ``req``."""
        return window(
            req, system, self.step, self.days, self.months, reported=self.refuse_after_last
        )

    def plan(self, req: V2Request, system: dict[str, Any] | None) -> list[V4Call]:
        """The canonical telemetry calls covering the window (see ``canonical_windows``); none
        when v4 would refuse a start that old."""
        path = f"/systems/{system_id(req)}/{self.source}"
        start, end = self.window(req, system)
        if too_old(start, req.now):
            return []
        windows = canonical_windows(start, end, zone(system), self.granularity, self.span, req.now)
        return calls(windows, path, self.granularity)

    def intervals(self, replies: list[Any], start: int, end: int) -> list[dict[str, Any]]:
        """The v2 intervals in ``(start, end]``; with ``reported_only``, none that are all zero."""
        fields, everything = self.fields, not self.reported_only
        kept = []
        for item in merge(replies, start, end):
            interval = project(item, fields)
            if everything or _reported(interval, fields):
                kept.append(interval)
        return kept

    def live_system(
        self, req: V2Request, system: dict[str, Any] | None, replies: list[Any]
    ) -> bool:
        """Whether ``meta`` comes from the system body: no reply (a start too old for v4) or
        one without it."""
        return lacks_live_meta(_first(replies).get("meta"))

    def shape(
        self, req: V2Request, system: dict[str, Any] | None, replies: list[Any]
    ) -> V2Response:
        """``{system_id, total_devices, meta, intervals}`` from the merged, clipped replies."""
        start, end = self.window(req, system)
        first = _first(replies)
        body = {
            "system_id": system_id(req),
            "total_devices": required(first, "total_devices") if replies else 0,
            "meta": v2_meta(first.get("meta"), system),
            "intervals": self.intervals(replies, start, end),
        }
        return respond(req, system, body)
