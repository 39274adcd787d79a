"""The issue-20 workloads of the bench run through the proxy's routes and count what they
should."""

from __future__ import annotations

import asyncio

from bench.workloads import month, scanner, shared_app, wrong_id


def test_a_day_of_two_tenants_on_one_app_draws_no_upstream_429() -> None:
    tallies, calls, refused = asyncio.run(month(*shared_app(), days=1))
    assert refused == 0
    assert 0 < calls <= 1000 // 30 + 10  # within the app's pace, with the first day's misses
    assert set(tallies) == {"demo dashboard", "fleet dashboard"}
    assert all(t.statuses[200] == 288 + 96 for t in tallies.values())


def test_the_wrong_id_poller_and_the_scanner_are_counted_by_group() -> None:
    tallies, _, _ = asyncio.run(month(*wrong_id(), days=1))
    assert dict(tallies["wrong-id poller"].statuses) == {401: 288}
    text, asks = scanner()
    assert [a.group for a in asks] == ["dashboard", "dashboard", "scanner", "past-day reader"]
    assert "script-v2-key" in text
