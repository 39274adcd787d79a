"""Every mapping, fed any schema-valid v4 body or a malformed one, answers v2 and only v2.

hypothesis draws the v4 bodies from the project's own v4 schemas (``tests/support.py``),
derandomized and without an example database (the same examples on every run; a third of them
in the default tier, all in CI). A mapping may answer a v2 error (``V2Error``); any other
exception is a failure, and every 200 body must match the v2 schema exactly: no member v2 did
not define.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mappings.base import V2Error, V2Request, V2Response, V4Call
from mappings.registry import ROUTES
from tests.support import SYSTEM_SCHEMA, costly_property, schema_for, strategy, validate

NOW = int(dt.datetime(2026, 3, 8, 20, tzinfo=dt.UTC).timestamp())
MAX_FOLLOW_ROUNDS = 3

MALFORMED = st.one_of(
    st.sampled_from([None, {}, [], [1, 2], "ok", 0, {"intervals": "x"}, {"devices": []}]),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=5),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
        max_leaves=6,
    ),
)
EPOCHS = st.one_of(
    st.integers(NOW - 40 * 86400, NOW + 3600), st.just(1796013037000), st.integers(-5, 5)
)
DATES = st.dates(dt.date(2025, 1, 1), dt.date(2026, 3, 10)).map(dt.date.isoformat)
QUERY = st.fixed_dictionaries(
    {},
    optional={
        "datetime_format": st.just("iso8601"),
        "start_at": EPOCHS.map(str),
        "end_at": EPOCHS.map(str),
        "start_date": DATES,
        "end_date": DATES,
        "summary_date": DATES,
        "production": st.just("all"),
        "serial_num": st.sampled_from(["122100001003", ""]),
        "site_id": st.sampled_from(["42", "-1"]),
        "limit": st.sampled_from(["1", "5"]),
        "system_name": st.text(max_size=4),
    },
)


def body_for(path: str) -> st.SearchStrategy[Any]:
    """A v4 200 body for ``path``: schema-valid four times in five, else malformed."""
    return st.integers(1, 5).flatmap(lambda n: strategy(schema_for(path)) if n < 5 else MALFORMED)


def run(mapping: Any, req: V2Request, system: Any, draw: Any) -> V2Response:
    """Plan, answer each call with a drawn body, follow, shape: as the service runs a mapping."""
    needs_system = getattr(mapping, "needs_system", None)
    known = system if needs_system is not None and needs_system(req) else None
    calls = mapping.plan(req, known)
    replies = [draw(body_for(call.path)) for call in calls]
    follow: Any = getattr(mapping, "follow", None)
    for _ in range(MAX_FOLLOW_ROUNDS if follow else 0):
        more: list[V4Call] = follow(req, known, replies)
        if not more:
            break
        replies += [draw(body_for(call.path)) for call in more]
    shaped: V2Response = mapping.shape(req, known, replies)
    return shaped


@pytest.mark.parametrize("route", sorted(ROUTES))
@costly_property(60)
@given(data=st.data())
def test_any_v4_body_gets_a_v2_answer(route: str, data: st.DataObject) -> None:
    query = data.draw(QUERY, label="query")
    system = data.draw(st.one_of(strategy(SYSTEM_SCHEMA), MALFORMED), label="system")
    req = V2Request({"system_id": "42"}, tuple(query.items()), NOW)
    try:
        response = run(ROUTES[route], req, system, data.draw)
    except V2Error as error:
        response = error.response()
    if response.status == 200:
        validate(route, 200, response.body, exact=True)
    else:
        assert response.status in (204, 401, 404, 410, 422, 503), response
        if response.status == 204:
            assert response.body is None
