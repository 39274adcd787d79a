"""v2 ``/systems``: opaque ``next`` paging and local filters over v4 ``GET /systems`` pages."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mappings import systems
from mappings.base import V2Error, V2Request, V2Response, V4Call
from mappings.status import V2_STATUSES, v2_status
from tests.support import examples, validate

NOW = 1718452800
STATUSES = ("normal", "comm", "micro", "encharge", "power", "retired", "meter", "normal")
ZONES = ("America/Los_Angeles", "Europe/Berlin", "Australia/Sydney")
CONNECTIONS = ("ethernet", "cellular", "wifi")


def v4_system(number: int) -> dict[str, Any]:
    """One v4 SystemDetails item, shaped as the v4 spec's ``GET /systems`` example."""
    item: dict[str, Any] = {
        "system_id": 1000 + 7 * number,
        "name": f"Residence {number}",
        "public_name": "Residential System",
        "timezone": ZONES[number % len(ZONES)],
        "address": {"city": "Sydney", "state": "NSW", "country": "AU", "postal_code": "2127"},
        "connection_type": CONNECTIONS[number % len(CONNECTIONS)],
        "energy_lifetime": 1000 * number,
        "energy_today": number,
        "system_size": 112.3,
        "status": STATUSES[number % len(STATUSES)],
        "last_report_at": 1508174262 + number,
        "last_energy_at": 1508174172 + number,
        "operational_at": 1497445200,
        "attachment_type": "acm",
    }
    if number % 5 == 0:
        item["reference"] = f"ref-{number}"
        item["other_references"] = [f"other-{number}"]
    return item


@dataclass
class FakeV4:
    """A simulated v4 ``GET /systems``: ``page``/``size`` (max 100), ``sort_by=id`` ascending."""

    items: list[dict[str, Any]]
    calls: list[V4Call] = field(default_factory=list)

    def get(self, call: V4Call) -> dict[str, Any]:
        self.calls.append(call)
        assert call.path == "/systems"
        params = dict(call.params)
        page, size = int(params.get("page", 1)), int(params.get("size", 10))
        assert 1 <= size <= 100
        ordered = sorted(self.items, key=lambda item: item["system_id"])
        if params.get("sort_by") != "id":
            ordered.reverse()
        rows = ordered[(page - 1) * size : page * size]
        return {
            "total": len(self.items),
            "current_page": page,
            "size": size,
            "count": len(rows),
            "items": "systems",
            "systems": rows,
        }


def request(**query: str | list[str]) -> V2Request:
    pairs: list[tuple[str, str]] = []
    for key, value in query.items():
        pairs += [(key, v) for v in value] if isinstance(value, list) else [(key, value)]
    return V2Request({}, tuple(pairs), NOW)


def fetch(v4: FakeV4, req: V2Request) -> tuple[V2Response, int]:
    """One v2 page as the service runs it: plan, follow until done, shape; and the call count."""
    calls = systems.plan(req, None)
    replies = [v4.get(call) for call in calls]
    while more := systems.follow(req, None, replies):
        calls += more
        replies += [v4.get(call) for call in more]
    response = systems.shape(req, None, replies)
    validate(systems.ROUTE, response.status, response.body)
    return response, len(calls)


def walk(
    v4: FakeV4, token: str | None = None, /, **query: str | list[str]
) -> list[list[dict[str, Any]]]:
    """Every v2 page of a query (from ``token``), following ``next`` until it is absent."""
    pages = []
    for _ in range(1000):
        req = request(**query, **({"next": token} if token else {}))
        body = fetch(v4, req)[0].body
        pages.append(body["systems"])
        token = body.get("next")
        if token is None:
            return pages
    raise AssertionError("the page walk does not end")


def ids(pages: list[list[dict[str, Any]]]) -> list[int]:
    return [item["system_id"] for page in pages for item in page]


ACCOUNT = [v4_system(number) for number in range(317)]
ALL_IDS = sorted(item["system_id"] for item in ACCOUNT)


