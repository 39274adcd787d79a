"""Smaller findings of issue 22 (10): a 1900 monthly_production costs no upstream call, serve
will not take a stranger on the sandbox port for its sandbox, and a 429 from an upstream clock
25 hours ahead blocks a real server for its minute only."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx2
import pytest

from proxy.sandbox import SandboxSettings
from tests import support

OLD_CLIENT = {"key": "emulating-v2-key", "user_id": "demo-user"}
AUTH = {"key": "demo-v2-key", "user_id": "demo-user"}


def test_a_monthly_production_from_1900_is_refused_without_an_upstream_call(
    tmp_path: Path,
) -> None:
    """start_date 1900-01-01 is a v2 422 answered locally: no v4 call with a negative epoch."""
    emulating = support.emulating_client("published-v2-client", "emulating-v2-key")
    with support.sandbox() as (sandbox_url, _):
        config = support.proxy_config(sandbox_url, tmp_path, emulating)
        with support.proxy(config) as url:
            before = httpx2.get(sandbox_url + "/_sandbox/stats").json()["api_calls"]
            reply = httpx2.get(
                url + "/api/v2/systems/1002/monthly_production",
                params=OLD_CLIENT | {"start_date": "1900-01-01"},
            )
            after = httpx2.get(sandbox_url + "/_sandbox/stats").json()["api_calls"]
    assert after - before <= 1  # at most the system lookup, never the readings or lifetime
    assert reply.status_code == 422
    assert "before 1970" in reply.text


@pytest.mark.slow
def test_serve_refuses_a_sandbox_port_something_else_listens_on(tmp_path: Path) -> None:
    """With [sandbox] enabled on a port another program holds, serve exits 1 and says why."""
    with socket.socket() as stranger:
        stranger.bind(("127.0.0.1", 0))
        stranger.listen()
        port = stranger.getsockname()[1]
        sandbox = f"\n[sandbox]\nenabled = true\nport = {port}\n"
        config_path = tmp_path / "proxy.toml"
        config_path.write_text(support.config_text(f"http://127.0.0.1:{port}", tmp_path, sandbox))
        command = [sys.executable, "-m", "proxy.cli", "serve", "--config", str(config_path)]
        command += ["--port", str(support.free_port())]
        done = subprocess.run(command, cwd=support.ROOT, capture_output=True, timeout=60)
    assert done.returncode == 1
    assert f"port {port} on 127.0.0.1 is already in use" in done.stderr.decode()


@pytest.mark.slow
def test_a_429_from_an_upstream_clock_25_hours_ahead_blocks_a_server_for_its_minute(
    tmp_path: Path,
) -> None:
    """The sandbox's clock runs 25 h ahead and it answers 429 for the minute: the v2 answer's
    period_end is within the proxy's minute, and the proxy keeps off the upstream until then."""
    with support.sandbox(SandboxSettings()) as (sandbox_url, _):
        httpx2.post(sandbox_url + "/_sandbox/clock", json={"offset": 25 * 3600}).raise_for_status()
        httpx2.post(sandbox_url + "/_sandbox/faults", json={"force_429": True}).raise_for_status()
        config_path = tmp_path / "proxy.toml"
        config_path.write_text(support.config_text(sandbox_url, tmp_path))
        with support.serve_process(config_path, 1) as url:
            first = httpx2.get(url + "/api/v2/systems/1001/summary", params=AUTH, timeout=30)
            now = time.time()
            refused = httpx2.get(sandbox_url + "/_sandbox/stats").json()["rate_limited"]
            httpx2.post(sandbox_url + "/_sandbox/faults", json={"force_429": False})
            second = httpx2.get(url + "/api/v2/systems/1001/inventory", params=AUTH, timeout=30)
            stats = httpx2.get(sandbox_url + "/_sandbox/stats").json()
    assert first.status_code == 409, first.text
    assert now - 1 <= first.json()["period_end"] <= now + 61  # not 25 h ahead
    assert second.status_code == 409  # still blocked within that minute, without asking
    assert stats["rate_limited"] == refused
