"""v2 and v4 clients against the proxy on the sandbox, where published clients found differences."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests import harness

V2_AUTH = {"key": "demo-v2-key", "user_id": "demo-user"}
TEAM = {"Authorization": "Bearer demo-team-key"}  # a read-only team client


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    """A client of the proxy on the sandbox; the tenant may make a single write a month."""
    with harness.sandbox() as (sandbox_url, _):
        data_dir = Path(tmp_path_factory.mktemp("fidelity"))
        config = harness.proxy_config(sandbox_url, data_dir, writes_per_month=1)
        with harness.proxy(config) as proxy_url:
            with httpx.Client(base_url=proxy_url, timeout=30) as c:
                yield c


@pytest.mark.parametrize(
    ("path", "params", "headers"),
    [
        ("/api/v2/systems/", V2_AUTH, {}),
        ("/api/v2/systems/1001/summary/", V2_AUTH, {}),
        ("/api/v2/systems/1002/stats/", V2_AUTH, {}),
        ("/api/v4/systems/1001/summary/", {}, TEAM),
        ("/api/v4/systems/", {}, TEAM),
    ],
)
def test_a_trailing_slash_is_answered_as_without_it(
    client: httpx.Client, path: str, params: dict[str, str], headers: dict[str, str]
) -> None:
    with_slash = client.get(path, params=params, headers=headers)
    without = client.get(path.rstrip("/"), params=params, headers=headers)
    assert with_slash.status_code == 200, (with_slash.status_code, with_slash.headers)
    assert "location" not in with_slash.headers
    assert with_slash.json() == without.json()


def test_systems_search_is_a_read_for_read_only_clients_and_spends_no_write(
    client: httpx.Client,
) -> None:
    search = {"system": {"name": "Home"}}
    for _ in range(3):  # more than the tenant's one write a month
        found = client.post("/api/v4/systems/search", json=search, headers=TEAM)
        assert found.status_code == 200, found.text
        assert "systems" in found.json()


def test_get_systems_search_is_not_taken_for_a_system_id(client: httpx.Client) -> None:
    response = client.get("/api/v4/systems/search", headers=TEAM)
    assert response.status_code == 405
    assert response.json()["code"] == 405
