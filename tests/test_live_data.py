"""live_data through the broker: streamed as it arrives, past the upstream deadline, uncached."""

from __future__ import annotations

import time
from pathlib import Path

import httpx2
import orjson

from proxy.config import parse
from proxy.sandbox import SandboxSettings
from tests import support

LIVE = "/api/v4/systems/1002/live_data"
TEAM = {"Authorization": "Bearer demo-team-key"}
PACE = 0.1  # real seconds between two sandbox events: 30 events take 3 s
DEADLINE = 1.0  # the proxy's upstream deadline, far shorter than the stream


def events(body: bytes) -> list[dict[str, object]]:
    """The JSON payloads of a text/event-stream body."""
    return [orjson.loads(line[6:]) for line in body.split(b"\n") if line.startswith(b"data: ")]


def test_live_data_is_streamed_as_it_arrives_and_not_cut_by_the_upstream_deadline(
    tmp_path: Path,
) -> None:
    """30 events over 3 s arrive whole through a proxy whose upstream deadline is 1 s; the first
    arrives long before the last; the upstream's content type is kept; each call goes upstream."""
    with support.sandbox(SandboxSettings(live_data_pace=PACE)) as (sandbox_url, app):
        text = support.config_text(sandbox_url, tmp_path).replace(
            "timeout = 5.0", f"timeout = {DEADLINE}"
        )
        with support.proxy(parse(text)) as proxy_url:
            for _ in range(2):
                started = time.monotonic()
                first_at = None
                body = b""
                with httpx2.stream(
                    "GET", proxy_url + LIVE, headers={**TEAM, "duration": "30"}, timeout=30
                ) as response:
                    assert response.status_code == 200
                    assert response.headers["content-type"].startswith("text/event-stream")
                    for part in response.iter_bytes():
                        first_at = first_at or time.monotonic() - started
                        body += part
                total = time.monotonic() - started
                received = events(body)
                assert len(received) == 30
                assert {e["data"]["data"]["system_id"] for e in received} == {1002}  # type: ignore[index]
                assert total > DEADLINE * 2
                assert first_at is not None and first_at < total / 2
        assert (
            app.state.sandbox.stats.api_calls_by_path["/api/v4" + LIVE.removeprefix("/api/v4")] == 2
        )


def test_live_data_duration_the_upstream_refuses_is_passed_back(tmp_path: Path) -> None:
    """The ``duration`` header reaches the upstream: a value v4 refuses gets the upstream's 422."""
    with support.sandbox(SandboxSettings(live_data_pace=PACE)) as (sandbox_url, _):
        with support.proxy(parse(support.config_text(sandbox_url, tmp_path))) as proxy_url:
            response = httpx2.get(proxy_url + LIVE, headers={**TEAM, "duration": "5"}, timeout=30)
            assert response.status_code == 422
