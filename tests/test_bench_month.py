"""The month benchmark as a user runs it: the Watt workload keeps within its plan, never 409s."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

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
