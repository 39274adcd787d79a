"""One v4 endpoint table drives the sandbox routes, the broker allow-list, cache and freshness."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx2
import pytest
from starlette.requests import Request
from starlette.routing import Route

from proxy.cache import cache_key, freshness
from proxy.config import Cache
from proxy.sandbox import api, create_app
from proxy.sandbox.gate import Caller
from proxy.v4 import paths
from proxy.v4.paths import TABLE, Freshness, V4Endpoint, WindowKind, WindowRule
from tests import support

TEAM = {"Authorization": "Bearer demo-team-key"}
NOW = 1_764_000_000
DAY = 86_400
WIDGETS = V4Endpoint(
    "widgets",
    "/systems/{system_id}/widgets/{serial_no}",
    freshness=Freshness(ttl=1234),
    window=WindowRule(WindowKind.RANGE, max_age=3 * DAY, max_span=DAY),
    params=("start_at", "end_at"),
)


def widgets(request: Request, caller: Caller) -> dict[str, Any]:
    """The sandbox's answer to the new endpoint."""
    system = caller.system(request.path_params["system_id"])
    return {"system_id": system.system_id, "serial": request.path_params["serial_no"]}


def test_the_sandbox_routes_exactly_the_table_endpoints_it_simulates() -> None:
    routes = [r for r in create_app().routes if isinstance(r, Route)]
    v4 = {r.path.removeprefix("/api/v4"): r.methods for r in routes if r.path.startswith("/api/v4")}
    v4.pop("/{rest:path}")
    assert set(api.HANDLERS) <= {e.name for e in TABLE}
    table = {TABLE[name].template: set(TABLE[name].methods) for name in api.HANDLERS}
    assert {path: support.present(methods) - {"HEAD"} for path, methods in v4.items()} == table


@pytest.mark.parametrize(
    ("path", "name", "params"),
    [
        ("/systems/search", "systems_search", {}),
        ("/systems/retrieve_system_id", "retrieve_system_id", {}),
        ("/systems/1001", "system", {"system_id": "1001"}),
        ("/systems/config/7/tariff", "tariff", {"system_id": "7"}),
        ("/partner/users/self", "partner_self", {}),
        ("/partner/users/u1", "partner_user", {"user_id": "u1"}),
        (
            "/systems/9/devices/acbs/A1/telemetry",
            "acb_telemetry",
            {"system_id": "9", "serial_no": "A1"},
        ),
    ],
)
def test_the_most_literal_template_wins(path: str, name: str, params: dict[str, str]) -> None:
    found = TABLE.find(path)
    assert found is not None
    assert (found.endpoint.name, dict(found.path_params)) == (name, params)


def test_every_windowed_read_defines_its_window_parameters() -> None:
    names = {
        WindowKind.GRANULAR: {"start_at"},
        WindowKind.RANGE: {"start_at", "end_at"},
        WindowKind.UNTIL: {"end_at"},
        WindowKind.DAYS: {"start_date", "end_date"},
    }
    for endpoint in TABLE:
        if endpoint.window is not None:
            assert names[endpoint.window.kind] <= set(endpoint.params), endpoint.name


def test_canonical_windows_are_a_day_of_5_minute_data_and_a_week_of_meter_data() -> None:
    assert support.present(TABLE["production_micro"].window).canonical_span == DAY
    assert support.present(TABLE["consumption_meter"].window).canonical_span == 7 * DAY
    assert TABLE["summary"].window is None


def test_an_endpoint_added_to_the_table_is_allowed_keyed_and_kept_by_its_rules(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = "/systems/1001/widgets/W1"
    assert paths.allowed_methods(path) == ()
    monkeypatch.setattr(paths, "TABLE", TABLE.with_endpoints(WIDGETS))
    assert paths.allowed_methods(path) == ("GET",)
    assert freshness.endpoint_name(path) == "widgets"
    assert cache_key("demo", path, [("start_at", "1")]) == f"v4:demo:1001:{path}?start_at=1"
    settings = Cache(reporting_lag=0, past_ttl=99)
    assert freshness.ttl(path, [], NOW, 200, settings) == 1234
    assert freshness.ttl(path, [("end_at", str(NOW - 10))], NOW, 200, settings) == 99
    old = [("start_at", str(NOW - 4 * DAY))]
    assert "2 years" in support.present(paths.date_problem(path, old, NOW))
    long = [("start_at", str(NOW - 2 * DAY)), ("end_at", str(NOW))]
    assert "one week" in support.present(paths.date_problem(path, long, NOW))


def test_an_endpoint_added_to_the_table_is_served_through_the_broker_and_cached(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(paths, "TABLE", TABLE.with_endpoints(WIDGETS))
    monkeypatch.setitem(api.HANDLERS, "widgets", widgets)
    with (
        support.sandbox() as (sandbox_url, _),
        support.proxy(support.proxy_config(sandbox_url, tmp_path)) as proxy_url,
    ):
        with httpx2.Client(base_url=proxy_url, headers=TEAM, timeout=30) as client:
            first = client.get("/api/v4/systems/1001/widgets/W1")
            second = client.get("/api/v4/systems/1001/widgets/W1")
            refused = client.post("/api/v4/systems/1001/widgets/W1")
        stats = httpx2.get(sandbox_url + "/_sandbox/stats").json()
    assert first.status_code == 200, first.text
    assert first.json() == {"system_id": 1001, "serial": "W1"}
    assert (first.headers["X-Cache"], second.headers["X-Cache"]) == ("MISS", "HIT")
    assert refused.status_code == 405
    assert stats["api_calls_by_path"]["/api/v4/systems/1001/widgets/W1"] == 1
