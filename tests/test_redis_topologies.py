"""Redis Sentinel and Redis Cluster through the one client factory: token writes confirmed by a
replica survive a failover, a lost one comes back from the file copy, and every store works on
a Cluster (keys of a tenant share a slot)."""

from __future__ import annotations

import asyncio
import re
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import httpx2
import pytest

from proxy.config import Config, parse
from proxy.observability.metrics import TOKEN_WRITE_UNCONFIRMED
from proxy.storage import redis_unavailable
from proxy.tokens.store import TokenRecord, TokenRedisStore, open_store
from tests import support

AUTH = {"key": "demo-v2-key", "user_id": "demo-user"}
TEAM = {"Authorization": "Bearer demo-team-key"}
RECORD = TokenRecord("access-1", "refresh-1", expires_at=2_000_000_000, obtained_at=1_000)


def stores_text(sandbox_url: str, data_dir: Path, redis_table: str) -> str:
    """The demo configuration with tokens, cache and quota on the Redis of ``redis_table``."""
    extra = f'[tokens]\nstore = "redis"\n[cache]\nbackend = "redis"\n{redis_table}'
    text = support.config_text(sandbox_url, data_dir, extra)
    return text.replace('backend = "memory"', 'backend = "redis"', 1)  # [quota]


def stores_on(sandbox_url: str, data_dir: Path, redis_table: str) -> Config:
    """``stores_text`` parsed."""
    return parse(stores_text(sandbox_url, data_dir, redis_table), "<test>")


def cluster_table(ports: list[int]) -> str:
    nodes = ", ".join(f'"127.0.0.1:{port}"' for port in ports)
    return f"[redis]\ncluster_nodes = [{nodes}]\n"


async def held(store: TokenRedisStore, tenant: str) -> TokenRecord:
    """The record Redis itself holds for ``tenant``."""
    raw = await store.redis.get(store.key(tenant))
    assert isinstance(raw, bytes | str), raw
    return TokenRecord.from_json(raw)


def unconfirmed(tenant: str) -> float:
    value: float = TOKEN_WRITE_UNCONFIRMED.labels(tenant)._value.get()
    return value


@pytest.mark.slow
def test_a_token_write_is_on_the_replica_before_save_returns_and_survives_a_failover(
    tmp_path: Path,
) -> None:
    with support.redis_sentinel_group(tmp_path / "redis") as group:
        config = stores_on("http://127.0.0.1:9", tmp_path, group.toml())

        async def run() -> TokenRecord | None:
            store = open_store(config)
            try:
                await store.save("demo", RECORD)
                assert isinstance(store, TokenRedisStore) and store.acks == 1
                replica = next(port for port in group.data if port != group.master())
                held = support.redis_cli(replica, "GET", store.key("demo"))
                assert TokenRecord.from_json(held) == RECORD  # confirmed before save returned
                master = group.master()
                group.nodes.kill(master)
                deadline = time.monotonic() + 30
                while group.master() == master:
                    assert time.monotonic() < deadline, "the sentinels never failed over"
                    await asyncio.sleep(0.1)
                while True:  # the other sentinels agree on the new master a moment later
                    try:
                        loaded: TokenRecord | None = await store.load("demo")
                        return loaded
                    except Exception as exc:  # what a client is answered 503 for meanwhile
                        if not redis_unavailable(exc) or time.monotonic() > deadline:
                            raise
                        await asyncio.sleep(0.1)
            finally:
                await store.close()

        before = unconfirmed("demo")
        assert asyncio.run(run()) == RECORD
        assert unconfirmed("demo") == before


def test_an_unconfirmed_write_stands_and_a_write_redis_lost_comes_back_from_the_file_copy(
    tmp_path: Path, redis_url: str
) -> None:
    # A lone server has no replica: every write waits ack_timeout and stays unconfirmed.
    table = f'[redis]\nurl = "{redis_url}"\nreplica_acks = 1\nack_timeout = 0.05\n'
    config = stores_on("http://127.0.0.1:9", tmp_path, table)
    tenant = f"lost-{time.time_ns()}"
    rotated = replace(RECORD, refresh_token="refresh-2", obtained_at=2_000)
    newest = replace(RECORD, refresh_token="refresh-3", obtained_at=3_000)

    async def run() -> None:
        store = open_store(config)
        assert isinstance(store, TokenRedisStore)
        try:
            await store.save(tenant, RECORD)
            await store.save(tenant, rotated)
            assert unconfirmed(tenant) == 2
            # A failover took the master's last write back: Redis holds the older record.
            await store.redis.set(store.key(tenant), RECORD.to_json())
            assert await store.load(tenant) == rotated
            assert await held(store, tenant) == rotated
            # Another replica refreshed since: its newer record is never overwritten.
            await store.redis.set(store.key(tenant), newest.to_json())
            assert await store.load(tenant) == newest
            assert await held(store, tenant) == newest
        finally:
            await store.close()

    asyncio.run(run())


