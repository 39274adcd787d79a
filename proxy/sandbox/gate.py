"""The door every /api/v4 call goes through: API key, usage limits, bearer token, faults."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .errors import ApiError, not_found
from .faults import delay, failure
from .settings import User
from .state import SandboxState
from .systems import System


@dataclass(frozen=True)
class Caller:
    """An authorized v4 call: the sandbox state, the token's user and the clock reading."""

    state: SandboxState
    user: User
    now: float

    def systems(self) -> list[System]:
        """The systems this user may see."""
        return [self.state.systems[i] for i in self.user.system_ids if i in self.state.systems]

    def system(self, raw_id: str) -> System:
        """The visible system with id ``raw_id``, or 404 as a stranger would see."""
        system_id = int(raw_id) if raw_id.isascii() and raw_id.isdigit() else None
        if system_id not in self.user.system_ids or system_id not in self.state.systems:
            raise not_found("System", id=raw_id)
        return self.state.systems[system_id]


def _authorize(state: SandboxState, request: Request) -> Caller:
    """The caller behind a request's key and bearer token, or 401/429."""
    now = state.now()
    app = state.app_by_key(request.query_params.get("key", ""))
    if app is None:
        raise ApiError(401, "Invalid or missing API key")
    faults = state.faults
    over = state.limiter.hit(app, now, faults.force_429, faults.force_429_period)
    if over is not None:
        state.stats.rate_limited += 1
        raise ApiError(429, f"Usage limit exceeded for plan {app.plan}", **over)
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    grant = state.tokens.access_grant(token) if scheme.lower() == "bearer" else None
    if grant is None:
        raise ApiError(401, "User is not authorized")
    if grant.expires_at <= now:
        raise ApiError(401, "Access token has expired")
    if grant.client_id != app.client_id:
        raise ApiError(401, "Access token was not issued to this API key's application")
    user = state.user(grant.username)
    if user is None:
        raise ApiError(401, "User is not authorized")
    return Caller(state, user, now)


def v4(handler: Callable[[Request, Caller], Any]) -> Callable[[Request], Any]:
    """Wrap a handler returning a JSON-able body with auth, limits, faults and counting."""

    @wraps(handler)
    async def endpoint(request: Request) -> Response:
        state: SandboxState = request.app.state.sandbox
        state.stats.api_calls += 1
        state.stats.api_calls_by_path[request.url.path] += 1
        call: dict[str, str | int | None] = {
            "method": request.method,
            "path": request.url.path,
            "query": str(request.query_params),
            "request_id": request.headers.get("x-request-id"),
        }
        state.stats.recent_calls.append(call)
        response = await _answer(state, request, handler)
        call["status"] = response.status_code
        return response

    return endpoint


async def _answer(
    state: SandboxState, request: Request, handler: Callable[[Request, Caller], Any]
) -> Response:
    """Run the gate, the faults and the handler; v4 errors become their JSON bodies."""
    try:
        await delay(state.faults)
        caller = _authorize(state, request)
        injected = await failure(state.faults, state.rng)
        if injected is not None:
            return injected
        body = handler(request, caller)
        if inspect.isawaitable(body):
            body = await body
    except ApiError as error:
        return error.response()
    return body if isinstance(body, Response) else JSONResponse(body)
