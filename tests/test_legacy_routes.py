"""The v2 route dispatcher's table: one literal last segment per route."""

from __future__ import annotations

import pytest
from starlette.routing import Route

from mappings import stats
from proxy.http.v2_routes import LegacyDispatch, LegacyEndpoint, routes


def test_every_v2_route_is_in_the_dispatch_table() -> None:
    legacy = routes()
    dispatch = LegacyDispatch(lambda *_: None, legacy)
    assert sorted(r.path for r in dispatch.by_last_segment.values()) == sorted(
        r.path for r in legacy
    )


@pytest.mark.parametrize(
    "templates",
    [
        ["/api/v2/systems/{system_id}/stats", "/api/v2/other/{system_id}/stats"],
        ["/api/v2/systems/{system_id}"],
    ],
)
def test_routes_it_cannot_tell_apart_are_refused(templates: list[str]) -> None:
    legacy = [Route(t, LegacyEndpoint(stats), methods=["GET"]) for t in templates]
    with pytest.raises(ValueError, match="literal segment"):
        LegacyDispatch(lambda *_: None, legacy)
