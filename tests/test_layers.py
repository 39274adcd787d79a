"""Each upstream layer alone, on httpx2's MockTransport."""

from __future__ import annotations

from pathlib import Path
from types import CoroutineType

import httpx2
import orjson
import pytest
from prometheus_client import REGISTRY

from proxy.cache import MemoryReplyStore, ReplyCache, open_cache
from proxy.clock import VirtualClock
from proxy.config import Cache, Config, Limits, Quota, Server, Tenant
from proxy.errors import (
    AuthorizationUnavailable,
    QuotaRefused,
    Reauthorization,
    UpstreamGarbage,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from proxy.observability import metrics
from proxy.quota.governor import MemoryQuotaStore, QuotaGovernor, open_governor
from proxy.quota.pacer import open_pacer
from proxy.tokens import NeedsReauthorization, TokenUnavailable
from proxy.upstream.authorize import Authorize
from proxy.upstream.caching import Caching
from proxy.upstream.call import Call, request
from proxy.upstream.govern import Govern
from proxy.upstream.meter import Meter
from proxy.upstream.stack import Upstream, layers
from proxy.v4.paths import PathMatch, V4Table

pytestmark = pytest.mark.anyio

ROOT = "https://api.example/api/v4"
T0 = 1_781_542_800.0  # 2026-06-15 17:00 UTC
TENANT = Tenant("acme", "the-api-key", "cid", "secret", limits=Limits(2, 1000), writes_per_month=1)
SUMMARY = b'{"energy_today": 1}'  # enough of a summary to be data (proxy.v4.shapes)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def recording(
    *statuses: int, body: bytes = b"{}"
) -> tuple[httpx2.MockTransport, list[httpx2.Request]]:
    """A MockTransport answering ``statuses`` in turn (the last one repeats); and its requests."""
    seen: list[httpx2.Request] = []

    def handler(sent: httpx2.Request) -> httpx2.Response:
        seen.append(httpx2.Request(sent.method, sent.url, headers=sent.headers.copy()))
        status = statuses[min(len(seen), len(statuses)) - 1]
        return httpx2.Response(status, content=body, headers={"Content-Type": "application/json"})

    return httpx2.MockTransport(handler), seen


def call(path: str = "/systems/1/summary", method: str = "GET") -> httpx2.Request:
    content = b"{}" if method != "GET" else None
    return request(ROOT, Call(TENANT, path, [("a", "1")], "rid-1"), method, content=content)


class Broker:
    """Hands out tokens as the TokenBroker does; ``renewed`` is what a 401 earns (None: refused)."""

    def __init__(self, renewed: str | None = "t2", error: Exception | None = None) -> None:
        self.renewed, self.error = renewed, error
        self.refused: list[str] = []

    async def access_token(self, tenant: str) -> str:
        if self.error is not None:
            raise self.error
        return "t1"

    async def refresh_after_401(self, tenant: str, rejected: str) -> str | None:
        self.refused.append(rejected)
        return self.renewed

    async def renewable(self, tenant: str) -> bool:
        return True


# Authorize


async def test_authorize_adds_the_key_and_the_bearer_token() -> None:
    transport, seen = recording(200)
    reply = await Authorize(transport, Broker()).handle_async_request(call())  # type: ignore[arg-type]
    assert reply.status_code == 200
    (sent,) = seen
    assert sent.headers["Authorization"] == "Bearer t1"
    assert sent.url.params.multi_items() == [("a", "1"), ("key", "the-api-key")]
    assert sent.headers["X-Request-Id"] == "rid-1"


async def test_authorize_retries_once_with_the_renewed_token_after_a_401() -> None:
    transport, seen = recording(401, 200)
    broker = Broker()
    reply = await Authorize(transport, broker).handle_async_request(call())  # type: ignore[arg-type]
    assert reply.status_code == 200 and broker.refused == ["t1"]
    assert [s.headers["Authorization"] for s in seen] == ["Bearer t1", "Bearer t2"]
    assert seen[1].url.params.get_list("key") == ["the-api-key"]


