"""Usage limits (429) and injected faults over real HTTP; fault controls in-process."""

from __future__ import annotations

import asyncio
import time

import httpx2
import pytest

from proxy.sandbox import DEMO, App, SandboxSettings, create_app, sandbox_state

from .conftest import NOW, Api, fixed_clock, password_token

WATT = (DEMO.watt_client_id, DEMO.watt_client_secret)


def test_watt_plan_minute_limit(http: httpx2.Client, api: Api) -> None:
    token = password_token(http, app=WATT)["access_token"]
    statuses = [api("/systems", token=token, key=DEMO.watt_api_key).status_code for _ in range(11)]
    assert statuses == [200] * 10 + [429]
    body = api("/systems", token=token, key=DEMO.watt_api_key).json()
    minute = NOW // 60 * 60
    assert body == {
        "message": "Too Many Requests",
        "details": "Usage limit exceeded for plan Watt",
        "code": 429,
        "period": "minute",
        "period_start": minute,
        "period_end": minute + 60,
        "limit": 10,
    }
    assert http.get("/_sandbox/stats").json()["rate_limited"] == 2
    http.post("/_sandbox/clock", json={"offset": 60})
    assert api("/systems", token=token, key=DEMO.watt_api_key).status_code == 200


def test_force_429_and_reset(http: httpx2.Client, api: Api) -> None:
    http.post("/_sandbox/faults", json={"force_429": True})
    limited = api("/systems")
    assert limited.status_code == 429
    assert limited.json()["details"] == "Usage limit exceeded for plan Kilowatt"
    assert http.post("/oauth/token", params={"grant_type": "x"}, auth=WATT).status_code == 400
    http.post("/_sandbox/reset")
    assert api("/systems").status_code == 200


@pytest.mark.parametrize("fields", [{"colour": 1}, {"latency": "slow"}, {"force_429": 1}])
def test_bad_fault_fields_are_refused(http: httpx2.Client, fields: dict[str, object]) -> None:
    assert http.post("/_sandbox/faults", json=fields).status_code == 400


def test_error_rate_gives_v4_5xx_bodies_but_spares_oauth(http: httpx2.Client, api: Api) -> None:
    http.post("/_sandbox/faults", json={"error_rate": 1.0})
    bodies = [api("/systems/1001") for _ in range(20)]
    assert {r.status_code for r in bodies} == {500, 503}
    for response in bodies:
        if response.status_code == 500:
            assert response.json()["message"] == "Internal Server Error"
            assert response.json()["code"] == 500
        else:
            assert response.json() == {
                "errorCode": 7,
                "errorMessages": ["Data is temporarily unavailable"],
            }
    assert password_token(http)["access_token"]
    assert http.get("/_sandbox/stats").status_code == 200


def test_latency_and_timeouts(http: httpx2.Client, api: Api) -> None:
    http.post("/_sandbox/faults", json={"latency": 0.2})
    started = time.monotonic()
    assert api("/systems/1001").status_code == 200
    assert time.monotonic() - started >= 0.2
    http.post("/_sandbox/faults", json={"latency": 0.0, "timeout_rate": 1.0, "timeout_hang": 0.3})
    with pytest.raises(httpx2.ReadTimeout):
        api("/systems/1001", timeout=0.1)
    assert api("/systems/1001").status_code == 504


def test_month_limit_in_process() -> None:
    app_ = App("tiny", "tiny-secret", "tiny-key", "Watt", per_minute=100, per_month=3)
    app = create_app(SandboxSettings(apps=[app_], clock=fixed_clock))

    async def run() -> list[httpx2.Response]:
        transport = httpx2.ASGITransport(app=app)
        async with httpx2.AsyncClient(transport=transport, base_url="http://sandbox") as client:
            grant = {"grant_type": "password", "username": DEMO.username, "password": DEMO.password}
            token = await client.post("/oauth/token", params=grant, auth=("tiny", "tiny-secret"))
            headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
            return [
                await client.get("/api/v4/systems", params={"key": "tiny-key"}, headers=headers)
                for _ in range(4)
            ]

    responses = asyncio.run(run())
    assert [r.status_code for r in responses] == [200, 200, 200, 429]
    body = responses[-1].json()
    assert (body["period"], body["limit"]) == ("month", 3)
    assert body["period_start"] == 1780272000  # 2026-06-01T00:00Z
    assert body["period_end"] == 1782864000  # 2026-07-01T00:00Z


def test_state_helpers_in_process() -> None:
    app = create_app(SandboxSettings(clock=fixed_clock))
    state = sandbox_state(app)
    state.set_faults(error_rate=0.5)
    state.shift_clock(120)
    assert state.now() == NOW + 120
    state.reset()
    assert (state.faults.error_rate, state.now()) == (0.0, NOW)
