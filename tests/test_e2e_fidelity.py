"""v2 and v4 clients against the proxy on the sandbox, where published clients found differences."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from mappings import envoys, monthly_production
from tests import support
from tests.support import validate_body

V2_AUTH = {"key": "demo-v2-key", "user_id": "demo-user"}
TEAM = {"Authorization": "Bearer demo-team-key"}  # a read-only team client
EMULATING = support.emulating_client("published-v2-client", "emulating-v2-key")
OLD_CLIENT = {"key": "emulating-v2-key", "user_id": "demo-user"}


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx2.Client]:
    """A client of the proxy on the sandbox; the tenant may make a single write a month."""
    with support.sandbox() as (sandbox_url, _):
        data_dir = Path(tmp_path_factory.mktemp("fidelity"))
        config = support.proxy_config(sandbox_url, data_dir, EMULATING, writes_per_month=1)
        with support.proxy(config) as proxy_url:
            with httpx2.Client(base_url=proxy_url, timeout=30) as c:
                yield c


@pytest.mark.parametrize(
    ("path", "params", "headers"),
    [
        ("/api/v2/systems/", V2_AUTH, {}),
        ("/api/v2/systems/1001/summary/", V2_AUTH, {}),
        ("/api/v2/systems/1002/stats/", V2_AUTH, {}),
        ("/api/v4/systems/1001/summary/", {}, TEAM),
        ("/api/v4/systems/", {}, TEAM),
    ],
)
def test_a_trailing_slash_is_answered_as_without_it(
    client: httpx2.Client, path: str, params: dict[str, str], headers: dict[str, str]
) -> None:
    with_slash = client.get(path, params=params, headers=headers)
    without = client.get(path.rstrip("/"), params=params, headers=headers)
    assert with_slash.status_code == 200, (with_slash.status_code, with_slash.headers)
    assert "location" not in with_slash.headers
    assert with_slash.json() == without.json()


def test_systems_search_is_a_read_for_read_only_clients_and_spends_no_write(
    client: httpx2.Client,
) -> None:
    search = {"system": {"name": "Home"}}
    for _ in range(3):  # more than the tenant's one write a month
        found = client.post("/api/v4/systems/search", json=search, headers=TEAM)
        assert found.status_code == 200, found.text
        assert "systems" in found.json()


def test_get_systems_search_is_not_taken_for_a_system_id(client: httpx2.Client) -> None:
    response = client.get("/api/v4/systems/search", headers=TEAM)
    assert response.status_code == 405
    assert response.json()["code"] == 405


SITE_PATHS = [
    "/api/v4/systems/1002/battery_lifetime",
    "/api/v4/systems/1002/energy_import_lifetime",
    "/api/v4/systems/1002/energy_export_lifetime",
    "/api/v4/systems/1002/energy_import_telemetry",
    "/api/v4/systems/1002/energy_export_telemetry",
    "/api/v4/systems/1002/latest_telemetry",
    "/api/v4/systems/config/1002/battery_settings",
    "/api/v4/systems/config/1002/storm_guard",
    "/api/v4/systems/config/1002/grid_status",
    "/api/v4/systems/config/1002/load_control",
]


def recent_days() -> dict[str, str]:
    """The last ten days: the sandbox simulates battery and grid 15 minutes at a time."""
    today = dt.date.today()
    return {"start_date": (today - dt.timedelta(10)).isoformat()}


@pytest.mark.parametrize("path", SITE_PATHS)
def test_the_broker_serves_every_published_monitoring_get(client: httpx2.Client, path: str) -> None:
    params = recent_days() if path.endswith("lifetime") else {}
    response = client.get(path, headers=TEAM, params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["system_id"] == 1002


def test_grid_and_battery_series_agree_with_production_and_consumption(
    client: httpx2.Client,
) -> None:
    def series(endpoint: str, *names: str) -> list[list[int]]:
        path = f"/api/v4/systems/1002/{endpoint}"
        response = client.get(path, headers=TEAM, params=recent_days())
        assert response.status_code == 200, response.text
        return [response.json()[name] for name in names]

    imported, exported = (
        series("energy_import_lifetime", "import")[0],
        series("energy_export_lifetime", "export")[0],
    )
    charged, discharged = series("battery_lifetime", "charge", "discharge")
    [produced] = series("energy_lifetime", "production")
    [consumed] = series("consumption_lifetime", "consumption")
    assert len(imported) == len(produced) > 0
    for day in range(len(produced)):
        assert imported[day] - exported[day] == (
            consumed[day] - produced[day] + charged[day] - discharged[day]
        )


@pytest.mark.parametrize("endpoint", ["envoys", "monthly_production"])
def test_retired_endpoints_stay_410_by_default(client: httpx2.Client, endpoint: str) -> None:
    params = V2_AUTH | {"start_date": "2025-01-01"}
    response = client.get(f"/api/v2/systems/1002/{endpoint}", params=params)
    assert response.status_code == 410
    assert "Deprecation" in response.headers and "successor-version" in response.headers["Link"]


def test_an_emulating_client_gets_envoys_from_v4_gateways(client: httpx2.Client) -> None:
    response = client.get("/api/v2/systems/1002/envoys", params=OLD_CLIENT)
    assert response.status_code == 200, response.text
    body = response.json()
    validate_body(envoys.RESPONSE, body, exact=True)
    devices = client.get("/api/v4/systems/1002/devices", headers=TEAM).json()["devices"]
    assert [e["serial_number"] for e in body["envoys"]] == [
        g["serial_number"] for g in devices["gateways"]
    ]
    iso = client.get(
        "/api/v2/systems/1002/envoys", params=OLD_CLIENT | {"datetime_format": "iso8601"}
    )
    assert isinstance(iso.json()["envoys"][0]["last_report_at"], str)


def test_an_emulating_client_gets_monthly_production_from_v4(client: httpx2.Client) -> None:
    first = (dt.date.today().replace(day=1) - dt.timedelta(days=40)).replace(day=1)
    params = OLD_CLIENT | {"start_date": first.isoformat()}
    response = client.get("/api/v2/systems/1002/monthly_production", params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    validate_body(monthly_production.RESPONSE, body, exact=True)
    lifetime = client.get(
        "/api/v2/systems/1002/energy_lifetime",
        params=V2_AUTH | {"start_date": body["start_date"], "end_date": body["end_date"]},
    ).json()
    assert body["production_wh"] == sum(lifetime["production"]) > 0
    assert body["meter_readings"]
    assert all(r["end"] - r["start"] == body["production_wh"] for r in body["meter_readings"])
    unfinished = client.get(
        "/api/v2/systems/1002/monthly_production",
        params=OLD_CLIENT | {"start_date": dt.date.today().isoformat()},
    )
    assert unfinished.status_code == 422
