"""The cache's decision, one test per row of its table (proxy.cache.decision)."""

from __future__ import annotations

import math

from proxy.cache import Decision, Entry, Needs, decide, settle
from proxy.cache.decision import servable

T0 = 1_700_000_000.0
ANY = Needs(since=-math.inf, settled=math.inf, stale_if_error=3600)


def entry(stored_at: float = T0, ttl: int = 300, status: int = 200, final: bool = False) -> Entry:
    return Entry(status, b"{}", "application/json", stored_at, ttl, final)


# servable: what may not be served at all counts as absent


def test_an_entry_stored_before_the_data_the_caller_needs_is_not_servable() -> None:
    needs = Needs(since=T0 + 1, settled=math.inf)
    assert servable(entry(), T0 + 10, needs, paced=False) is None
    assert servable(entry(), T0 + 10, ANY, paced=False) == entry()


def test_an_entry_past_stale_if_error_is_servable_only_when_paced_or_settled() -> None:
    old = T0 + 300 + 3600 + 1
    assert servable(entry(), old, ANY, paced=False) is None
    assert servable(entry(), old, ANY, paced=True) == entry()
    settled = Needs(since=T0 - 10_000, settled=T0, stale_if_error=3600)
    assert servable(entry(), old, settled, paced=False) == entry()


# decide, row by row


def test_nothing_servable_is_fetched() -> None:
    assert decide(None, T0, ANY, allowed=None) is Decision.FETCH
    assert decide(None, T0, ANY, allowed=True) is Decision.FETCH


def test_a_fresh_final_settled_or_young_enough_entry_is_a_hit() -> None:
    later = T0 + 1000  # past the 300 s TTL
    assert decide(entry(), T0 + 299, ANY, allowed=None) is Decision.HIT
    assert decide(entry(final=True), later, ANY, allowed=False) is Decision.HIT
    settled = Needs(since=T0 - 5000, settled=T0)
    assert decide(entry(), later, settled, allowed=None) is Decision.HIT
    young = Needs(since=-math.inf, settled=math.inf, every=1001)
    assert decide(entry(), later, young, allowed=None) is Decision.HIT
    assert decide(entry(status=404), later, young, allowed=None) is not Decision.HIT


def test_a_stale_entry_whose_refresh_the_pacer_defers_is_served_stale() -> None:
    assert decide(entry(), T0 + 301, ANY, allowed=False) is Decision.STALE
    assert decide(entry(), T0 + 5000, ANY, allowed=False) is Decision.STALE


def test_a_stale_entry_the_pacer_lets_refresh_now_waits_for_the_refresh() -> None:
    assert decide(entry(), T0 + 301, ANY, allowed=True) is Decision.WAIT
    assert decide(entry(), T0 + 600, ANY, allowed=True) is Decision.WAIT
    assert decide(entry(), T0 + 601, ANY, allowed=True) is Decision.FETCH


def test_a_stale_entry_within_twice_its_ttl_is_revalidated_in_the_background() -> None:
    assert decide(entry(), T0 + 400, ANY, allowed=None) is Decision.REVALIDATE
    assert decide(entry(), T0 + 600, ANY, allowed=None) is Decision.REVALIDATE


def test_any_other_stale_entry_is_fetched() -> None:
    assert decide(entry(), T0 + 601, ANY, allowed=None) is Decision.FETCH
    without = Needs(since=-math.inf, settled=math.inf, stale_while_revalidate=False)
    assert decide(entry(), T0 + 301, without, allowed=None) is Decision.FETCH


# settle, row by row


def test_a_fetched_reply_that_is_not_a_failure_is_a_miss() -> None:
    fetched = entry(T0 + 400, status=404)
    assert settle(entry(), fetched) == (fetched, "MISS")
    assert settle(None, fetched) == (fetched, "MISS")


def test_a_failure_with_a_stale_entry_held_serves_it_stale() -> None:
    for failure in (entry(status=503), entry(status=429), None):
        assert settle(entry(ttl=1), failure) == (entry(ttl=1), "STALE")


def test_a_failure_reply_with_nothing_held_is_passed_on() -> None:
    failure = entry(status=500)
    assert settle(None, failure) == (failure, "MISS")


def test_no_reply_and_nothing_held_is_refused() -> None:
    assert settle(None, None) is None
