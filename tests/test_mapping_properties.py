"""Every mapping, fed any v4 body, answers v2 and only v2, and never a value v4 did not send.

hypothesis draws the v4 bodies from the project's own v4 schemas (``tests/support.py``), some
with one item spoiled (a wrong type, null, a huge number, a free string where v4 has an
enum), some wholly malformed; derandomized and without an example database (the same examples
on every run; a third of them in the default tier, all in CI). As in the service, a body
``proxy.v4.shapes`` refuses is an upstream failure (503) before any mapping sees it. A mapping
may answer a v2 error (``V2Error``); any other exception is a failure, every 200 body must
match the v2 schema exactly (no member v2 did not define), and every number in it must be one
v4 or the request sent, except the few fields v2 documents as derived.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from mappings import errors
from mappings.base import V2Error, V2Request, V2Response, V4Call
from mappings.registry import ROUTES
from proxy.cache import freshness
from proxy.v4 import shapes
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


SPOILERS: st.SearchStrategy[Any] = st.sampled_from(
    [None, "lots", 1.5, 10**20, -(2**64), True, {}, [], "x" * 40]
)

#: Numbers v2 documents as derived rather than copied: today's share of v4's lifetime, a past
#: day's zeros, a whole number of W, a report date as an epoch, a bare number's precision, no
#: device count without telemetry (a start older than v4 serves).
DERIVED = frozenset(
    {
        "energy_lifetime",
        "energy_today",
        "current_power",
        "modules",
        "size_w",
        "last_report_date",
        "precision",
        "total_devices",
    }
)


def spoiled(body: Any, draw: Any) -> Any:
    """``body`` with one leaf, chosen at any depth, replaced by a spoiler."""
    if isinstance(body, dict) and body:
        key = draw(st.sampled_from(sorted(body)))
        return body | {key: spoiled(body[key], draw)}
    if isinstance(body, list) and body:
        index = draw(st.integers(0, len(body) - 1))
        return [*body[:index], spoiled(body[index], draw), *body[index + 1 :]]
    return draw(SPOILERS)


def complete(schema: Any) -> Any:
    """``schema`` with every member of every object required (v4 sent all it has)."""
    if not isinstance(schema, dict):
        return schema
    out = {key: complete(value) for key, value in schema.items()}
    if "properties" in schema:
        out["properties"] = {k: complete(v) for k, v in schema["properties"].items()}
        out["required"] = sorted(schema["properties"])
    if "anyOf" in schema:
        out["anyOf"] = [complete(option) for option in schema["anyOf"]]
    return out


def body_for(path: str, draw: Any) -> Any:
    """A v4 200 body for ``path``: complete, sparse, spoiled or malformed."""
    kind = draw(st.integers(1, 6))
    if kind == 6:
        return draw(MALFORMED)
    schema = schema_for(path)
    body = draw(strategy(schema if kind == 3 else complete(schema)))
    return spoiled(body, draw) if kind >= 4 else body


def fetched(call: V4Call, draw: Any, sent: list[Any]) -> Any:
    """The drawn reply to ``call``; a body that is not v4's data is an upstream failure."""
    body = body_for(call.path, draw)
    if not shapes.usable(freshness.endpoint_name(call.path), body):
        raise errors.unavailable("The upstream sent no data")
    sent.append(body)
    return body


def run(mapping: Any, req: V2Request, system: Any, draw: Any, sent: list[Any]) -> V2Response:
    """Plan, answer each call with a drawn body, follow, shape: as the service runs a mapping."""
    needs_system = getattr(mapping, "needs_system", None)
    known = system if needs_system is not None and needs_system(req) else None
    calls = mapping.plan(req, known)
    replies = [fetched(call, draw, sent) for call in calls]
    follow: Any = getattr(mapping, "follow", None)
    for _ in range(MAX_FOLLOW_ROUNDS if follow else 0):
        more: list[V4Call] = follow(req, known, replies)
        if not more:
            break
        replies += [fetched(call, draw, sent) for call in more]
    shaped: V2Response = mapping.shape(req, known, replies)
    return shaped


def numbers(value: Any, key: str = "") -> list[tuple[str, int | float]]:
    """Every (member name, number) in ``value``, at any depth."""
    if isinstance(value, dict):
        return [pair for k, v in value.items() for pair in numbers(v, k)]
    if isinstance(value, list):
        return [pair for item in value for pair in numbers(item, key)]
    if isinstance(value, int | float) and not isinstance(value, bool):
        return [(key, value)]
    return []


def assert_nothing_invented(body: Any, sources: list[Any]) -> None:
    """Every number of ``body`` outside ``DERIVED`` is one of ``sources``."""
    known = {number for _, number in numbers(sources)}
    for key, number in numbers(body):
        assert key in DERIVED or number in known, f"{key}={number!r} was not sent"


@pytest.mark.parametrize("route", sorted(ROUTES))
@costly_property(60)
@given(data=st.data())
def test_any_v4_body_gets_a_v2_answer(route: str, data: st.DataObject) -> None:
    query = data.draw(QUERY, label="query")
    system = data.draw(
        st.one_of(strategy(complete(SYSTEM_SCHEMA)), strategy(SYSTEM_SCHEMA), MALFORMED),
        label="system",
    )
    req = V2Request({"system_id": "42"}, tuple(query.items()), NOW)
    sent: list[Any] = []
    try:
        response = run(ROUTES[route], req, system, data.draw, sent)
    except V2Error as error:
        response = error.response()
    event(f"answered {response.status}")
    if response.status == 200:
        validate(route, 200, response.body, exact=True)
        asked = [int(v) for v in query.values() if re.fullmatch(r"-?[0-9]+", v)]
        assert_nothing_invented(response.body, [sent, system, asked, 42])
    else:
        assert response.status in (204, 401, 404, 410, 422, 503), response
        if response.status == 204:
            assert response.body is None
