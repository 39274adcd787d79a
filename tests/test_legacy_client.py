"""A v2 client library written for the real v2 API works unchanged against the proxy."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests import support
from tests.legacy.enlighten_v2 import Enlighten, EnlightenError


@pytest.fixture(scope="module")
def enlighten(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Enlighten]:
    """The v2 client, configured only with the proxy's base URL and the legacy credentials."""
    with support.sandbox() as (sandbox_url, _):
        config = support.proxy_config(sandbox_url, Path(tmp_path_factory.mktemp("client")))
        with support.proxy(config) as proxy_url:
            yield Enlighten("demo-v2-key", "demo-user", base_url=f"{proxy_url}/api/v2")


def test_the_client_reads_systems_and_their_data(enlighten: Enlighten) -> None:
    systems = enlighten.systems()
    assert {s["system_id"] for s in systems} == {1001, 1002, 1003, 1004}
    summary = enlighten.summary(1001)
    assert summary["system_id"] == 1001 and summary["status"] in ("normal", "comm", "power")
    zone = ZoneInfo("Europe/Berlin")
    day = dt.datetime.now(zone).date() - dt.timedelta(days=5)
    start = int(dt.datetime.combine(day, dt.time(), zone).timestamp())
    stats = enlighten.stats(1002, start, start + 86400)
    assert stats["intervals"] and all(i["end_at"] > start for i in stats["intervals"])
    consumption = enlighten.consumption_stats(1002, start, start + 3 * 86400)
    assert len(consumption["intervals"]) == 3 * 96
    lifetime = enlighten.energy_lifetime(1002, day.isoformat(), day.isoformat())
    assert lifetime["production"][0] > 0
    inventory = enlighten.inventory(1002)
    assert len(inventory["inverters"]) == 20 and inventory["envoys"]
    assert enlighten.rgm_stats(1004, start, start + 86400)["intervals"]
    assert enlighten.search_system_id("122100001003") == 1003


def test_the_client_sees_the_errors_it_was_written_for(enlighten: Enlighten) -> None:
    with pytest.raises(EnlightenError) as missing:
        enlighten.search_system_id("000000000000")
    assert missing.value.status == 404
    with pytest.raises(EnlightenError) as wrong:
        Enlighten("not-a-key", "demo-user", enlighten.base_url).summary(1001)
    assert wrong.value.status == 401
    assert "Not authorized" in str(wrong.value)
    with pytest.raises(EnlightenError) as future:
        enlighten.summary(1001, summary_date="2999-01-01")
    assert future.value.status == 422
