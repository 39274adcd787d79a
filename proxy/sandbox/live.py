"""GET /systems/{id}/live_data: a text/event-stream of the site's power, one event a second."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import StreamingResponse

from . import data
from .errors import unprocessable
from .gate import Caller
from .localtime import local_date
from .systems import System

DEFAULT_DURATION = 30
DURATIONS = range(30, 301)  # the `duration` header's bounds in seconds, as v4 documents


def live_data(request: Request, caller: Caller) -> StreamingResponse:
    """A stream of ``duration`` (header, 30-300) events, paced by the settings."""
    system = caller.system(request.path_params["system_id"])
    raw = request.headers.get("duration", str(DEFAULT_DURATION))
    if not (raw.isascii() and raw.isdigit() and int(raw) in DURATIONS):
        raise unprocessable("duration must be an integer from 30 to 300")
    pace = caller.state.settings.live_data_pace
    events = _events(system, int(caller.now), int(raw), pace)
    return StreamingResponse(events, media_type="text/event-stream")


async def _events(system: System, start: int, seconds: int, pace: float) -> AsyncIterator[bytes]:
    """One event per stream second, ``pace`` real seconds apart."""
    for second in range(seconds):
        if second:
            await asyncio.sleep(pace)
        yield b"data: " + orjson.dumps(_event(system, start + second)) + b"\n\n"


def _event(system: System, at: int) -> dict[str, object]:
    """The site's live figures at ``at``: PV power always, consumption and grid with meters,
    the battery's with a battery (a site without one has no battery figures)."""
    stamp = datetime.fromtimestamp(at, UTC)
    day = local_date(system.timezone, at - 1)
    pv = _power(data.production_micro_day(system, day), at, "powr")
    figures: dict[str, object] = {
        "system_id": system.system_id,
        "envoy_serial_number": [system.gateway],
        "pv_power": pv,
        "grid_status": "On Grid",
    }
    battery = 0
    if data.battery_capacity(system):
        battery = data.battery_power(system, at)
        soc = data.battery_soc(system, at)
        figures |= {
            "battery_mode": "Self-consumption",
            "battery_power": battery,
            "battery_soc": soc,
        }
    if system.consumption_meters:
        wh = _power(data.consumption_meter_day(system, day), at, "enwh")
        consumption = wh * 3600 // data.METER_STEP
        figures |= {"consumption_power": consumption, "grid_power": consumption - pv - battery}
    return {
        "data": {"data": figures},
        "timestamp_epoch": at * 1000,
        "timestamp_utc": stamp.strftime("%Y-%m-%d %H:%M:%S.000"),
        "type": "response",
    }


def _power(rows: list[dict[str, Any]], at: int, field: str) -> int:
    """``field`` of the interval holding ``at`` (0 when none was reported: the dark hours)."""
    return next((row[field] for row in rows if row["end_at"] >= at), 0)
