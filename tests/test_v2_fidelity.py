"""Answers as the live v2 API gave them, where the proxy's first answers differed (issue 13)."""

from __future__ import annotations

from typing import Any

import pytest

from mappings import (
    consumption_lifetime,
    consumption_stats,
    energy_lifetime,
    errors,
    inventory,
    inverters_summary,
    production_meter_readings,
    rgm_stats,
    search_system_id,
    stats,
    summary,
    systems,
)
from mappings.base import Endpoint, V2Error, V2Request, V2Response, V4Call
from proxy.cache import freshness
from tests.support import at, meta, request, system, telemetry, validate

LA = "America/Los_Angeles"
NOW = at("2026-03-08T12:00", LA)
MILLISECONDS = 1796013037000  # an int64 epoch v4 allows that no calendar date matches


def v4_reply(call: V4Call, details: dict[str, Any]) -> Any:
    """A schema-valid v4 body for ``call`` whose times are the system's ``details``."""
    times = {key: details[key] for key in ("last_report_at", "last_energy_at", "operational_at")}
    lifetime = {"system_id": 42, "start_date": "2026-03-01", "meta": meta() | times}
    bodies = {
        "summary": {"energy_today": 5, "energy_lifetime": 50, "status": "normal"}
        | {"current_power": 0, "modules": 3, "size_w": 900, "source": "microinverters"}
        | {"last_interval_end_at": details["last_energy_at"], **times},
        "devices": {
            "devices": {"micros": [{"serial_number": "1", "last_report_at": MILLISECONDS}]}
        },
        "energy_lifetime": lifetime | {"production": [1] * 7},
        "consumption_lifetime": lifetime | {"consumption": [1] * 7},
        "production_meter_readings": {
            "meter_readings": [{"serial_number": "m", "value": 3, "read_at": NOW - 900}],
            "meta": meta() | times,
        },
        "rgm_stats": {"intervals": [], "total_devices": 1, "meta": meta() | times},
        "systems": {"systems": [details], "total": 1},
    }
    name = freshness.endpoint_name(call.path)
    if name in ("production_micro", "consumption_meter"):
        return telemetry(call, NOW, 900, ("powr", "enwh")) | {"meta": times}
    return bodies[name]


def answer(endpoint: Endpoint, req: V2Request, details: dict[str, Any]) -> V2Response:
    """Plan, answer each call with ``v4_reply``, follow and shape, as the service does."""
    known = details if endpoint.needs_system(req) else None
    replies = [v4_reply(call, details) for call in endpoint.plan(req, known)]
    more = endpoint.follow(req, known, replies) if endpoint.follow else []
    replies += [v4_reply(call, details) for call in more]
    return endpoint.shape(req, known, replies)


EVERY_SYSTEM_ROUTE = [
    module.ENDPOINT
    for module in (
        stats,
        consumption_stats,
        inventory,
        summary,
        energy_lifetime,
        consumption_lifetime,
        production_meter_readings,
        rgm_stats,
        systems,
    )
]


@pytest.mark.parametrize("endpoint", EVERY_SYSTEM_ROUTE, ids=lambda e: e.route.rsplit("/")[-1])
@pytest.mark.parametrize("iso", [True, False], ids=["iso8601", "epochs"])
def test_an_epoch_in_milliseconds_is_answered_not_a_500(endpoint: Endpoint, iso: bool) -> None:
    details = system(LA) | {"last_report_at": MILLISECONDS}
    req = request(NOW, **({"datetime_format": "iso8601"} if iso else {}))
    try:
        response = answer(endpoint, req, details)
    except V2Error as error:  # iso8601: v2 promises a string no calendar date can give
        assert iso and error.status == 503, error.body
        return
    assert response.status == 200
    validate(endpoint.route, 200, response.body, exact=True)
    assert MILLISECONDS in _values(response.body)  # passed on as it came, never guessed at


def _values(body: Any) -> list[Any]:
    if isinstance(body, dict):
        return [v for value in body.values() for v in _values(value)]
    if isinstance(body, list):
        return [v for value in body for v in _values(value)]
    return [body]


