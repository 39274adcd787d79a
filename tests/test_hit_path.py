"""What a v2 cache hit costs: on the Redis cache, no read of Redis within a lease."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis
from starlette.types import Message

from proxy.app import create_app
from proxy.clock import SYSTEM
from tests import support

pytestmark = pytest.mark.anyio
DAY = 86400


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def hit(app: Any, path: str, query: str) -> tuple[int, dict[bytes, bytes]]:
    """One GET answered by ``app`` in this process: its status and headers."""
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    scope: dict[str, Any] = {"type": "http", "method": "GET", "path": path, "state": {}}
    scope |= {"raw_path": path.encode(), "query_string": query.encode(), "headers": []}
    await app(scope, receive, send)
    return sent[0]["status"], dict(sent[0]["headers"])


async def gets(client: Redis) -> int:
    """How many GETs the Redis server has answered."""
    stats = await client.info("commandstats")
    return int(stats.get("cmdstat_get", {}).get("calls", 0))


async def test_hits_on_the_redis_cache_within_a_lease_read_nothing_from_redis(
    redis_url: str, tmp_path: Path
) -> None:
    """50 hits in a row on the Redis cache read its change counter once a lease (20 ms) at
    most, not once a hit (on the old code: a GET per hit, 50)."""
    start = (int(SYSTEM.now()) // DAY - 3) * DAY
    path, query = (
        "/api/v2/systems/1002/stats",
        f"key=demo-v2-key&user_id=demo-user&start_at={start}&end_at={start + DAY}",
    )
    extra = f'[cache]\nbackend = "redis"\n[redis]\nurl = "{redis_url}"\n'
    admin = Redis.from_url(redis_url)
    with support.sandbox() as (sandbox_url, _):
        app = create_app(support.proxy_config(sandbox_url, tmp_path, extra, per_minute=1000))
        async with app.router.lifespan_context(app):
            for _ in range(3):  # fetched, memoized, checked
                status, _ = await hit(app, path, query)
                assert status == 200
            before = await gets(admin)
            answers = [await hit(app, path, query) for _ in range(50)]
            read = await gets(admin) - before
    await admin.aclose()
    assert [(s, h[b"x-cache"]) for s, h in answers] == [(200, b"HIT")] * 50
    assert read <= 5, read
