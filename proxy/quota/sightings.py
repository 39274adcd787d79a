"""What v4 replies told this process of each system: its zone, when it produced, when it uploaded.

Read by ``proxy.quota.daylight`` (production windows) and ``proxy.quota.uploads`` (the next
upload). Kept in this process's memory, bounded: a worker learns from each reply it serves
(``learn``: once per stored reply, whoever fetched it into the shared cache), and knows nothing
of a system (paces it as before) until one of them tells it something.

- ``/systems`` and ``/systems/{id}`` bodies give the ``timezone``;
- telemetry bodies (``intervals`` with ``end_at``) and summaries (``current_power`` at
  ``last_interval_end_at``) give intervals with and without production, kept per solar day
  (the day around one solar noon) as the first and last of each kind;
- bodies with ``last_report_at`` give the upload times.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from cachetools import LRUCache

from proxy.quota import sun
from proxy.v4 import paths as v4paths

DAY = 86_400
KEEP_DAYS = 4  # solar days of production kept per system (the window is learned from them)
KEEP_REPORTS = 12  # upload times kept per system
MAX_SYSTEMS = 65_536
STEP = 300  # seconds of an interval when its length is not known (the shortest v4 step)
ENERGY = ("powr", "enwh", "wh_del", "production", "curr_w")  # what a producing interval has > 0


@dataclass
class Sighting:
    """One system as seen so far: its zone, production per solar day, its upload times.

    ``produced`` maps a solar day's number (``solar_day``) to the (first start, last end) epochs
    of its producing intervals, ``dark`` to the (earliest, latest) epochs seen without
    production; ``reports`` maps each distinct ``last_report_at`` to the largest age a fetched
    body showed it at.
    """

    zone: str | None = None
    produced: dict[int, tuple[float, float]] = field(default_factory=dict)
    dark: dict[int, tuple[float, float]] = field(default_factory=dict)
    reports: dict[float, float] = field(default_factory=dict)

    def see(self, start: float, end: float, producing: bool) -> None:
        """Note an interval from ``start`` to ``end`` (epochs), producing or not."""
        if self.zone is None:
            return
        spans = self.produced if producing else self.dark
        day = solar_day(end, sun.noon_offset(self.zone))
        first, last = spans.get(day, (start, end))
        spans[day] = (min(first, start), max(last, end))
        for old in sorted(spans)[:-KEEP_DAYS]:
            del spans[old]

    def report(self, at: float, fetched: float) -> None:
        """Note an upload at ``at`` seen in a body fetched at ``fetched``."""
        self.reports[at] = max(self.reports.get(at, 0.0), fetched - at)
        for old in sorted(self.reports)[:-KEEP_REPORTS]:
            del self.reports[old]


def solar_day(at: float, noon_offset: float) -> int:
    """The number of the solar day whose noon is nearest ``at`` (``noon_offset``: UTC seconds of
    the day's solar noon)."""
    return math.floor((at - noon_offset + DAY / 2) / DAY)


LEARNED_FROM = frozenset(
    {"systems", "system", "summary", "production_micro", "production_meter", "rgm_stats"}
)


class Sightings:
    """The sightings of every (tenant, system) this process was served replies of."""

    def __init__(self, size: int = MAX_SYSTEMS) -> None:
        self._seen: LRUCache[tuple[str, str], Sighting] = LRUCache(size)
        self._learned: LRUCache[str, float] = LRUCache(size)  # cache key: stored_at read

    def learn(
        self,
        tenant: str,
        key: str,
        found: v4paths.PathMatch | None,
        status: int,
        stored_at: float,
        body: bytes,
    ) -> None:
        """Learn from the reply to the v4 row ``found`` stored at ``stored_at`` under cache
        ``key``, once per stored reply, whether this process, another worker or a replica
        fetched it."""
        if not 200 <= status < 300 or self._learned.get(key) == stored_at:
            return
        self._learned[key] = stored_at
        if found is None or found.endpoint.name not in LEARNED_FROM:
            return
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError:
            return
        self.observe(tenant, found, parsed, stored_at)

    def get(self, tenant: str, system_id: str) -> Sighting | None:
        """What is known of ``system_id`` of ``tenant`` (None: nothing yet)."""
        return self._seen.get((tenant, system_id))

    def observe(self, tenant: str, found: v4paths.PathMatch, body: object, now: float) -> None:
        """Learn from the 2xx ``body`` of a GET of the v4 row ``found`` fetched at ``now``."""
        if not isinstance(body, Mapping):
            return
        if found.endpoint.name == "systems":
            for system in _list(body.get("systems")):
                self._details(tenant, system, now)
            return
        system_id = found.path_params.get("system_id")
        if system_id is None:
            return
        if found.endpoint.name == "system":
            self._details(tenant, body, now)
            return
        sighting = self._seen.get((tenant, system_id))
        if sighting is None:
            sighting = self._seen.setdefault((tenant, system_id), Sighting())
        _uploads(sighting, body, now)
        for start, end, producing in _intervals(body):
            sighting.see(start, end, producing)

    def _details(self, tenant: str, body: object, now: float) -> None:
        if not isinstance(body, Mapping) or "system_id" not in body:
            return
        key = (tenant, str(body["system_id"]))
        sighting = self._seen.get(key) or self._seen.setdefault(key, Sighting())
        zone = body.get("timezone")
        if isinstance(zone, str) and sun.known(zone):
            sighting.zone = zone
        _uploads(sighting, body, now)


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _uploads(sighting: Sighting, body: Mapping[str, Any], now: float) -> None:
    meta = body.get("meta")
    reported = _number(body.get("last_report_at"))
    if reported is None and isinstance(meta, Mapping):
        reported = _number(meta.get("last_report_at"))
    if reported is not None and reported <= now:
        sighting.report(reported, now)


def _intervals(body: Mapping[str, Any]) -> Iterable[tuple[float, float, bool]]:
    """(start, end, producing) of the intervals ``body`` reports."""
    power, end = _number(body.get("current_power")), _number(body.get("last_interval_end_at"))
    if power is not None and end is not None:
        yield end - STEP, end, power > 0
    intervals = [i for i in _list(body.get("intervals")) if isinstance(i, Mapping)]
    ends = [_number(i.get("end_at")) for i in intervals]
    known = sorted(e for e in ends if e is not None)
    step = min((b - a for a, b in itertools.pairwise(known) if b > a), default=STEP)
    for interval, end_at in zip(intervals, ends, strict=True):
        if end_at is not None:
            yield end_at - step, end_at, any((_number(interval.get(k)) or 0) > 0 for k in ENERGY)