def test_walk_of_limit_250_returns_every_system_once_in_order() -> None:
    v4 = FakeV4(list(ACCOUNT))
    first, first_calls = fetch(v4, request(limit="250"))
    assert len(first.body["systems"]) == 250 and first_calls == 3
    second, second_calls = fetch(v4, request(limit="250", next=first.body["next"]))
    assert len(second.body["systems"]) == 67 and second_calls == 2
    assert "next" not in second.body
    assert ids([first.body["systems"], second.body["systems"]]) == ALL_IDS


def test_v4_is_only_read_with_get_pages_of_100() -> None:
    v4 = FakeV4(list(ACCOUNT))
    walk(v4, limit="250", status="comm")
    assert {call.path for call in v4.calls} == {"/systems"}
    assert all(dict(call.params)["size"] == "100" for call in v4.calls)


@settings(max_examples=examples(40), deadline=None)
@given(
    limit=st.integers(min_value=1, max_value=400),
    wanted=st.frozensets(st.sampled_from(sorted(V2_STATUSES))),
)
def test_any_limit_and_status_filter_walks_each_match_once(
    limit: int, wanted: frozenset[str]
) -> None:
    v4 = FakeV4(list(ACCOUNT))
    pages = walk(v4, limit=str(limit), status=sorted(wanted))
    expected = [i["system_id"] for i in ACCOUNT if not wanted or v2_status(i["status"]) in wanted]
    assert ids(pages) == expected
    assert all(len(page) <= limit for page in pages)


def test_repeated_status_filter_matches_mapped_v4_statuses() -> None:
    query: dict[str, str | list[str]] = {"status[]": ["comm", "battery"], "limit": "1000"}
    pages = walk(FakeV4(list(ACCOUNT)), **query)
    statuses = {item["status"] for page in pages for item in page}
    assert statuses == {"comm", "battery"}
    raw = {i["status"] for i in ACCOUNT if i["system_id"] in set(ids(pages))}
    assert raw == {"comm", "retired", "encharge"}


def test_filters_combine_and_accept_bracket_forms() -> None:
    v4 = FakeV4(list(ACCOUNT))
    wanted = ["1000", "1007", "1035", "1070"]
    assert ids(walk(v4, **{"system_id[]": wanted})) == [1000, 1007, 1035, 1070]
    ethernet: dict[str, str | list[str]] = {"system_id[]": wanted, "connection_type": "ethernet"}
    assert ids(walk(v4, **ethernet)) == [1000]
    named = [item["system_id"] for item in ACCOUNT if "residence 5" in item["name"].lower()]
    assert ids(walk(v4, system_name="residence 5")) == named  # any part of the name, as v2
    assert ids(walk(v4, system_name="Residence 5")) == named
    assert ids(walk(v4, **{"reference[]": ["ref-5", "ref-10"]})) == [1035, 1070]
    assert ids(walk(v4, system_name="nobody")) == []


def test_installer_filter_is_refused_since_v4_does_not_tell_installers() -> None:
    with pytest.raises(V2Error) as refused:
        walk(FakeV4([v4_system(1)]), installer="sunny co")
    assert refused.value.status == 422
    assert "installer" in refused.value.body["message"]


def test_v2_field_names_and_flattened_address() -> None:
    item = v4_system(5)
    [converted] = walk(FakeV4([item]))[0]
    assert converted == {
        "system_id": 1035,
        "system_name": "Residence 5",
        "system_public_name": "Residential System",
        "reference": "ref-5",
        "other_references": ["other-5"],
        "status": "comm",
        "timezone": "Australia/Sydney",
        "country": "AU",
        "state": "NSW",
        "city": "Sydney",
        "postal_code": "2127",
        "connection_type": "wifi",
        "meta": {
            "status": "comm",
            "last_report_at": 1508174267,
            "last_energy_at": 1508174177,
            "operational_at": 1497445200,
        },
    }


def test_v4_only_status_is_mapped_in_both_places() -> None:
    [converted] = walk(FakeV4([v4_system(3)]))[0]
    assert converted["status"] == converted["meta"]["status"] == "battery"


