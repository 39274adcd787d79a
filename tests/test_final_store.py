"""Final data is never bought twice: replies for past windows outlive the processes."""

from __future__ import annotations

import time
from pathlib import Path

import httpx2
import pytest

from tests import support

AUTH = {"key": "demo-v2-key", "user_id": "demo-user"}
DAY = 86_400
MICRO = "/api/v4/systems/1002/telemetry/production_micro"


@pytest.mark.slow  # two runs of serve with gunicorn workers
def test_a_restart_with_the_same_data_dir_fetches_no_final_window_again(tmp_path: Path) -> None:
    day = (int(time.time()) // DAY - 3) * DAY  # a UTC day three days ago: long past the lag
    params: dict[str, str | int] = {**AUTH, "start_at": day, "end_at": day + DAY}
    with support.sandbox() as (sandbox_url, _):
        path = tmp_path / "proxy.toml"
        path.write_text(support.config_text(sandbox_url, tmp_path / "var"))
        calls = []
        for _ in range(2):  # a deploy: new processes, same data_dir
            with support.serve_process(path, 2) as proxy_url:
                for _ in range(3):
                    reply = httpx2.get(
                        f"{proxy_url}/api/v2/systems/1002/stats", params=params, timeout=60
                    )
                    assert reply.status_code == 200, reply.text
            stats = httpx2.get(sandbox_url + "/_sandbox/stats").json()
            calls.append(stats["api_calls_by_path"][MICRO])
    assert calls[0] == 2  # the two Berlin days the UTC day touches
    assert calls[1] == calls[0]
