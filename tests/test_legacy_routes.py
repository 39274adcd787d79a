"""The v2 route dispatcher's table: one literal last segment per route."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.routing import Route

from mappings import stats
from proxy.http.v2_routes import Answering, LegacyEndpoint, LegacyTable, routes
from tests import support


def unused() -> Answering:
    """The services of routes that answer no request here."""
    raise AssertionError("no request is answered")


def test_every_v2_route_is_in_the_dispatch_table(tmp_path: Path) -> None:
    legacy = routes(support.proxy_config("http://127.0.0.1:9", tmp_path), unused)
    table = LegacyTable(legacy)
    assert sorted(r.path for r in table.by_last_segment.values()) == sorted(r.path for r in legacy)


@pytest.mark.parametrize(
    "templates",
    [
        ["/api/v2/systems/{system_id}/stats", "/api/v2/other/{system_id}/stats"],
        ["/api/v2/systems/{system_id}"],
    ],
)
def test_routes_it_cannot_tell_apart_are_refused(templates: list[str], tmp_path: Path) -> None:
    config = support.proxy_config("http://127.0.0.1:9", tmp_path)
    legacy = [
        Route(t, LegacyEndpoint(config, unused, stats.ENDPOINT), methods=["GET"]) for t in templates
    ]
    with pytest.raises(ValueError, match="literal segment"):
        LegacyTable(legacy)
