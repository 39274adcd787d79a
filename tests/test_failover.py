"""Redis Sentinel failover under load, with real processes, as bench/failover.py runs it: no
token lost, no 500, every 503 with Retry-After."""

from __future__ import annotations

import ast
import re
import subprocess
import sys

import pytest

from tests import support

pytestmark = pytest.mark.slow  # redis-server, three sentinels, two serve replicas, ~30 s


def test_a_killed_master_loses_no_token_and_costs_no_500() -> None:
    command = [sys.executable, "-m", "bench.failover", "1"]
    result = subprocess.run(command, capture_output=True, text=True, cwd=support.ROOT, timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    figures = dict(re.findall(r"^([^:]+): (.+)$", result.stdout, re.MULTILINE))
    assert figures["failovers"] == "1"
    assert figures["500s"] == "0"
    assert figures["503s without Retry-After"] == "0"
    statuses = ast.literal_eval(figures["responses by status"])
    assert set(statuses) <= {200, 503} and statuses[200] > 0
    assert int(figures["token refreshes"]) >= 2  # refreshes were due around the failover
    assert figures["reauthorizations"] == "0"
    assert figures["tokens lost"] == "0"
