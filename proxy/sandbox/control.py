"""Test controls under /_sandbox/: counters, fault injection, reset and clock shift."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .state import SandboxState


async def _json(request: Request) -> dict[str, Any]:
    """The request's JSON object body (empty when absent)."""
    body = json.loads(await request.body() or b"{}")
    if not isinstance(body, dict):
        raise ValueError("body must be a JSON object")
    return body


def _state(request: Request) -> SandboxState:
    state: SandboxState = request.app.state.sandbox
    return state


async def stats(request: Request) -> Response:
    """GET /_sandbox/stats."""
    return JSONResponse(_state(request).stats.body())


async def faults(request: Request) -> Response:
    """POST /_sandbox/faults with any Faults fields; answers the faults now in force."""
    try:
        current = _state(request).set_faults(**await _json(request))
    except ValueError as error:
        return JSONResponse({"error": str(error)}, status_code=400)
    return JSONResponse(vars(current))


async def reset(request: Request) -> Response:
    """POST /_sandbox/reset: counters, limit windows, faults and clock back to the start."""
    _state(request).reset()
    return JSONResponse({"reset": True})


async def clock(request: Request) -> Response:
    """POST /_sandbox/clock ``{"offset": seconds}``: run the sandbox clock shifted."""
    state = _state(request)
    try:
        offset = (await _json(request))["offset"]
        state.shift_clock(float(offset))
    except (ValueError, KeyError, TypeError):
        return JSONResponse({"error": 'expected {"offset": seconds}'}, status_code=400)
    return JSONResponse({"offset": state.clock_offset, "now": state.now()})


def routes() -> list[Route]:
    """The /_sandbox/ routes."""
    return [
        Route("/_sandbox/stats", stats, methods=["GET"]),
        Route("/_sandbox/faults", faults, methods=["POST"]),
        Route("/_sandbox/reset", reset, methods=["POST"]),
        Route("/_sandbox/clock", clock, methods=["POST"]),
    ]