def test_limit_defaults_to_100_and_is_clipped_to_1000() -> None:
    v4 = FakeV4([v4_system(number) for number in range(1500)])
    response, calls = fetch(v4, request())
    assert len(response.body["systems"]) == 100 and calls == 1
    response, calls = fetch(v4, request(limit="5000"))
    assert len(response.body["systems"]) == 1000 and calls == 10
    rest, _ = fetch(v4, request(limit="5000", next=response.body["next"]))
    assert len(rest.body["systems"]) == 500 and "next" not in rest.body


@pytest.mark.parametrize("limit", ["0", "-3", "ten", "1.5"])
def test_malformed_limit_is_422(limit: str) -> None:
    with pytest.raises(V2Error) as caught:
        systems.plan(request(limit=limit), None)
    assert caught.value.status == 422
    validate(systems.ROUTE, 422, caught.value.body)


def token(data: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "bad",
    [
        "not a token!",
        "4d5467784d5445770a",
        token([1, 2]),
        token({"p": 0, "o": 0, "a": None, "f": systems.filters(request()).signature()}),
        token({"p": "2", "o": 0, "a": None, "f": systems.filters(request()).signature()}),
        token({"p": 2, "o": 500, "a": None, "f": systems.filters(request()).signature()}),
    ],
)
def test_bad_next_is_422(bad: str) -> None:
    with pytest.raises(V2Error) as caught:
        systems.plan(request(next=bad), None)
    assert caught.value.status == 422
    validate(systems.ROUTE, 422, caught.value.body)


def test_next_of_another_filter_is_422() -> None:
    body = fetch(FakeV4(list(ACCOUNT)), request(limit="10", status="comm"))[0].body
    with pytest.raises(V2Error) as caught:
        systems.plan(request(limit="10", status="micro", next=body["next"]), None)
    assert caught.value.status == 422
    assert fetch(FakeV4(list(ACCOUNT)), request(status="comm", next=body["next"]))[0].body


@pytest.mark.parametrize(
    "query", [{"status": "sleeping"}, {"connection_type": "zigbee"}, {"system_id": "abc"}]
)
def test_unknown_filter_values_are_422(query: dict[str, str]) -> None:
    with pytest.raises(V2Error) as caught:
        systems.plan(request(**query), None)
    assert caught.value.status == 422


def test_sparse_filter_spends_at_most_ten_v4_pages_per_v2_page() -> None:
    v4 = FakeV4([v4_system(number) for number in range(2500)])
    last = v4.items[-1]["system_id"]
    first, calls = fetch(v4, request(system_id=str(last)))
    assert first.body["systems"] == [] and calls == systems.MAX_PAGES and "next" in first.body
    assert ids(walk(v4, system_id=str(last))) == [last]


def test_systems_added_during_a_walk_do_not_repeat_seen_ones() -> None:
    v4 = FakeV4(list(ACCOUNT))
    first = fetch(v4, request(limit="150"))[0].body
    v4.items.append({**v4_system(0), "system_id": 1})  # sorts first: every later row shifts
    v4.items.append({**v4_system(0), "system_id": 999_999})
    second = walk(v4, first["next"], limit="150")
    assert ids([first["systems"], *second]) == [*ALL_IDS, 999_999]


def test_empty_account() -> None:
    assert fetch(FakeV4([]), request())[0].body == {"systems": []}


def test_iso8601_renders_each_system_in_its_own_zone() -> None:
    items = [{**v4_system(n), "last_report_at": 1718452800} for n in range(3)]
    pages = walk(FakeV4(items), datetime_format="iso8601")
    rendered = {item["timezone"]: item["meta"]["last_report_at"] for item in pages[0]}
    assert rendered == {
        "America/Los_Angeles": "2024-06-15T05:00:00-07:00",
        "Europe/Berlin": "2024-06-15T14:00:00+02:00",
        "Australia/Sydney": "2024-06-15T22:00:00+10:00",
    }
