"""The v2 OpenAPI document: complete, resolvable, and usable to validate v2 bodies."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openapi_spec_validator
import pytest
from jsonschema import Draft7Validator, ValidationError

from mappings import stats
from mappings.base import Endpoint
from mappings.openapi import OPENAPI, document
from mappings.registry import ENDPOINTS, ROUTES
from mappings.schema import INTEGER, array, obj
from proxy.http import v2_routes
from tests.support import as_json_schema, proxy_config, validate

ERROR_STATUSES = {"401", "404", "409", "422", "503"}


def refs(node: Any) -> Iterator[str]:
    """Every ``$ref`` in ``node``."""
    if isinstance(node, dict):
        if "$ref" in node:
            yield node["$ref"]
        for value in node.values():
            yield from refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from refs(value)


def resolve(pointer: str) -> Any:
    node: Any = OPENAPI
    for part in pointer.removeprefix("#/").split("/"):
        node = node[part]
    return node


def unused() -> v2_routes.Answering:
    """The services of routes that answer no request here."""
    raise AssertionError("no request is answered")


def test_the_document_and_the_service_routes_are_the_registered_endpoints(tmp_path: Path) -> None:
    assert set(OPENAPI["paths"]) == set(ROUTES)
    config = proxy_config("http://127.0.0.1:9", tmp_path)
    assert {route.path for route in v2_routes.routes(config, unused)} == set(ROUTES)


def test_an_endpoint_added_to_the_registry_is_documented_with_its_schema() -> None:
    widgets = Endpoint(
        "/api/v2/systems/{system_id}/widgets",
        stats.plan,
        stats.shape,
        "Widgets",
        "Widgets of the system.",
        obj({"widgets": array(INTEGER)}, ("widgets",)),
        ("SystemId",),
    )
    doc = document([*ENDPOINTS, widgets])
    assert set(doc["paths"]) == {*ROUTES, widgets.route}
    get = doc["paths"][widgets.route]["get"]
    assert get["operationId"] == "Widgets"
    schema = get["responses"]["200"]["content"]["application/json"]["schema"]
    assert doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]] == widgets.response
    openapi_spec_validator.validate(doc)


def test_document_is_json_and_valid_openapi_30() -> None:
    assert json.loads(json.dumps(OPENAPI)) == OPENAPI
    assert OPENAPI["openapi"].startswith("3.0.")
    openapi_spec_validator.validate(OPENAPI)


def test_every_ref_resolves() -> None:
    found = list(refs(OPENAPI))
    assert found
    for pointer in found:
        assert pointer.startswith("#/components/")
        assert isinstance(resolve(pointer), dict), pointer


@pytest.mark.parametrize("route", sorted(ROUTES))
def test_every_route_documents_its_answer_errors_and_common_parameters(route: str) -> None:
    get = OPENAPI["paths"][route]["get"]
    statuses = set(get["responses"])
    assert statuses >= ERROR_STATUSES
    assert ("410" in statuses) == get.get("deprecated", False) == ("200" not in statuses)
    params = [resolve(p["$ref"]) if "$ref" in p else p for p in get["parameters"]]
    assert {"key", "user_id", "datetime_format"} <= {p["name"] for p in params}
    in_path = {p["name"] for p in params if p["in"] == "path"}
    assert in_path == ({"system_id"} if "{system_id}" in route else set())


@pytest.mark.parametrize("name", sorted(OPENAPI["components"]["schemas"]))
def test_every_schema_is_valid_json_schema(name: str) -> None:
    Draft7Validator.check_schema(as_json_schema(OPENAPI["components"]["schemas"][name]))


def test_v2s_documented_examples_validate() -> None:
    meta = {
        "status": "normal",
        "last_report_at": 1445619615,
        "last_energy_at": 1445619033,
        "operational_at": 1357023600,
    }
    validate(
        "/api/v2/systems/{system_id}/stats",
        200,
        {
            "system_id": 1765,
            "total_devices": 31,
            "meta": meta,
            "intervals": [{"end_at": 1381496400, "powr": 173, "enwh": 14, "devices_reporting": 27}],
        },
    )
    validate(
        "/api/v2/systems/{system_id}/summary",
        200,
        {
            "current_power": 3322,
            "energy_lifetime": 19050353,
            "energy_today": 25639,
            "last_interval_end_at": 1380632400,
            "last_report_at": 1380632791,
            "modules": 31,
            "operational_at": 1201362300,
            "size_w": 5250,
            "source": "microinverters",
            "status": "normal",
            "summary_date": "2014-01-06",
            "system_id": 123,
        },
    )
    validate(
        "/api/v2/systems/{system_id}/production_meter_readings",
        200,
        {
            "system_id": 66,
            "meter_readings": [
                {"serial_number": "123123123123EIM1", "value": 6180635, "read_at": 1473901200}
            ],
            "meta": meta,
        },
    )
    validate("/api/v2/systems/{system_id}/energy_lifetime", 204, None)


STATS = "/api/v2/systems/{system_id}/stats"
GOOD_STATS: dict[str, Any] = {
    "system_id": 1,
    "total_devices": 0,
    "meta": {
        "status": "normal",
        "last_report_at": "2026-03-08T00:05:00-08:00",
        "last_energy_at": None,
        "operational_at": 1,
    },
    "intervals": [],
}


@pytest.mark.parametrize(
    "body",
    [
        GOOD_STATS | {"extra": 1},
        GOOD_STATS | {"meta": GOOD_STATS["meta"] | {"status": "encharge"}},
        GOOD_STATS
        | {"intervals": [{"end_at": "yesterday", "powr": 1, "enwh": 1, "devices_reporting": 1}]},
        GOOD_STATS | {"intervals": [{"end_at": 1, "powr": 1, "enwh": 1}]},
        {k: v for k, v in GOOD_STATS.items() if k != "meta"},
    ],
)
def test_validate_rejects_bodies_v2_clients_would_not_parse(body: dict[str, Any]) -> None:
    validate(STATS, 200, GOOD_STATS)
    with pytest.raises(ValidationError):
        validate(STATS, 200, body)


def test_validate_rejects_undocumented_routes_statuses_and_bodies_of_204() -> None:
    with pytest.raises(KeyError):
        validate("/api/v2/systems/{system_id}/nope", 200, {})
    with pytest.raises(KeyError):
        validate(STATS, 500, {})
    with pytest.raises(AssertionError):
        validate("/api/v2/systems/{system_id}/consumption_lifetime", 204, {"x": 1})
