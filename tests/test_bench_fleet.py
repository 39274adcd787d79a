"""The fleet benchmark, shortened, as a user runs it: its figures hold, and it still runs."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests import support

pytestmark = pytest.mark.slow  # a subprocess replaying thousands of requests


def test_six_simulated_minutes_of_the_fleet_cost_the_minimum_upstream_calls() -> None:
    command = [sys.executable, "-m", "bench.fleet", "6"]
    result = subprocess.run(command, capture_output=True, text=True, cwd=support.ROOT, timeout=240)
    assert result.returncode == 0, result.stderr
    figures = dict(re.findall(r"^([^:]+): (.+)$", result.stdout, re.MULTILINE))
    assert figures["legacy requests"] == "6000"
    assert figures["legacy responses by status"] == "{200: 6000}"
    assert figures["ratio upstream/minimum"] == "1.00"
    assert figures["upstream 429s"] == "0"
