"""What a v2 cache hit costs: no read of Redis within a lease, one access line's fields encoded
once per distinct request, and the Redis lease never hiding a change that has finished."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from redis.asyncio import Redis
from starlette.types import Message

from proxy.app import create_app
from proxy.cache import cache_key
from proxy.clock import SYSTEM
from proxy.http.middleware import AccessLines
from proxy.observability.logs import AccessLog
from tests import support, test_logs
from tests.test_cache import Clock, Upstream, opened
from tests.test_logs import Channel, drain

pytestmark = pytest.mark.anyio
DAY = 86400
channel = test_logs.channel  # the fixture: a socket keeping each write whole


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

    scope = {"type": "http", "method": "GET", "path": path, "raw_path": path.encode()}
    scope |= {"query_string": query.encode(), "headers": [(b"host", b"proxy")], "state": {}}
    await app(scope, receive, send)
    return sent[0]["status"], dict(sent[0]["headers"])


async def gets(client: Redis) -> int:
    """How many GETs the Redis server has answered."""
    stats = await client.info("commandstats")
    return int(stats.get("cmdstat_get", {}).get("calls", 0))


async def test_hits_on_the_redis_cache_within_a_lease_read_nothing_from_redis(
    redis_url: str, tmp_path: Path
) -> None:
    """50 hits in a row on the Redis cache read its change counter once a lease (10 ms) at
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


async def test_a_change_finished_on_one_replica_ends_the_lease_of_the_others(
    redis_url: str, tmp_path: Path
) -> None:
    """A replica holding the change counter under its lease still sees a write or a purge
    another replica has finished: each waits the lease out before it returns."""
    async with (
        opened("redis", redis_url, tmp_path) as first,
        opened("redis", redis_url, tmp_path) as second,
    ):
        clock = Clock()
        first.clock = second.clock = clock
        upstream = Upstream(clock)
        entry, _, _ = await first.get_or_fetch(cache_key("acme", "/s", ()), upstream)
        sources = ((cache_key("acme", "/s", ()), entry.stored_at),)
        now = clock.now()
        for change in ("write", "purge"):
            seen = await second.unchanged(sources, now)
            assert seen is not None and second.still(seen, now, 1)  # held: no read
            if change == "write":
                await first.get_or_fetch(cache_key("acme", "/other", ()), upstream)
            else:
                await first.purge("acme")
            assert not second.still(seen, now, 1), change
            if change == "write":
                assert await second.unchanged(sources, now, seen) not in (None, seen)


async def test_an_access_line_encodes_a_repeated_requests_fields_once(channel: Channel) -> None:
    """Requests told apart only by id and duration share their fields' encoding; the lines
    are whole JSON objects with every field; distinct paths (the client's) stay bounded."""
    read, write = channel
    lines = AccessLines(max_kept=3)
    scope: dict[str, Any] = {"method": "GET", "path": '/api/v2/"x"', "state": {"tenant": "t"}}
    known = lines.known(scope, "/api/v2/{x}", 200)
    assert lines.known(dict(scope), "/api/v2/{x}", 200) is known
    log = AccessLog(write, block=4096, delay=60)
    log.request("abc", known, 1.234)
    log.flush()
    (block,) = drain(read)
    assert orjson.loads(block) == {
        "ts": orjson.loads(block)["ts"],
        "level": "info",
        "logger": "proxy.access",
        "msg": "request",
        "request_id": "abc",
        "method": "GET",
        "path": '/api/v2/"x"',
        "route": "/api/v2/{x}",
        "status": 200,
        "tenant": "t",
        "duration_ms": 1.23,
    }
    for n in range(10):
        lines.known({**scope, "path": f"/p{n}"}, "unmatched", 404)
    assert len(lines.kept) <= 3
