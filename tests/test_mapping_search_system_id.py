"""v2 search_system_id from v4 retrieve_system_id."""

from __future__ import annotations

import pytest

from mappings import errors, search_system_id
from mappings.base import V2Error, V4Call
from tests.support import request, validate

ROUTE = "/api/v2/systems/search_system_id"


def lookup(**query: str) -> list[V4Call]:
    return search_system_id.plan(request(0, **query), None)


def test_plan_passes_the_serial_number_on() -> None:
    assert lookup(serial_num=" 121842012242 ") == [
        V4Call("/systems/retrieve_system_id", (("serial_num", "121842012242"),))
    ]


@pytest.mark.parametrize("query", [{}, {"serial_num": ""}, {"serial_num": "   "}])
def test_missing_serial_number_is_v2_422(query: dict[str, str]) -> None:
    with pytest.raises(V2Error) as raised:
        lookup(**query)
    assert raised.value.status == 422
    validate(ROUTE, 422, raised.value.body)
    assert "serial" in raised.value.body["message"]


def test_found_system_id() -> None:
    response = search_system_id.shape(request(0, serial_num="1"), None, [{"system_id": 123}])
    assert (response.status, response.body) == (200, {"system_id": 123})
    validate(ROUTE, 200, response.body)


@pytest.mark.parametrize("reply", [{}, {"system_id": None}, {"system_id": "123"}, [], None])
def test_reply_without_a_system_id_is_v2_404(reply: object) -> None:
    response = search_system_id.shape(request(0, serial_num="1"), None, [reply])
    assert response.status == 404
    validate(ROUTE, 404, response.body)


@pytest.mark.parametrize(
    ("v4_body", "message"),
    [
        (
            {
                "message": "Not Found",
                "details": "Envoy not found with this serial number",
                "code": 404,
            },
            "Envoy not found with this serial number",
        ),
        ({"message": "Not Found", "code": 404}, "Not Found"),
        (None, "Not Found"),
    ],
)
def test_unknown_serial_is_v2_not_found_with_a_sensible_message(
    v4_body: object, message: str
) -> None:
    error = errors.from_v4(404, v4_body)
    assert error.status == 404
    assert error.body == {"reason": "404", "errorMessages": [message]}
    validate(ROUTE, 404, error.body)
