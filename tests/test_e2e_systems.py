"""v2 ``/api/v2/systems`` end to end on the sandbox's 300-system fleet: paging, filters, iso8601."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from typing import Any
from zoneinfo import ZoneInfo

import httpx2
import pytest

from tests import support
from tests.support import validate

ROUTE = "/api/v2/systems"
AUTH = (("key", "demo-v2-key"), ("user_id", "demo-user"))
FLEET_IDS = list(range(3000, 3300))
MAX_PAGES = 20
META_TIMES = ("last_report_at", "last_energy_at", "operational_at")

Params = Sequence[tuple[str, str]]
System = dict[str, Any]


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """(proxy URL, sandbox URL): a proxy tenant on the fleet user, for the whole module."""
    data_dir = tmp_path_factory.mktemp("fleet")
    with support.sandbox() as (sandbox_url, _):
        config = support.proxy_config(
            sandbox_url,
            data_dir,
            username="fleet@example.com",
            password="fleet-password",
            user_ids=["demo-user"],
        )
        with support.proxy(config) as proxy_url:
            yield proxy_url, sandbox_url


@pytest.fixture(scope="module")
def client(servers: tuple[str, str]) -> Iterator[httpx2.Client]:
    """An HTTP client of the proxy."""
    with httpx2.Client(base_url=servers[0], timeout=30) as c:
        yield c


def page(client: httpx2.Client, params: Params) -> dict[str, Any]:
    """One v2 page of the systems list: 200 and a documented body."""
    response = client.get(ROUTE, params=[*AUTH, *params])
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    validate(ROUTE, 200, body)
    return body


def walk(client: httpx2.Client, params: Params) -> list[dict[str, Any]]:
    """Every v2 page of the systems list for ``params``, following ``next`` until absent."""
    pages = [page(client, params)]
    while "next" in pages[-1]:
        assert len(pages) < MAX_PAGES, f"still a next token after {MAX_PAGES} pages"
        pages.append(page(client, [*params, ("next", pages[-1]["next"])]))
    return pages


def systems_of(pages: Sequence[dict[str, Any]]) -> list[System]:
    """The systems of consecutive v2 pages, in order."""
    return [system for body in pages for system in body["systems"]]


@pytest.fixture(scope="module")
def fleet_pages(client: httpx2.Client) -> list[dict[str, Any]]:
    """The unfiltered v2 list of the fleet, 250 a page."""
    return walk(client, [("limit", "250")])


@pytest.fixture(scope="module")
def fleet(fleet_pages: list[dict[str, Any]]) -> list[System]:
    """Every fleet system as the unfiltered v2 list shows it."""
    return systems_of(fleet_pages)


def test_paging_lists_every_system_exactly_once(fleet_pages: list[dict[str, Any]]) -> None:
    """Following ``next`` with limit=250 yields all 300 systems once, 250 then 50."""
    assert [len(body["systems"]) for body in fleet_pages] == [250, 50]
    assert [system["system_id"] for system in systems_of(fleet_pages)] == FLEET_IDS


def test_paging_uses_the_systems_list_never_search(
    fleet: list[System], servers: tuple[str, str]
) -> None:
    """The v2 list is built from v4 ``GET /systems`` pages, never ``POST /systems/search``."""
    by_path = httpx2.get(servers[1] + "/_sandbox/stats").json()["api_calls_by_path"]
    assert by_path.get("/api/v4/systems", 0) >= 3
    assert "/api/v4/systems/search" not in by_path


def matches(system: System, params: Params) -> bool:
    """Whether a v2 system passes ``params``: values of a filter OR, filters AND."""
    wanted: dict[str, set[str]] = {}
    for name, value in params:
        wanted.setdefault(name.removesuffix("[]"), set()).add(value)
    return all(str(system.get(name)) in values for name, values in wanted.items())


@pytest.mark.parametrize(
    "params",
    [
        [("status[]", "comm"), ("status[]", "battery")],
        [("status", "micro")],
        [("system_id", "3005"), ("system_id", "3100"), ("system_id", "9999")],
        [("connection_type", "cellular")],
        [("reference", "FLEET-0042")],
        [("status[]", "normal"), ("connection_type", "wifi")],
    ],
)
def test_filters_return_exactly_the_matching_systems(
    client: httpx2.Client, fleet: list[System], params: Params
) -> None:
    """Each filter (repeated values OR, filters AND) keeps exactly the matching systems."""
    expected = [system for system in fleet if matches(system, params)]
    assert 0 < len(expected) < len(fleet)
    assert systems_of(walk(client, [("limit", "40"), *params])) == expected


def assert_v2_422(response: httpx2.Response) -> None:
    """``response`` is v2's documented 422 for the systems list."""
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["reason"] == body["message"]
    validate(ROUTE, 422, body)


@pytest.mark.parametrize("token", ["not-a-token", "eyJwIjoxfQ", "!!!"])
def test_garbled_next_is_a_v2_422(client: httpx2.Client, token: str) -> None:
    """A ``next`` that is not one of the proxy's tokens is refused with v2's 422 body."""
    assert_v2_422(client.get(ROUTE, params=[*AUTH, ("next", token)]))


def test_next_from_other_filters_is_a_v2_422(client: httpx2.Client) -> None:
    """A ``next`` issued for other filters is refused rather than misread."""
    token = page(client, [("limit", "10"), ("connection_type", "wifi")])["next"]
    params = [*AUTH, ("limit", "10"), ("connection_type", "ethernet"), ("next", token)]
    assert_v2_422(client.get(ROUTE, params=params))


def test_iso8601_renders_each_system_in_its_own_zone(client: httpx2.Client) -> None:
    """With datetime_format=iso8601 every ``meta`` time carries its system's UTC offset."""
    systems = systems_of(walk(client, [("limit", "1000"), ("datetime_format", "iso8601")]))
    assert [system["system_id"] for system in systems] == FLEET_IDS
    assert len({system["timezone"] for system in systems}) > 5
    for system in systems:
        zone = ZoneInfo(system["timezone"])
        for key in META_TIMES:
            stamp = dt.datetime.fromisoformat(system["meta"][key])
            assert stamp.utcoffset() == stamp.astimezone(zone).utcoffset(), (system, key)
