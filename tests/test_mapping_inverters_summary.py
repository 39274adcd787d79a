"""inverters_summary_by_envoy_or_site: v4 ISO report dates and bare numbers in v2's shape."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from mappings import inverters_summary
from mappings.base import V2Error, V2Request
from proxy.v4 import shapes
from tests.support import validate

NOW = 1718452800


def request(**query: str) -> V2Request:
    return V2Request({}, tuple(query.items()), NOW)


def micro(serial: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": 1059689835,
        "serial_number": serial,
        "model": "M215",
        "part_number": "800-00107-r01",
        "sku": "M215-60-2LL-S22-NA",
        "status": "normal",
        "power_produced": {"value": 96, "units": "W", "precision": 0},
        "proc_load": "521-00005-r00-v02.32.01",
        "param_table": "549-00018-r00-v02.32.01",
        "envoy_serial_number": "121842012242",
        "energy": {"value": 232, "units": "Wh", "precision": 0},
        "grid_profile": "57227c50e4d7973ae602c4e6",
        "last_report_date": "2020-09-18T11:17:23-04:00",
        **fields,
    }


def reply() -> list[dict[str, Any]]:
    """The v4 spec's example: the second micro reports ``power_produced`` as a bare number."""
    return [
        {
            "signal_strength": 5,
            "micro_inverters": [
                micro("688346865858"),
                micro("686868727227", power_produced=20, energy=120, status="comm"),
            ],
        }
    ]


def test_plan_passes_site_id() -> None:
    [call] = inverters_summary.plan(request(site_id="66"), None)
    assert call.path == "/systems/inverters_summary_by_envoy_or_site"
    assert call.params == (("site_id", "66"),)


def test_plan_accepts_an_envoy_serial_number() -> None:
    [call] = inverters_summary.plan(request(envoy_serial_number="121842012242"), None)
    assert call.params == (("envoy_serial_number", "121842012242"),)
    [call] = inverters_summary.plan(request(envoy_serial_no="121842012242"), None)
    assert call.params == (("envoy_serial_number", "121842012242"),)


@pytest.mark.parametrize("query", [{}, {"site_id": ""}, {"site_id": "abc"}, {"site_id": "-1"}])
def test_missing_or_malformed_site_id_is_422(query: dict[str, str]) -> None:
    with pytest.raises(V2Error) as caught:
        inverters_summary.plan(request(**query), None)
    assert caught.value.status == 422
    validate(inverters_summary.ROUTE, 422, caught.value.body)


def test_shape_converts_report_dates_to_epochs_and_numbers_to_objects() -> None:
    body = inverters_summary.shape(request(site_id="66"), None, [reply()]).body
    epoch = int(dt.datetime(2020, 9, 18, 15, 17, 23, tzinfo=dt.UTC).timestamp())
    first, second = body[0]["micro_inverters"]
    assert body[0]["signal_strength"] == 5
    assert first == {**micro("688346865858"), "last_report_date": epoch}
    assert second["power_produced"] == {"value": 20, "units": "W", "precision": 0}
    assert second["energy"] == {"value": 120, "units": "Wh", "precision": 0}
    assert second["status"] == "micro"
    assert second["last_report_date"] == epoch
    validate(inverters_summary.ROUTE, 200, body)


def test_missing_report_date_stays_null_and_kj_units_are_kept() -> None:
    item = micro("1", last_report_date=None, energy={"value": 7, "units": "kJ"})
    envoys = [{"signal_strength": 0, "micro_inverters": [item]}]
    body = inverters_summary.shape(request(site_id="66"), None, [envoys])
    [converted] = body.body[0]["micro_inverters"]
    assert converted["last_report_date"] is None
    assert converted["energy"] == {"value": 7, "units": "kJ", "precision": 0}


def test_iso8601_keeps_the_site_local_report_date() -> None:
    req = request(site_id="66", datetime_format="iso8601")
    body = inverters_summary.shape(req, None, [reply()]).body
    assert body[0]["micro_inverters"][0]["last_report_date"] == "2020-09-18T11:17:23-04:00"


@pytest.mark.parametrize("body", [{"oops": 1}, [1, 2], [{"micro_inverters": "x"}]])
def test_unexpected_v4_body_is_an_upstream_failure(body: Any) -> None:
    assert not shapes.usable("inverters_summary", body)


@pytest.mark.parametrize(
    "item",
    [
        {},  # no signal_strength: never a 0 in its place
        {"signal_strength": 3, "micro_inverters": [micro("1", status=None)]},
        {"signal_strength": 3, "micro_inverters": [micro("1", status="sleeping")]},
        {"signal_strength": 3, "micro_inverters": [micro("1", power_produced={"value": 2})]},
        {"signal_strength": 3, "micro_inverters": [micro("1", last_report_date="soon")]},
        *(
            {"signal_strength": 3, "micro_inverters": [micro("1", **{field: quantity})]}
            for field, quantity in (
                ("power_produced", {"value": 2, "units": "kW", "precision": 0}),
                ("energy", {"value": 2, "units": "kWh", "precision": 0}),
            )
        ),
    ],
)
def test_data_v2_cannot_carry_is_a_503_not_an_invented_value(item: dict[str, Any]) -> None:
    with pytest.raises(V2Error) as refused:
        inverters_summary.shape(request(site_id="66"), None, [[item]])
    assert refused.value.status == 503