def test_summary_energy_lifetime_excludes_today_as_v2s_did() -> None:
    response = answer(summary.ENDPOINT, request(NOW), system(LA))
    assert response.body["energy_today"] == 5
    assert response.body["energy_lifetime"] == 50 - 5


def test_422_puts_the_text_in_reason_as_v2_did() -> None:
    today = "2026-03-08"
    with pytest.raises(V2Error) as invalid:
        answer(energy_lifetime.ENDPOINT, request(NOW, start_date=today, end_date="2026-03-01"), {})
    assert invalid.value.status == 422
    assert invalid.value.body["reason"] == invalid.value.body["message"] != "422"
    with pytest.raises(V2Error) as site:
        inverters_summary.ENDPOINT.plan(V2Request({}, (("site_id", "-1"),), NOW), None)
    assert site.value.status == 422
    assert site.value.body["message"] == "Couldn't find Site with 'id'=-1"


def test_an_unknown_site_is_v2s_422_not_found_text() -> None:
    [call] = inverters_summary.ENDPOINT.plan(V2Request({}, (("site_id", "77"),), NOW), None)
    error = errors.from_v4(404, {"message": "Not Found", "details": "Site not found"}, None, call)
    assert (error.status, error.body["message"]) == (422, "Couldn't find Site with 'id'=77")


def test_an_upstream_405_is_text_not_a_python_list() -> None:
    error = errors.from_v4(405, {"message": ["Method not allowed"], "code": 405})
    assert error.body["message"] == "Method not allowed"


@pytest.mark.parametrize(
    "path",
    ["/systems/42", "/systems/42/summary", "/systems/42/telemetry/production_micro"],
)
def test_an_unknown_or_foreign_system_is_v2s_401(path: str) -> None:
    ruby = {"message": "Not Found", "details": '{:system_id=>"42"} not found', "code": 404}
    error = errors.from_v4(404, ruby, None, V4Call(path))
    assert error.status == 401
    assert error.body == {"reason": "401", "message": [errors.NOT_AUTHORIZED]}
    with pytest.raises(V2Error) as malformed:
        stats.ENDPOINT.plan(request(NOW, system_id="abc"), system(LA))
    assert malformed.value.status == 401


def test_an_unknown_serial_is_v2s_404_body() -> None:
    [call] = search_system_id.ENDPOINT.plan(V2Request({}, (("serial_num", "dummy"),), NOW), None)
    error = errors.from_v4(404, {"message": "Not Found", "details": "System not found"}, None, call)
    assert (error.status, error.body) == (
        404,
        {"reason": "404", "errorMessages": ["Envoy not found with this serial number"]},
    )


def test_consumption_lifetime_without_a_consumption_meter_is_204() -> None:
    reply = {"system_id": 42, "start_date": "2026-03-01", "consumption": [], "meta": meta()}
    req = request(NOW, end_date="2026-03-07")
    response = consumption_lifetime.ENDPOINT.shape(req, None, [reply])
    assert (response.status, response.body) == (204, None)


def test_usage_limit_names_the_plan_as_enphase_writes_it() -> None:
    error = errors.usage_limit("watt", "minute", 0, 60, 10)
    assert error.body["message"] == ["Usage limit exceeded for plan Watt"]


@pytest.mark.parametrize("endpoint", [stats.ENDPOINT, rgm_stats.ENDPOINT], ids=["stats", "rgm"])
def test_a_window_after_the_last_reported_interval_is_v2s_422(endpoint: Endpoint) -> None:
    details = system(LA) | {"last_energy_at": NOW - 3 * 3600}
    start = NOW - 3600
    with pytest.raises(V2Error) as late:
        endpoint.plan(request(NOW, start_at=str(start)), details)
    assert late.value.status == 422
    body = late.value.body
    assert (body["start_at"], body["last_interval"]) == (start, details["last_energy_at"])
    validate(endpoint.route, 422, body, exact=True)
