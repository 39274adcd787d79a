"""The month benchmark: the Watt workload keeps within its plan and never 409s an answered
request; its figures tell the minute limit from the month budget."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from dataclasses import replace

import pytest

from bench.month import MONTHS, Poll, Workload, fixed, percentile, run, watt
from tests import support


@pytest.mark.slow  # a month of the Watt workload simulated in a child process (~18 s)
def test_a_paced_watt_month_stays_within_1000_calls_and_never_refuses_an_answered_request() -> None:
    command = [sys.executable, "-m", "bench.month", "watt"]
    result = subprocess.run(command, capture_output=True, text=True, cwd=support.ROOT, timeout=600)
    assert result.returncode == 0, result.stderr
    figures = dict(
        re.findall(r"^watt \(1,000/month, full size\) (\w+: [^:]+): (.+)$", result.stdout, re.M)
    )
    assert figures["paced: 409s after a request's first answer"] == "0"
    paced_calls = int(figures["paced: upstream calls"].split()[0])
    assert paced_calls <= 1000
    assert figures["unpaced: budget ran out"].startswith("day ")
    assert int(figures["unpaced: 409s after a request's first answer"]) > 0


@pytest.mark.slow  # two simulated months in this process (~20 s each)
@pytest.mark.parametrize(("month", "p50"), [("december", 22 * 60), ("june", 32 * 60)])
def test_a_paced_watt_month_serves_daylight_data_within_its_target_age(
    month: str, p50: int
) -> None:
    # Issue 20: 41% of calls refreshed production data at night; Watt's daylight p50 was ~45 min
    workload = replace(watt(), start=MONTHS[month])
    figures = asyncio.run(run(workload, pacing=True))
    assert figures.refused == 0  # first answers included
    assert figures.fetches == figures.calls <= 1000
    assert percentile(figures.daylight_ages, 0.5) <= p50


def test_a_minute_limit_409_is_not_the_month_budget_running_out() -> None:
    # twelve systems asked at once on a 10-a-minute plan: the minute limit refuses some, the
    # month's 50,000 calls are far from spent
    polls = [Poll(fixed(f"/api/v2/systems/{s}/summary"), 0, once=True) for s in range(3000, 3012)]
    workload = Workload("burst", "kilowatt", 50_000, True, polls)
    figures = asyncio.run(run(workload, pacing=False))
    assert figures.refused_minute > 0
    assert figures.calls < 50_000
    assert figures.ran_out is None
    # every 409 is counted, first answers included, and a refused call is no fetch: the two
    # refused are fetched once, when the minute is over (proxy.v2.deferred)
    assert figures.refused == figures.refused_minute == 2
    assert figures.fetches == figures.calls == 12
