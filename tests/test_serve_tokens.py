"""`enphase-proxy serve --workers 4` under 200 concurrent legacy requests as a token expires."""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from pathlib import Path

import httpx2
import pytest

from proxy.config import parse
from tests import support

AUTH = {"key": "demo-v2-key", "user_id": "demo-user"}
DAY = 86400

pytestmark = pytest.mark.slow  # four gunicorn workers under load


@pytest.mark.parametrize("store", ["file", "redis"])
def test_four_workers_refresh_once_for_200_concurrent_requests(
    store: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    extra = f'[tokens]\nstore = "{store}"\n'
    if store == "redis":
        extra += f'[redis]\nurl = "{request.getfixturevalue("redis_url")}"\n'
    with support.sandbox_process() as url:
        text = support.config_text(url, tmp_path / "var", extra)
        path = tmp_path / "proxy.toml"
        path.write_text(text)
        config = parse(text, str(path))
        margin = config.tokens.refresh_margin
        expires_at = int(time.time()) + margin + 8
        asyncio.run(support.import_tokens(config, "demo", support.fresh_tokens(url), expires_at))
        day = (int(time.time()) // DAY - 2) * DAY
        with support.serve_process(path, 4) as proxy:
            time.sleep(max(0.0, expires_at - margin - time.time() + 0.2))

            def call(i: int) -> httpx2.Response:
                params: dict[str, str | int] = {
                    **AUTH,
                    "start_at": day - i * 300,
                    "end_at": day - i * 300 + DAY,
                }
                return httpx2.get(f"{proxy}/api/v2/systems/1002/stats", params=params, timeout=60)

            with concurrent.futures.ThreadPoolExecutor(50) as pool:
                responses = list(pool.map(call, range(200)))
        assert [r.status_code for r in responses] == [200] * 200
        assert support.grants(url)["refresh_token"] == 1
