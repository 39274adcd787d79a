"""No pickle is read back: a cache row rewritten as a pickle is refused and refetched, never run."""

from __future__ import annotations

import pickle
import sqlite3
from pathlib import Path

import httpx2
import pytest

from proxy.cache.final_store import FinalStore
from tests import support

AUTH = {"key": "demo-v2-key", "user_id": "demo-user"}
PICKLED = 4  # diskcache's MODE_PICKLE


class Payload:
    """Unpickled, it creates ``marker``: proof that a row was deserialised."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return open, (str(self.marker), "w")


def poison(database: Path, marker: Path) -> int:
    """Rewrite every row of a diskcache database as a pickle of ``Payload``; how many rows."""
    with sqlite3.connect(database) as db:
        rows = db.execute(
            "UPDATE Cache SET mode = ?, value = ?, filename = NULL",
            (PICKLED, pickle.dumps(Payload(marker))),
        ).rowcount
    db.close()
    return rows


def test_a_pickled_row_in_the_reply_cache_runs_nothing_and_is_refetched(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    with support.sandbox() as (sandbox_url, _):
        config = support.proxy_config(sandbox_url, tmp_path / "var")
        with support.proxy(config) as proxy_url, httpx2.Client(base_url=proxy_url) as client:
            first = client.get("/api/v2/systems/1001/summary", params=AUTH)
            assert first.headers["X-Cache"] == "MISS"
            assert poison(tmp_path / "var" / "cache" / "cache.db", marker) >= 1
            again = client.get("/api/v2/systems/1001/summary", params=AUTH)
    assert not marker.exists()
    assert again.status_code == 200, again.text
    assert (again.headers["X-Cache"], again.json()) == ("MISS", first.json())


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_a_pickled_final_reply_runs_nothing_and_reads_as_absent(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    store = FinalStore(tmp_path / "final", 1 << 20)
    try:
        await store.set("v4:acme:1:/systems/1/summary?", b"reply")
        assert poison(tmp_path / "final" / "cache.db", marker) == 1
        assert await store.get("v4:acme:1:/systems/1/summary?") is None
        assert await store.purge("v4:acme:*") == 1  # a refused row is still dropped by a purge
        with pytest.raises(TypeError):
            await store.set("v4:acme:2:/systems/2/summary?", {"not": "bytes"})  # type: ignore[arg-type]
    finally:
        await store.close()
    assert not marker.exists()