@pytest.mark.parametrize("renewed", [None, "t2"], ids=["refusal-guard", "refused-again"])
async def test_authorize_never_retries_more_than_once(renewed: str | None) -> None:
    transport, seen = recording(401)
    broker = Broker(renewed)
    reply = await Authorize(transport, broker).handle_async_request(call())  # type: ignore[arg-type]
    assert reply.status_code == 401
    assert len(seen) == (1 if renewed is None else 2)


@pytest.mark.parametrize(
    ("failure", "raised"),
    [
        (NeedsReauthorization("acme", "revoked", "run: x"), Reauthorization),
        (TokenUnavailable("acme", "token endpoint down"), AuthorizationUnavailable),
    ],
)
async def test_authorize_turns_token_trouble_into_proxy_errors(
    failure: Exception, raised: type[Exception]
) -> None:
    transport, seen = recording(200)
    with pytest.raises(raised):
        await Authorize(transport, Broker(error=failure)).handle_async_request(call())  # type: ignore[arg-type]
    assert seen == []


# Govern


def governed(transport: httpx2.MockTransport) -> Govern:
    return Govern(transport, QuotaGovernor(MemoryQuotaStore(), 0.0), VirtualClock(T0))


async def test_govern_spends_the_minute_budget_and_refuses_without_calling() -> None:
    transport, seen = recording(200)
    layer = governed(transport)
    for _ in range(2):
        await layer.handle_async_request(call())
    with pytest.raises(QuotaRefused) as refused:
        await layer.handle_async_request(call())
    assert len(seen) == 2
    window = refused.value.window
    assert (window.period, window.limit, window.period_end) == ("minute", 2, T0 + 60)
    assert refused.value.retry_after == 60


async def test_govern_learns_the_window_an_upstream_429_names() -> None:
    body = {"message": "Too Many Requests", "period": "month", "period_end": int(T0) + 3600}
    transport, seen = recording(429, body=orjson.dumps(body))
    layer = governed(transport)
    assert (await layer.handle_async_request(call())).status_code == 429
    with pytest.raises(QuotaRefused) as refused:
        await layer.handle_async_request(call())
    assert refused.value.window.period == "month" and len(seen) == 1


async def test_govern_charges_a_write_once_even_when_it_is_resent() -> None:
    transport, seen = recording(200)
    layer = governed(transport)
    write = call("/systems/config/1/storm_guard", "PUT")
    await layer.handle_async_request(write)
    await layer.handle_async_request(write)  # as Authorize resends it after a 401
    assert len(seen) == 2
    with pytest.raises(QuotaRefused) as refused:  # one write a month
        await layer.handle_async_request(call("/systems/config/1/storm_guard", "PUT"))
    assert refused.value.window.period == "month" and len(seen) == 2


# Meter


def counted(endpoint: str, status: str) -> float:
    metrics.TALLY.flush()
    labels = {"endpoint": endpoint, "status": status}
    return REGISTRY.get_sample_value("enphase_proxy_upstream_requests_total", labels) or 0.0


async def test_meter_counts_calls_by_endpoint_and_status() -> None:
    transport, _ = recording(503)
    before = counted("devices", "503")
    latency_before = REGISTRY.get_sample_value(
        "enphase_proxy_upstream_latency_seconds_count", {"endpoint": "devices"}
    )
    await Meter(transport, VirtualClock(T0)).handle_async_request(call("/systems/1/devices"))
    assert counted("devices", "503") == before + 1
    latency_after = REGISTRY.get_sample_value(
        "enphase_proxy_upstream_latency_seconds_count", {"endpoint": "devices"}
    )
    assert latency_after == (latency_before or 0) + 1


@pytest.mark.parametrize(
    ("error", "label"),
    [(UpstreamTimeout(), "timeout"), (UpstreamUnavailable(reason="refused"), "error")],
)
async def test_meter_counts_failed_calls(error: Exception, label: str) -> None:
    def handler(sent: httpx2.Request) -> httpx2.Response:
        raise error

    before = counted("rgm_stats", label)
    with pytest.raises(type(error)):
        await Meter(httpx2.MockTransport(handler)).handle_async_request(
            call("/systems/1/rgm_stats")
        )
    assert counted("rgm_stats", label) == before + 1


# Caching


def cached(transport: httpx2.MockTransport, clock: VirtualClock) -> Caching:
    cache = ReplyCache(MemoryReplyStore(100, 1 << 20), Cache(), clock=clock)
    return Caching(transport, cache, clock)