@pytest.mark.slow
def test_the_proxy_keeps_tokens_cache_and_quota_on_a_redis_cluster(tmp_path: Path) -> None:
    with support.redis_cluster(tmp_path / "cluster") as ports, support.sandbox() as (url, _):
        config = stores_on(url, tmp_path, cluster_table(ports))
        with support.proxy(config) as proxy, httpx2.Client(base_url=proxy, timeout=30) as client:
            legacy = [client.get("/api/v2/systems/1001/summary", params=AUTH) for _ in range(3)]
            team = client.get("/api/v4/systems", headers=TEAM)
            ready = client.get("/readyz", headers=support.SCRAPE)
        record = support.stored(config, "demo")
    assert [r.status_code for r in legacy] == [200] * 3, legacy[0].text
    assert [r.headers.get("X-Cache") for r in legacy][1:] == ["HIT", "HIT"]
    assert team.status_code == 200, team.text
    assert ready.status_code == 200, ready.text
    assert record is not None and record.refresh_token


@pytest.mark.slow
def test_two_replicas_on_a_redis_cluster_share_one_token_one_fetch_and_one_budget(
    tmp_path: Path,
) -> None:
    with support.redis_cluster(tmp_path / "cluster") as ports, support.sandbox() as (url, _):
        paths = []
        for name in ("a", "b"):
            (tmp_path / name).mkdir()
            paths.append(tmp_path / name / "proxy.toml")
            paths[-1].write_text(stores_text(url, tmp_path / name, cluster_table(ports)))
        with support.serve_process(paths[0], 1) as a, support.serve_process(paths[1], 1) as b:
            with ThreadPoolExecutor(40) as pool:
                replies = list(
                    pool.map(
                        lambda n: httpx2.get(
                            (a, b)[n % 2] + "/api/v2/systems/1001/summary", params=AUTH, timeout=30
                        ),
                        range(40),
                    )
                )
            used = [
                month_used(httpx2.get(r + "/metrics", headers=support.SCRAPE).text) for r in (a, b)
            ]
        stats = httpx2.get(url + "/_sandbox/stats").json()
    assert [r.status_code for r in replies] == [200] * 40, replies[0].text
    assert {k: n for k, n in stats["token_grants"].items() if n} == {"password": 1}
    assert sum(stats["api_calls_by_path"].values()) == stats["api_calls"] == 1
    assert used == [1, 1]  # one budget, counted once, seen by both


def month_used(metrics_text: str) -> float:
    found = re.search(
        r'enphase_proxy_quota_used\{period="month",tenant="demo"\} (\S+)', metrics_text
    )
    assert found, metrics_text[-500:]
    return float(found.group(1))


def test_a_request_while_redis_is_out_of_reach_is_a_503_with_retry_after(tmp_path: Path) -> None:
    nodes = support.RedisNodes(tmp_path / "redis")
    port = nodes.start(support.free_port())
    try:
        with support.sandbox() as (url, _):
            config = stores_on(url, tmp_path, f'[redis]\nurl = "redis://127.0.0.1:{port}/0"\n')
            with support.proxy(config) as proxy, httpx2.Client(base_url=proxy) as client:
                before = client.get("/api/v2/systems/1001/summary", params=AUTH)
                nodes.kill(port)
                legacy = client.get("/api/v2/systems/1002/summary", params=AUTH)
                team = client.get("/api/v4/systems/1002/summary", headers=TEAM)
    finally:
        nodes.stop()
    assert before.status_code == 200, before.text
    for reply in (legacy, team):
        assert reply.status_code == 503, reply.text
        assert int(reply.headers["Retry-After"]) > 0
    assert legacy.json() == {"errorCode": 7, "errorMessages": ["Data temporarily unavailable."]}
    assert team.json()["code"] == 503
