"""The pacing policy: reserve, refresh budget, paced interval, demand and forecast."""

from __future__ import annotations

import math

import pytest

from proxy.quota import pacing
from proxy.quota.pacing import MonthBudget

DAY = 86_400
MONTH = 30 * DAY


def budget(used: int, limit: int = 1000) -> MonthBudget:
    return MonthBudget(limit=limit, used=used, start=0, end=MONTH)


def test_the_reserve_is_its_share_of_the_limit_and_is_released_as_the_month_runs_out() -> None:
    assert pacing.reserve(budget(0), 0.1, 0) == 100
    assert pacing.reserve(budget(0), 0.1, MONTH / 2) == 50
    assert pacing.reserve(budget(0), 0.1, MONTH) == 0
    assert pacing.refresh_budget(budget(400), 0.1, 0) == 500
    assert pacing.refresh_budget(budget(950), 0.1, 0) == 0


def test_the_reserve_is_never_more_than_the_calls_remaining() -> None:
    assert pacing.reserve(budget(950), 0.1, 0) == 50
    assert pacing.reserve(budget(1000), 0.1, 0) == 0  # a spent month holds nothing back


def test_one_key_is_refreshed_as_often_as_the_budget_left_allows_over_the_time_left() -> None:
    interval = pacing.refresh_interval(budget(0), 0.1, 0, [(300, 0)])
    assert interval == pytest.approx(MONTH / 900)
    later = pacing.refresh_interval(budget(600), 0.1, MONTH / 2, [(300, 0)])
    assert later == pytest.approx((MONTH / 2) / (400 - 50))


def test_more_keys_in_demand_stretch_the_interval_in_proportion() -> None:
    one = pacing.refresh_interval(budget(0), 0.0, 0, [(300, 0)])
    ten = pacing.refresh_interval(budget(0), 0.0, 0, [(300, 0)] * 10)
    assert ten == pytest.approx(10 * one)


def test_a_budget_large_enough_for_natural_freshness_does_not_pace() -> None:
    assert pacing.refresh_interval(budget(0, limit=1_000_000), 0.1, 0, [(300, 0), (900, 0)]) == 0.0
    assert pacing.due(age=300, period=300, interval=0.0)
    assert not pacing.due(age=299, period=300, interval=0.0)


def test_keys_slower_than_the_pace_leave_their_share_to_the_others() -> None:
    # 900 calls for the month: a daily key costs 30, the 5-minute key gets the other 870.
    interval = pacing.refresh_interval(budget(0), 0.1, 0, [(300, 0), (DAY, 0)])
    assert interval == pytest.approx(MONTH / 870)
    assert interval < pacing.refresh_interval(budget(0), 0.1, 0, [(300, 0), (300, 0)])


def test_a_window_that_rolls_over_daily_sets_aside_one_cold_miss_a_day() -> None:
    # 900 calls for the month less 30 daily rollovers leave 870 refreshes.
    interval = pacing.refresh_interval(budget(0), 0.1, 0, [(300, DAY)])
    assert interval == pytest.approx(MONTH / 870)
    assert pacing.refresh_interval(budget(0, limit=30), 0.1, 0, [(300, DAY)]) == math.inf


def test_no_refresh_budget_left_means_never() -> None:
    assert pacing.refresh_interval(budget(900), 0.1, 0, [(300, 0)]) == math.inf
    assert not pacing.due(age=10 * DAY, period=300, interval=math.inf)


def test_nobody_asking_means_no_pacing() -> None:
    assert pacing.refresh_interval(budget(0), 0.1, 0, []) == 0.0


def test_nobody_asking_with_only_the_reserve_left_still_means_never() -> None:
    """The interval is reused for a minute: the next key asked must not spend the reserve."""
    assert pacing.refresh_interval(budget(900), 0.1, 0, []) == math.inf
    assert pacing.refresh_interval(budget(1000), 0.1, 0, []) == math.inf


def test_forecast_extrapolates_the_rate_spent_so_far() -> None:
    assert pacing.forecast(budget(0), DAY) is None
    assert pacing.forecast(budget(500), 10 * DAY) == pytest.approx(20 * DAY)
    assert pacing.forecast(budget(100), 10 * DAY) is None  # lasts past the month
    assert pacing.forecast(budget(1000), 10 * DAY) == 10 * DAY


def test_minimum_interval_is_month_length_times_keys_over_budget() -> None:
    assert pacing.minimum_interval(900, 3, MONTH) == pytest.approx(MONTH * 3 / 900)
    assert pacing.minimum_interval(0, 3, MONTH) == math.inf
