"""One v4 lifetime reply per system answers every v2 lifetime request, for any dates.

energy_lifetime (with and without production=all), past summaries and monthly_production cut
their days out of ``energy_lifetime?production=all``; consumption_lifetime out of its own
whole-lifetime reply. A cached reply is used whatever its age for days it already held final.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx2

from mappings import consumption_lifetime, energy_lifetime, monthly_production, summary
from mappings.base import Endpoint, V2Request
from proxy.clock import VirtualClock
from proxy.sandbox import SandboxSettings, sandbox_state
from proxy.simulation import SANDBOX_URL, InProcess, in_process
from tests import support
from tests.support import at, validate, validate_body

BERLIN = "Europe/Berlin"
NOW = at("2026-06-10T10:00", BERLIN)
LIFETIME = "/api/v4/systems/1002/energy_lifetime"
CONSUMPTION = "/api/v4/systems/1002/consumption_lifetime"
READINGS = "/api/v4/systems/1002/production_meter_readings"
CLIENTS = support.emulating_client("second", "second-v2-key")
FIRST = {"key": "demo-v2-key", "user_id": "demo-user"}
SECOND = {"key": "second-v2-key", "user_id": "demo-user"}
TEAM = {"Authorization": "Bearer demo-team-key"}

#: (v2 endpoint, query, the v4 queries its answer was planned from before the lifetime was shared)
REQUESTS: list[tuple[Endpoint, dict[str, str], list[tuple[str, dict[str, str]]]]] = (
    [
        (summary.ENDPOINT, {"summary_date": day}, [(LIFETIME, {"end_date": day})])
        for day in ("2026-06-09", "2026-05-20", "2025-12-31")
    ]
    + [
        (energy_lifetime.ENDPOINT, query, [(LIFETIME, query)])
        for query in (
            {"start_date": "2026-06-03", "end_date": "2026-06-09"},
            {"start_date": "2026-05-01", "end_date": "2026-05-31", "production": "all"},
            {"start_date": "2020-01-01", "end_date": "2026-06-30", "production": "all"},
        )
    ]
    + [
        (
            monthly_production.ENDPOINT,
            {"start_date": "2026-04-01"},
            [
                (LIFETIME, {"start_date": "2026-04-01", "end_date": "2026-04-30"}),
                (READINGS, {"end_at": str(at("2026-04-01T00:00", BERLIN))}),
                (READINGS, {"end_at": str(at("2026-05-01T00:00", BERLIN))}),
            ],
        )
    ]
)


def route(endpoint: Endpoint) -> str:
    return endpoint.route.replace("{system_id}", "1002")


async def running(
    data_dir: Path,
    clock: VirtualClock,
    body: Callable[[InProcess], Awaitable[Any]],
    extra: str = "",
) -> Any:
    config = support.proxy_config(SANDBOX_URL, data_dir, CLIENTS + extra)
    async with in_process(config, SandboxSettings(clock=clock), clock=clock) as stack:
        return await body(stack)


def v4_calls(stack: InProcess, path: str) -> int:
    return sandbox_state(stack.sandbox).stats.api_calls_by_path[path]


async def v2(stack: InProcess, endpoint: Endpoint, query: dict[str, str], auth: Any) -> Any:
    reply = await stack.proxy.get(route(endpoint), params={**query, **auth})
    assert reply.status_code == 200, reply.text
    return reply.json()


async def as_before(stack: InProcess, endpoint: Endpoint, query: dict[str, str], old: Any) -> Any:
    """The v2 body from the v4 replies to the calls the mapping planned before (via the broker)."""

    async def v4(path: str, params: dict[str, str]) -> Any:
        reply: httpx2.Response = await stack.proxy.get(path, params=params, headers=TEAM)
        assert reply.status_code == 200, reply.text
        return reply.json()

    system = await v4("/api/v4/systems/1002", {})
    replies = [await v4(path, params) for path, params in old]
    req = V2Request({"system_id": "1002"}, tuple(query.items()), NOW)
    return endpoint.shape(req, system, replies).body


def test_every_lifetime_request_of_a_system_shares_one_v4_call(tmp_path: Path) -> None:
    async def scenario(stack: InProcess) -> tuple[list[Any], dict[str, int]]:
        bodies = [
            await v2(stack, endpoint, query, FIRST if i % 2 else SECOND)
            for i, (endpoint, query, _) in enumerate(REQUESTS)
        ]
        for query in ({"start_date": "2026-06-01"}, {"end_date": "2026-05-15"}, {}):
            await v2(stack, consumption_lifetime.ENDPOINT, query, FIRST)
        counts = {path: v4_calls(stack, path) for path in (LIFETIME, CONSUMPTION, READINGS)}
        return bodies, counts

    bodies, counts = asyncio.run(running(tmp_path, VirtualClock(NOW), scenario))
    assert counts == {LIFETIME: 1, CONSUMPTION: 1, READINGS: 2}
    for (endpoint, _, _), body in zip(REQUESTS, bodies, strict=True):
        if endpoint is monthly_production.ENDPOINT:  # retired: not in the v2 spec
            validate_body(monthly_production.RESPONSE, body, exact=True)
        else:
            validate(endpoint.route, 200, body, exact=True)


def test_each_body_is_the_one_the_dated_v4_calls_gave(tmp_path: Path) -> None:
    async def scenario(stack: InProcess) -> list[tuple[Any, Any]]:
        return [
            (await v2(stack, endpoint, query, SECOND), await as_before(stack, endpoint, query, old))
            for endpoint, query, old in REQUESTS
        ]

    for shared, dated in asyncio.run(running(tmp_path, VirtualClock(NOW), scenario)):
        assert shared == dated


def test_a_reply_holding_the_days_final_is_used_at_any_age(tmp_path: Path) -> None:
    clock = VirtualClock(NOW)
    week = {"start_date": "2026-06-01", "end_date": "2026-06-07"}

    async def scenario(stack: InProcess) -> list[int]:
        async def ask(endpoint: Endpoint, query: dict[str, str], at_local: str) -> int:
            clock.set(at(at_local, BERLIN))
            await v2(stack, endpoint, query, FIRST)
            return v4_calls(stack, LIFETIME)

        return [
            await ask(summary.ENDPOINT, {"summary_date": "2026-06-05"}, "2026-06-10T10:00"),
            # two days on: 06-01..06-09 were final when it was fetched
            await ask(energy_lifetime.ENDPOINT, week, "2026-06-12T10:00"),
            await ask(summary.ENDPOINT, {"summary_date": "2026-06-09"}, "2026-06-12T10:05"),
            # it lacks 06-10 and 06-11, the days up to yesterday: fetched again
            await ask(energy_lifetime.ENDPOINT, {}, "2026-06-12T10:10"),
            await ask(summary.ENDPOINT, {"summary_date": "2026-06-11"}, "2026-06-12T18:00"),
            # just after midnight 06-12 is asked for: fetched; fresh within the hour
            await ask(summary.ENDPOINT, {"summary_date": "2026-06-12"}, "2026-06-13T00:10"),
            await ask(summary.ENDPOINT, {"summary_date": "2026-06-12"}, "2026-06-13T00:40"),
            # within the reporting lag the hourly rule holds; after it, final again
            await ask(summary.ENDPOINT, {"summary_date": "2026-06-12"}, "2026-06-13T01:30"),
            await ask(energy_lifetime.ENDPOINT, week, "2026-06-13T23:00"),
        ]

    inline = "[cache]\nstale_while_revalidate = false\n"  # a refresh is counted when asked
    calls = asyncio.run(running(tmp_path, clock, scenario, inline))
    assert calls == [1, 1, 1, 2, 2, 3, 3, 4, 4]


def test_a_restart_buys_no_day_the_lifetime_held_final(tmp_path: Path) -> None:
    week = {"start_date": "2026-06-01", "end_date": "2026-06-07"}

    async def ask(stack: InProcess) -> int:
        await v2(stack, summary.ENDPOINT, {"summary_date": "2026-06-09"}, FIRST)
        await v2(stack, energy_lifetime.ENDPOINT, week, FIRST)
        return v4_calls(stack, LIFETIME)

    assert asyncio.run(running(tmp_path, VirtualClock(NOW), ask)) == 1
    later = VirtualClock(NOW + 86_400)  # a new process, the same data_dir
    assert asyncio.run(running(tmp_path, later, ask)) == 0
