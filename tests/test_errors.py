"""v4 error replies become the v2 error bodies legacy clients parse; never a 500."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mappings import errors
from mappings.base import V2Error
from tests.support import validate

ROUTE = "/api/v2/systems/{system_id}/stats"
RUBY_422 = (
    "Invalid request because of 'Requested date range is invalid for this system'. "
    "{:start_at=>1566930600, :end_at=>1565333100, :first_interval=>1565072100, "
    ":last_interval=>1565333700}"
)


def translate(status: int, body: object, retry_after: int | None = None) -> V2Error:
    """from_v4, checked against the v2 schema of the status it answers."""
    error = errors.from_v4(status, body, retry_after)
    validate(ROUTE, error.status, error.body)
    return error


@pytest.mark.parametrize("status", [401, 403])
def test_unauthorized_and_forbidden_are_v2_401(status: int) -> None:
    error = translate(status, {"message": "Forbidden", "details": "x", "code": status})
    assert (error.status, error.body) == (
        401,
        {
            "reason": "401",
            "message": ["Not authorized to access requested resource."],
        },
    )


def test_not_found_carries_v4_details() -> None:
    error = translate(404, {"message": "Not Found", "details": "System not found", "code": 404})
    assert (error.status, error.body) == (
        404,
        {"reason": "404", "errorMessages": ["System not found"]},
    )


def test_date_422_keeps_the_message_and_the_ruby_hash_fields() -> None:
    error = translate(422, {"message": "Unprocessable Entity", "details": RUBY_422, "code": 422})
    assert error.status == 422
    assert error.body["message"] == (
        "Invalid request because of 'Requested date range is invalid for this system'"
    )
    assert {k: error.body[k] for k in errors.DATE_FIELDS} == {
        "start_at": 1566930600,
        "end_at": 1565333100,
        "first_interval": 1565072100,
        "last_interval": 1565333700,
    }


def test_plain_422_has_no_date_fields() -> None:
    error = translate(
        422, {"message": "Unprocessable Entity", "details": "Provide envoy serial number"}
    )
    assert error.body == {
        "reason": "Provide envoy serial number",
        "message": "Provide envoy serial number",
    }


def test_too_many_requests_is_v2_409_with_the_period() -> None:
    body = {
        "message": "Too Many Requests",
        "details": "Usage limit exceeded for plan Kilowatt",
        "code": 429,
        "period": "minute",
        "period_start": 1623825660,
        "period_end": 1623825720,
        "limit": 5,
    }
    error = translate(429, body)
    assert (error.status, error.body) == (
        409,
        {
            "reason": "409",
            "message": ["Usage limit exceeded for plan Kilowatt"],
            "period": "minute",
            "period_start": 1623825660,
            "period_end": 1623825720,
            "limit": 5,
        },
    )


def test_data_unavailable_is_v2_503_with_retry_after() -> None:
    error = translate(
        500, {"errorCode": 7, "errorMessages": ["Data is temporarily unavailable"]}, 30
    )
    assert (error.status, error.body) == (
        503,
        {
            "errorCode": 7,
            "errorMessages": ["Data is temporarily unavailable"],
        },
    )
    assert dict(error.headers) == {"Retry-After": "30"}


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (500, {"message": "Internal Server Error", "details": "Problem parsing time", "code": 500}),
        (501, {"message": "Not Implemented", "code": 501}),
        (502, "<html>Bad Gateway</html>"),
        (503, None),
        (504, {}),
    ],
)
def test_server_errors_are_v2_503(status: int, body: object) -> None:
    error = translate(status, body)
    assert error.status == 503
    assert error.body["errorMessages"]
    assert error.headers == ()


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (500, {"errorCode": 7, "errorMessages": 5}, "5"),
        (500, {"errorCode": 7, "errorMessages": "Try later"}, "Try later"),
        (500, {"errorCode": 7, "errorMessages": []}, "Data temporarily unavailable."),
        (
            500,
            {"errorCode": float("inf"), "errorMessages": [None]},
            "Data temporarily unavailable.",
        ),
    ],
)
def test_malformed_unavailable_bodies_still_answer_503(
    status: int, body: object, message: str
) -> None:
    error = translate(status, body)
    assert (error.status, error.body["errorMessages"]) == (503, [message])


def test_infinite_quota_numbers_do_not_break_the_409() -> None:
    error = translate(429, {"period_start": float("inf"), "limit": "ten"})
    assert (error.body["period_start"], error.body["limit"]) == (0, 0)


@pytest.mark.parametrize("status", [400, 405, 409, 410, 413])
def test_other_client_errors_are_v2_422(status: int) -> None:
    assert translate(status, {"details": "nope"}).status == 422


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=8,
)
v4_keys = st.sampled_from(
    [
        "message",
        "details",
        "code",
        "period",
        "period_start",
        "period_end",
        "limit",
        "errorCode",
        "errorMessages",
    ]
)


@given(
    st.integers(100, 599),
    json_values | st.dictionaries(v4_keys, json_values, max_size=6),
    st.none() | st.integers(0, 3600),
)
def test_any_v4_reply_becomes_a_documented_v2_error(
    status: int, body: object, retry_after: int | None
) -> None:
    assert translate(status, body, retry_after).status in {401, 404, 409, 422, 503}
