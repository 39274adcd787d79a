"""Injected latency, server errors and hangs for /api/v4 calls."""

from __future__ import annotations

import asyncio
import random
from typing import Any

from starlette.responses import Response

from .errors import ApiError, unavailable
from .settings import Faults


async def delay(faults: Faults) -> None:
    """Sleep for the configured latency."""
    if faults.latency:
        await asyncio.sleep(faults.latency)


async def failure(faults: Faults, rng: random.Random) -> Response | None:
    """Maybe answer 500 or 503, or hang and answer 504; None to proceed normally."""
    roll = rng.random()
    if roll < faults.timeout_rate:
        await asyncio.sleep(faults.timeout_hang)
        return ApiError(504, "Upstream request timed out").response()
    if roll < faults.timeout_rate + faults.error_rate:
        if rng.random() < 0.5:
            return unavailable()
        return ApiError(500, "Simulated internal server error").response()
    return None


def updated(faults: Faults, changes: dict[str, Any]) -> Faults:
    """``faults`` with ``changes`` applied; ValueError for unknown or mistyped fields."""
    fields = Faults.__dataclass_fields__
    unknown = set(changes) - set(fields)
    if unknown:
        raise ValueError(f"unknown fault fields: {sorted(unknown)}")
    out = Faults(**{**vars(faults), **changes})
    for name, value in vars(out).items():
        kind = _KINDS.get(name, (int, float))
        if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
            raise ValueError(f"fault field {name} has the wrong type")
    if out.force_429_period not in ("minute", "month"):
        raise ValueError("force_429_period must be minute or month")
    return out


_KINDS: dict[str, type | tuple[type, ...]] = {"force_429": bool, "force_429_period": str}
