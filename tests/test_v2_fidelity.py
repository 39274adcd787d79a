"""Answers as the live v2 API gave them, where the proxy's first answers differed (issue 13)."""

from __future__ import annotations

from typing import Any

import pytest

from mappings import (
    consumption_lifetime,
    consumption_stats,
    energy_lifetime,
    inventory,
    production_meter_readings,
    rgm_stats,
    stats,
    summary,
    systems,
)
from mappings.base import Endpoint, V2Request, V2Response, V4Call
from proxy import freshness
from tests.v2schema import validate
from tests.v4replies import at, meta, request, system, telemetry

LA = "America/Los_Angeles"
NOW = at("2026-03-08T12:00", LA)
MILLISECONDS = 1796013037000  # an int64 epoch v4 allows that no calendar date matches


def v4_reply(call: V4Call, details: dict[str, Any]) -> Any:
    """A schema-valid v4 body for ``call`` whose times are the system's ``details``."""
    times = {key: details[key] for key in ("last_report_at", "last_energy_at", "operational_at")}
    lifetime = {"system_id": 42, "start_date": "2026-03-01", "meta": meta() | times}
    bodies = {
        "summary": {"energy_today": 5, "energy_lifetime": 50, "status": "normal"}
        | {"last_interval_end_at": details["last_energy_at"], **times},
        "devices": {
            "devices": {"micros": [{"serial_number": "1", "last_report_at": MILLISECONDS}]}
        },
        "energy_lifetime": lifetime | {"production": [1] * 7},
        "consumption_lifetime": lifetime | {"consumption": [1] * 7},
        "production_meter_readings": {
            "meter_readings": [{"serial_number": "m", "value": 3, "read_at": NOW - 900}],
            "meta": times,
        },
        "rgm_stats": {"intervals": [], "meta": times},
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
    response = answer(endpoint, req, details)
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
