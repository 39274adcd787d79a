"""v2 envoys and monthly_production: retired in v4, answered with a v2-shaped 410."""

from __future__ import annotations

import pytest

from mappings import deprecated
from mappings.base import Endpoint, V2Error
from mappings.registry import ROUTES
from tests.support import request, system, validate

CASES = [
    (
        "/api/v2/systems/{system_id}/envoys",
        deprecated.ENVOYS,
        ["/api/v4/systems/42/devices"],
        "/api/v4/systems/42/devices",
    ),
    (
        "/api/v2/systems/{system_id}/monthly_production",
        deprecated.MONTHLY_PRODUCTION,
        ["/api/v4/systems/42/energy_lifetime", "/api/v4/systems/42/production_meter_readings"],
        "/api/v4/systems/42/energy_lifetime",
    ),
]


@pytest.mark.parametrize(("route", "mapping", "replacements", "successor"), CASES)
def test_plan_raises_410_naming_the_replacement(
    route: str, mapping: Endpoint, replacements: list[str], successor: str
) -> None:
    assert ROUTES[route] is mapping
    with pytest.raises(V2Error) as raised:
        mapping.plan(request(0, start_date="2020-01-01"), system())
    error = raised.value
    assert error.status == 410
    validate(route, 410, error.body)
    assert all(path in error.body["message"][0] for path in replacements)
    headers = dict(error.headers)
    assert headers["Deprecation"].startswith("@")
    assert headers["Link"] == f'<{successor}>; rel="successor-version"'


@pytest.mark.parametrize(("route", "mapping", "replacements", "successor"), CASES)
def test_shape_answers_the_same_410(
    route: str, mapping: Endpoint, replacements: list[str], successor: str
) -> None:
    response = mapping.shape(request(0), None, [])
    assert response.status == 410
    validate(route, 410, response.body)


def test_a_bad_system_id_is_v2_401() -> None:
    with pytest.raises(V2Error) as raised:
        deprecated.ENVOYS.plan(request(0, system_id="x1"), None)
    assert raised.value.status == 401