async def test_caching_fetches_a_get_once_while_it_is_fresh() -> None:
    transport, seen = recording(200, body=SUMMARY)
    clock = VirtualClock(T0)
    layer = cached(transport, clock)
    first = await layer.handle_async_request(call())
    second = await layer.handle_async_request(call())
    assert len(seen) == 1 and second.content == SUMMARY
    assert (first.extensions["cache"], second.extensions["cache"]) == ("MISS", "HIT")
    clock.advance(301)  # summary stays fresh 300 s
    assert (await layer.handle_async_request(call())).extensions["cache"] == "STALE"
    await layer.cache.close()  # waits for the background refresh
    assert len(seen) == 2


async def test_caching_keeps_no_failed_reply_and_passes_writes_through() -> None:
    transport, seen = recording(503)
    layer = cached(transport, VirtualClock(T0))
    for _ in range(2):
        assert (await layer.handle_async_request(call())).status_code == 503
    for _ in range(2):
        await layer.handle_async_request(call("/systems/config/1/storm_guard", "PUT"))
    assert [s.method for s in seen] == ["GET", "GET", "PUT", "PUT"]


async def test_caching_serves_a_stale_reply_when_the_upstream_fails() -> None:
    answers: list[Exception | None] = [None, UpstreamUnavailable(reason="down")]

    def handler(sent: httpx2.Request) -> httpx2.Response:
        failure = answers.pop(0)
        if failure is not None:
            raise failure
        return httpx2.Response(200, content=SUMMARY)

    clock = VirtualClock(T0)
    layer = cached(httpx2.MockTransport(handler), clock)
    await layer.handle_async_request(call())
    clock.advance(3600)  # beyond stale-while-revalidate, within stale-if-error
    reply = await layer.handle_async_request(call())
    assert (reply.content, reply.extensions["cache"], reply.extensions["age"]) == (
        SUMMARY,
        "STALE",
        3600,
    )


async def test_caching_refuses_a_2xx_without_its_data_and_keeps_nothing() -> None:
    transport, seen = recording(200, body=b"{}")
    layer = cached(transport, VirtualClock(T0))
    for _ in range(2):
        with pytest.raises(UpstreamGarbage):
            await layer.handle_async_request(call())
    assert len(seen) == 2


# The whole stack


async def test_a_miss_resolves_its_v4_endpoint_once_for_every_layer(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The Call carries its endpoint row: the layers and the pacer do not look it up again."""
    config = Config(
        server=Server(data_dir=str(tmp_path)),
        cache=Cache(backend="memory"),
        quota=Quota(backend="memory"),
        tenants={"acme": TENANT},
    )
    transport, seen = recording(200, body=SUMMARY)
    clock = VirtualClock(T0)
    governor = await open_governor(config, clock=clock)
    pacer = await open_pacer(config, governor, clock)
    cache = await open_cache(config, clock=clock)
    http = httpx2.AsyncClient(transport=transport)
    stack = layers(config, http, Broker(), cache, governor, pacer, clock)  # type: ignore[arg-type]
    lookups = []
    find = V4Table.find

    def counted_find(table: V4Table, path: str) -> PathMatch | None:
        lookups.append(path)
        return find(table, path)

    monkeypatch.setattr(V4Table, "find", counted_find)
    upstream = Upstream(ROOT, stack, clock)
    reply = await upstream.get(TENANT, "/systems/1/summary", [("a", "1")])
    assert (reply.cache, len(seen)) == ("MISS", 1)
    assert lookups == ["/systems/1/summary"]
    for opened in (cache, pacer, governor):
        await opened.close()
    await http.aclose()


async def test_a_hit_checks_its_replies_in_the_caches_own_coroutine() -> None:
    """The upstream and its caching layer hand the memo's check on to the reply cache: no
    coroutine of their own on every cache hit."""
    transport, _ = recording(200, body=SUMMARY)
    clock = VirtualClock(T0)
    layer = cached(transport, clock)
    check = Upstream(ROOT, layer, clock).unchanged((), clock.now())
    assert isinstance(check, CoroutineType) and check.cr_code is ReplyCache.unchanged.__code__
    assert await check is not None
    await layer.cache.close()
