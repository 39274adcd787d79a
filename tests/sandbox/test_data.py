"""Property tests of the simulated data: sums, night, meters, battery, speed."""

from __future__ import annotations

import asyncio
import time
from datetime import date, datetime, timedelta
from typing import Any

import httpx2
from hypothesis import given, settings
from hypothesis import strategies as st

from proxy.sandbox import DEMO, SandboxSettings, create_app, data
from proxy.sandbox.localtime import zone
from proxy.sandbox.systems import System, build_systems

from .conftest import NOW, fixed_clock

SYSTEMS = build_systems(NOW)
TODAY = date(2026, 6, 21)


@st.composite
def system_days(draw: st.DrawFn) -> tuple[System, date]:
    """A demo or fleet system and one of its reported days within the last two years."""
    system = SYSTEMS[draw(st.sampled_from(sorted(SYSTEMS)))]
    first = max(system.operational_date, TODAY - timedelta(729))
    return system, first + timedelta(draw(st.integers(0, (TODAY - first).days - 1)))


def local_hour(system: System, epoch: int) -> float:
    moment = datetime.fromtimestamp(epoch, zone(system.timezone))
    return moment.hour + moment.minute / 60


@settings(max_examples=150, deadline=None)
@given(system_days())
def test_micro_intervals_sum_to_the_day_and_are_dark_at_night(case: tuple[System, date]) -> None:
    system, day = case
    rows = data.production_micro_day(system, day)
    assert sum(r["enwh"] for r in rows) == data.day_energy(system, day, data.MICRO)
    assert all(r["end_at"] % 300 == 0 and r["powr"] == 12 * r["enwh"] >= 0 for r in rows)
    for r in rows:
        hour = local_hour(system, r["end_at"] - 150)
        if hour < 3.5 or hour > 22.5:
            assert r["enwh"] == 0, (system.system_id, day, hour)
    assert max(r["enwh"] for r in rows) <= system.micro_count * system.micro_watts / 12


@settings(max_examples=100, deadline=None)
@given(system_days())
def test_meters_sum_to_their_day_totals(case: tuple[System, date]) -> None:
    system, day = case
    produced = data.production_meter_day(system, day)
    consumed = data.consumption_meter_day(system, day)
    assert sum(r["wh_del"] for r in produced) == data.day_energy(system, day, data.METER)
    assert sum(r["enwh"] for r in consumed) == data.day_energy(system, day, data.CONSUMPTION)
    assert all(r["enwh"] > 0 for r in consumed)
    assert all(r["end_at"] % 900 == 0 for r in produced + consumed)
    micro = data.day_energy(system, day, data.MICRO)
    assert (
        abs(data.day_energy(system, day, data.METER) - micro) <= 0.05 * micro + 1 or system.sparse
    )


@settings(max_examples=50, deadline=None)
@given(st.sampled_from([s for s in SYSTEMS.values() if s.encharge_count]), st.integers(0, 700))
def test_battery_is_plausible(system: System, back: int) -> None:
    day = max(system.operational_date, TODAY - timedelta(back))
    for row in data.battery_day(system, day):
        assert 0 <= row["soc"]["percent"] <= 100
        assert row["charge"]["enwh"] >= 0 and row["discharge"]["enwh"] >= 0
        assert not (row["charge"]["enwh"] and row["discharge"]["enwh"])


def test_a_day_is_fast() -> None:
    system = SYSTEMS[1004]
    started = time.perf_counter()
    for n in range(20):
        data.production_micro_day(system, date(2025, 1, 1) + timedelta(n))
    assert (time.perf_counter() - started) / 20 < 0.01


def test_data_is_deterministic_across_apps() -> None:
    again = build_systems(NOW)
    day = TODAY - timedelta(3)
    for system_id in (1001, 1003, 3042):
        assert data.production_micro_day(again[system_id], day) == data.production_micro_day(
            SYSTEMS[system_id], day
        )


@settings(max_examples=15, deadline=None)
@given(st.sampled_from(DEMO.system_ids), st.integers(1, 700))
def test_http_energy_lifetime_matches_production_micro(system_id: int, back: int) -> None:
    app = create_app(SandboxSettings(clock=fixed_clock))

    async def fetch() -> tuple[dict[str, Any], dict[str, Any]]:
        transport = httpx2.ASGITransport(app=app)
        async with httpx2.AsyncClient(transport=transport, base_url="http://sandbox") as client:
            grant = {"grant_type": "password", "username": DEMO.username, "password": DEMO.password}
            auth = (DEMO.client_id, DEMO.client_secret)
            token = (await client.post("/oauth/token", params=grant, auth=auth)).json()
            headers = {"Authorization": f"Bearer {token['access_token']}"}
            system = (
                await client.get(
                    f"/api/v4/systems/{system_id}", params={"key": DEMO.api_key}, headers=headers
                )
            ).json()
            day = max(date.fromisoformat(system["interconnect_date"]), TODAY - timedelta(back))
            params = {
                "key": DEMO.api_key,
                "start_date": str(day),
                "end_date": str(day),
                "production": "all",
            }
            lifetime = await client.get(
                f"/api/v4/systems/{system_id}/energy_lifetime", params=params, headers=headers
            )
            params = {"key": DEMO.api_key, "start_date": str(day)}
            micro = await client.get(
                f"/api/v4/systems/{system_id}/telemetry/production_micro",
                params=params,
                headers=headers,
            )
            return lifetime.json(), micro.json()

    lifetime, micro = asyncio.run(fetch())
    assert lifetime["micro_production"] == [sum(i["enwh"] for i in micro["intervals"])]
