"""Held live_data streams on `enphase-proxy serve`: capped per team client and per tenant, in a
connection pool of their own, so legacy requests that need the upstream are still answered."""

from __future__ import annotations

import threading
from contextlib import ExitStack
from pathlib import Path

import httpx2
import pytest

from proxy.sandbox import SandboxSettings
from tests import support

pytestmark = pytest.mark.slow  # a real server holding streams for seconds

LIVE = "/api/v4/systems/1002/live_data"
AUTH = {"key": "demo-v2-key", "user_id": "demo-user"}
CAPS = "max_connections = 4\nstreams_per_client = 2\nstreams_per_tenant = 3\n"
SECOND_TEAM = '\n[[team_clients]]\nname = "team2"\nkey = "team2-key"\ntenants = ["demo"]\n'


def test_held_streams_leave_legacy_requests_answered(tmp_path: Path) -> None:
    """Six streams of two team clients against caps of 2 per client and 3 per tenant, and a call
    pool of 4 connections: 3 streams are held, the others refused at once (429 over the
    client's cap, 503 over the tenant's, with Retry-After); every uncached legacy request made
    while they are held is answered 200."""
    with support.sandbox(SandboxSettings(live_data_pace=0.5)) as (sandbox_url, _):
        text = support.config_text(sandbox_url, tmp_path, SECOND_TEAM)
        config_path = tmp_path / "proxy.toml"
        config_path.write_text(text.replace("timeout = 5.0\n", "timeout = 5.0\n" + CAPS))
        with support.serve_process(config_path, 1) as url, ExitStack() as held:
            statuses: list[tuple[str, int, str | None]] = []
            lock = threading.Lock()

            def open_stream(key: str) -> None:
                client = httpx2.Client(timeout=30)
                held.callback(client.close)
                headers = {"Authorization": f"Bearer {key}", "duration": "300"}
                reply = held.enter_context(client.stream("GET", url + LIVE, headers=headers))
                with lock:
                    statuses.append((key, reply.status_code, reply.headers.get("retry-after")))

            for key in ["demo-team-key"] * 3 + ["team2-key"] * 3:
                open_stream(key)
            legacy = [
                httpx2.get(f"{url}/api/v2/systems/{system}/summary", params=AUTH, timeout=30)
                for system in (1001, 1002, 1003, 1004)
            ]
        assert [reply.status_code for reply in legacy] == [200] * 4
        assert statuses == [
            ("demo-team-key", 200, None),
            ("demo-team-key", 200, None),
            ("demo-team-key", 429, "30"),
            ("team2-key", 200, None),
            ("team2-key", 503, "30"),
            ("team2-key", 503, "30"),
        ]
