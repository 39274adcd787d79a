"""Token stores: durable atomic records, 0600 files, and exclusive per-tenant locks."""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import secrets
import stat
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, cast

import pytest
from hypothesis import given
from hypothesis import strategies as st

from proxy.storage.redis_client import connect
from proxy.tokens.store import LockTimeout, TokenFileStore, TokenRecord, TokenRedisStore, TokenStore
from tests import support

pytestmark = pytest.mark.anyio

MakeStore = Callable[..., TokenStore]  # a store over the test's one shared location


@pytest.fixture
def anyio_backend() -> str:
    """Async tests run on asyncio."""
    return "asyncio"


text = st.text(st.characters(codec="utf-8"), max_size=50)
records = st.builds(
    TokenRecord,
    access_token=st.none() | text,
    refresh_token=st.none() | text,
    expires_at=st.none() | st.integers(0, 2**40),
    obtained_at=st.integers(0, 2**40),
    reauthorize=st.none() | text,
)


@given(records)
def test_record_json_round_trip(record: TokenRecord) -> None:
    assert TokenRecord.from_json(record.to_json()) == record


def test_record_repr_hides_tokens() -> None:
    assert "s3cret" not in repr(TokenRecord("s3cret-a", "s3cret-r", 1, 1))


@pytest.fixture(params=["file", "redis"])
async def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[MakeStore]:
    """A factory of stores over one shared location (file path or Redis key prefix)."""
    opened: list[TokenStore] = []
    prefix = f"test-{secrets.token_hex(4)}:"

    def make(lock_timeout: float = 1.0) -> TokenStore:
        if request.param == "file":
            store: TokenStore = TokenFileStore(tmp_path / "tokens.json", lock_timeout)
        else:
            client = connect(request.getfixturevalue("redis_url"))
            store = TokenRedisStore(client, lock_timeout, prefix, owned=True)
        opened.append(store)
        return store

    yield make
    for store in opened:
        await store.close()


async def test_load_save_replace(make_store: MakeStore) -> None:
    store = make_store()
    assert await store.load("demo") is None
    first = TokenRecord("a1", "r1", 100, 50)
    await store.save("demo", first)
    assert await make_store().load("demo") == first
    await store.save("demo", TokenRecord("a2", None, None, 60, "refresh grant rejected"))
    assert support.present(await store.load("demo")).reauthorize == "refresh grant rejected"


async def test_lock_is_exclusive_and_times_out(make_store: MakeStore) -> None:
    holder, waiter = make_store(), make_store(lock_timeout=0.2)
    async with holder.lock("demo"):
        with pytest.raises(LockTimeout):
            async with waiter.lock("demo"):
                pass
    async with waiter.lock("demo"):
        pass


async def test_waiter_gets_the_lock_when_it_is_released(make_store: MakeStore) -> None:
    holder, waiter = make_store(), make_store(lock_timeout=5)
    order: list[str] = []

    async def hold() -> None:
        async with holder.lock("demo"):
            await asyncio.sleep(0.2)
            order.append("holder done")

    task = asyncio.create_task(hold())
    await asyncio.sleep(0.05)
    async with waiter.lock("demo"):
        order.append("waiter in")
    await task
    assert order == ["holder done", "waiter in"]


def test_file_is_private_and_no_temp_file_is_left(tmp_path: Path) -> None:
    store = TokenFileStore(tmp_path / "tokens.json", 1.0)
    asyncio.run(store.save("demo", TokenRecord("a", "r", 1, 1)))
    asyncio.run(store.save("demo", TokenRecord("b", "r", 2, 2)))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tokens.demo.json"]
    assert stat.S_IMODE(store.file("demo").stat().st_mode) == 0o600

    async def lock() -> None:
        async with store.lock("demo"):
            pass

    asyncio.run(lock())
    assert stat.S_IMODE(Path(f"{store.file('demo')}.lock").stat().st_mode) == 0o600


def test_file_name_quotes_the_tenant(tmp_path: Path) -> None:
    store = TokenFileStore(tmp_path / "tokens.json", 1.0)
    assert store.file("../x").parent == tmp_path


def test_failed_write_keeps_the_old_record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = TokenFileStore(tmp_path / "tokens.json", 1.0)
    old = TokenRecord("old-access", "old-refresh", 1, 1)
    asyncio.run(store.save("demo", old))

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError):
        asyncio.run(store.save("demo", TokenRecord("new", "new", 2, 2)))
    monkeypatch.undo()
    assert asyncio.run(store.load("demo")) == old
    assert [p.name for p in tmp_path.iterdir()] == ["tokens.demo.json"]


def test_readers_never_see_a_partial_record(tmp_path: Path) -> None:
    store = TokenFileStore(tmp_path / "tokens.json", 1.0)
    written = [TokenRecord(f"access-{i}" * 200, f"refresh-{i}", i, i) for i in range(2)]
    asyncio.run(store.save("demo", written[0]))
    seen: list[TokenRecord] = []
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            seen.append(TokenRecord.from_json(store.file("demo").read_bytes()))

    reader = threading.Thread(target=read)
    reader.start()
    for i in range(300):
        asyncio.run(store.save("demo", written[i % 2]))
    done.set()
    reader.join()
    assert seen and set(seen) <= set(written)


def _hold_flock(path: Path, ready: Any) -> None:
    """Child process: hold the tenant's file lock until killed."""

    async def hold() -> None:
        async with TokenFileStore(path, 1.0).lock("demo"):
            ready.set()
            await asyncio.sleep(60)

    asyncio.run(hold())


@pytest.mark.slow
def test_file_lock_is_released_when_its_holder_dies(tmp_path: Path) -> None:
    context = multiprocessing.get_context("fork")
    ready = context.Event()
    child = context.Process(target=_hold_flock, args=(tmp_path / "tokens.json", ready))
    child.start()
    assert ready.wait(10)
    waiter = TokenFileStore(tmp_path / "tokens.json", 0.2)

    async def take() -> None:
        async with waiter.lock("demo"):
            pass

    with pytest.raises(LockTimeout):
        asyncio.run(take())
    child.kill()
    child.join(5)
    waiter.lock_timeout = 5
    asyncio.run(take())


async def test_redis_lock_expires_and_owner_check_protects_the_next_owner(redis_url: str) -> None:
    prefix = f"test-{secrets.token_hex(4)}:"
    first = TokenRedisStore(connect(redis_url), 0.2, prefix, owned=True)
    second = TokenRedisStore(connect(redis_url), 5.0, prefix, owned=True)
    try:
        held = first.lock("demo")
        await held.__aenter__()
        await asyncio.sleep(0.3)
        async with second.lock("demo"):
            await held.__aexit__(None, None, None)
            assert await second.redis.get(f"{second.key('demo')}:lock") is not None
            with pytest.raises(LockTimeout):
                async with first.lock("demo"):
                    pass
        assert await second.redis.get(f"{second.key('demo')}:lock") is None
    finally:
        await first.close()
        await second.close()


async def test_redis_record_is_json_under_one_key(redis_url: str) -> None:
    store = TokenRedisStore(connect(redis_url), 1.0, f"test-{secrets.token_hex(4)}:", owned=True)
    try:
        await store.save("demo", TokenRecord("a", "r", 5, 4))
        raw = cast(bytes, await store.redis.get(store.key("demo")))
        assert json.loads(raw)["expires_at"] == 5
    finally:
        await store.close()
