"""Where the sun is for a time zone: the first guess of a system's production window.

A zone's coordinates are its principal city's in the tz database's ``zone1970.tab`` (shipped
with the zone files); a zone not listed there is placed on the equator at the longitude of its
standard UTC offset. Sunrise and sunset come from the solar declination of the day (no
equation of time: minutes of error, covered by the learned window and the upload grace).
"""

from __future__ import annotations

import datetime as dt
import math
import re
import zoneinfo
from functools import cache
from importlib import resources
from pathlib import Path

DAY = 86_400
HORIZON = math.radians(-0.833)  # the sun's upper limb at the horizon, refraction included
_COORDS = re.compile(r"([+-])(\d{2})(\d{2})(\d{2})?([+-])(\d{3})(\d{2})(\d{2})?")


def _table() -> str:
    """The text of zone1970.tab from the system's zone files or the tzdata package ('' if none)."""
    for root in zoneinfo.TZPATH:
        path = Path(root) / "zone1970.tab"
        if path.is_file():
            return path.read_text(encoding="utf-8")
    try:
        return resources.files("tzdata.zoneinfo").joinpath("zone1970.tab").read_text("utf-8")
    except (ModuleNotFoundError, FileNotFoundError):
        return ""


@cache
def _coordinates() -> dict[str, tuple[float, float]]:
    """(latitude, longitude) in degrees of every zone listed in zone1970.tab."""
    found = {}
    for line in _table().splitlines():
        fields = line.split("\t")
        match = _COORDS.fullmatch(fields[1]) if len(fields) > 2 else None
        if match is None:
            continue
        sign, deg, mins, secs, lon_sign, lon_deg, lon_mins, lon_secs = match.groups()
        lat = (int(deg) + int(mins) / 60 + int(secs or 0) / 3600) * (-1 if sign == "-" else 1)
        lon = int(lon_deg) + int(lon_mins) / 60 + int(lon_secs or 0) / 3600
        found[fields[2]] = (lat, lon * (-1 if lon_sign == "-" else 1))
    return found


@cache
def known(zone: str) -> bool:
    """Whether ``zone`` names a time zone of the tz database."""
    try:
        zoneinfo.ZoneInfo(zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True


@cache
def coordinates(zone: str) -> tuple[float, float]:
    """(latitude, longitude) in degrees of the ``known`` ``zone``: its city's, else (0, its
    standard offset's)."""
    listed = _coordinates().get(zone)
    if listed is not None:
        return listed
    january = dt.datetime(2026, 1, 1, tzinfo=zoneinfo.ZoneInfo(zone))
    standard = (january.utcoffset() or dt.timedelta()) - (january.dst() or dt.timedelta())
    return 0.0, standard.total_seconds() / 240  # 4 minutes of time per degree


def noon_offset(zone: str) -> float:
    """UTC seconds of the day at which the sun is highest in ``zone`` (mean solar time)."""
    return (DAY / 2 - coordinates(zone)[1] * 240) % DAY


def half_day(zone: str, at: float) -> float:
    """Seconds from sunrise to solar noon in ``zone`` on the day of ``at`` (0: polar night,
    DAY/2: midnight sun)."""
    latitude = math.radians(coordinates(zone)[0])
    day_of_year = dt.datetime.fromtimestamp(at, dt.UTC).timetuple().tm_yday
    declination = math.radians(23.44) * math.sin(2 * math.pi * (day_of_year - 81) / 365)
    denominator = math.cos(latitude) * math.cos(declination)
    cosine = (math.sin(HORIZON) - math.sin(latitude) * math.sin(declination)) / denominator
    return math.acos(max(-1.0, min(1.0, cosine))) / (2 * math.pi) * DAY
