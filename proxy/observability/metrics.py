"""Prometheus metrics, aggregated across gunicorn workers through a shared directory."""

from __future__ import annotations

import asyncio
import os
from bisect import bisect_left
from collections.abc import Iterable
from contextvars import ContextVar
from functools import lru_cache
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

REQUESTS = Counter("enphase_proxy_requests", "Requests answered by the proxy.", ["route", "status"])
UPSTREAM_REQUESTS = Counter(
    "enphase_proxy_upstream_requests", "Calls made to the v4 upstream.", ["endpoint", "status"]
)
UPSTREAM_LATENCY = Histogram(
    "enphase_proxy_upstream_latency_seconds",
    "Latency of v4 upstream calls.",
    ["endpoint"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
CACHE = Counter("enphase_proxy_cache", "Cache lookups by result.", ["result"])
DEFERRED = Counter(
    "enphase_proxy_deferred_requests",
    "v2 requests the minute's quota refused, held to be answered again in a later minute.",
)
# Every worker reads the one file store: the latest reading is the figure, not their sum.
CACHE_ENTRIES = Gauge(
    "enphase_proxy_cache_entries", "Entries in the cache.", multiprocess_mode="livemostrecent"
)
CACHE_BYTES = Gauge(
    "enphase_proxy_cache_bytes", "Bytes of the cache.", multiprocess_mode="livemostrecent"
)
QUOTA_REMAINING = Gauge(
    "enphase_proxy_quota_remaining",
    "Upstream calls left in the current period.",
    ["tenant", "period"],
    multiprocess_mode="mostrecent",
)
QUOTA_USED = Gauge(
    "enphase_proxy_quota_used",
    "Upstream calls counted in the current period.",
    ["tenant", "period"],
    multiprocess_mode="mostrecent",
)
TENANT_APP = Gauge(
    "enphase_proxy_tenant_app",
    "1 for each tenant and the v4 app (client id) whose minute and month budget it spends.",
    ["tenant", "app"],
    multiprocess_mode="mostrecent",
)
BUDGET_FORECAST = Gauge(
    "enphase_proxy_budget_forecast_exhaustion",
    "Epoch when the month budget runs out at the current rate (0: not this month).",
    ["tenant"],
    multiprocess_mode="mostrecent",
)
PACED_INTERVAL = Gauge(
    "enphase_proxy_paced_interval_seconds",
    "Refresh interval of each live key the budget allows (0: natural freshness; -1: none).",
    ["tenant"],
    multiprocess_mode="mostrecent",
)
SERVED_AGE = Histogram(
    "enphase_proxy_served_age_seconds",
    "Age of the upstream data behind each answer, by surface (v2 legacy routes, v4 broker).",
    ["surface"],
    buckets=(0, 60, 300, 900, 1800, 3600, 7200, 14400, 43200, 86400, 259200),
)
TOKEN_REFRESH = Counter(
    "enphase_proxy_token_refresh", "OAuth token refreshes by outcome.", ["tenant", "outcome"]
)
REAUTH_NEEDED = Counter(
    "enphase_proxy_reauthorization_needed",
    "Times a tenant was found to need re-authorization.",
    ["tenant"],
)
CLIENT_REQUESTS = Counter(
    "enphase_proxy_client_requests",
    "Requests by legacy or team client and status class.",
    ["client", "status"],
)
CLIENT_UPSTREAM = Counter(
    "enphase_proxy_client_upstream_calls", "Upstream calls caused by each client.", ["client"]
)
REFRESH_TOKEN_OBTAINED = Gauge(
    "enphase_proxy_refresh_token_obtained_timestamp_seconds",
    "When the tenant's current refresh token was issued (it expires unused after 30 days).",
    ["tenant"],
    multiprocess_mode="mostrecent",
)
NEEDS_REAUTHORIZATION = Gauge(
    "enphase_proxy_token_needs_reauthorization",
    "1 while a human must authorize the tenant again, else 0.",
    ["tenant"],
    multiprocess_mode="mostrecent",
)
TOKEN_WRITE_UNCONFIRMED = Counter(
    "enphase_proxy_token_write_unconfirmed",
    "Token writes no Redis replica confirmed in time (kept by the master and the file copy).",
    ["tenant"],
)
CALLER: ContextVar[str] = ContextVar("caller", default="")  # the client a request came from

TOKEN_OUTCOMES = ("ok", "rejected", "error")  # TOKEN_REFRESH's outcomes
STATUS_CLASSES = ("2xx", "4xx", "5xx")  # CLIENT_REQUESTS's statuses
SURFACES = ("v2", "v4")  # SERVED_AGE's surfaces
#: A "most recent" gauge seeded at this time loses to any value a worker sets (stamped now),
#: yet is exported: the multiprocess collector drops a value stamped 0, as one never set.
SEEDED_AT = 1.0

FLUSH_SECONDS = 0.5


def declare(tenants: Iterable[str], clients: Iterable[str], endpoints: Iterable[str]) -> None:
    """Export every series an alert or a panel reads at 0 before its first event.

    Without this a counter that has not moved (a token refresh, a re-authorization, an upstream
    call) is missing, and a panel or an alert sees "no data" instead of 0. The refresh-token
    age is left out: a token obtained at 0 would read as fifty years old.
    """
    for tenant in tenants:
        for outcome in TOKEN_OUTCOMES:
            child(TOKEN_REFRESH, tenant, outcome)
        child(REAUTH_NEEDED, tenant)
        child(TOKEN_WRITE_UNCONFIRMED, tenant)
    for client in clients:
        child(CLIENT_UPSTREAM, client)
        for status in STATUS_CLASSES:
            child(CLIENT_REQUESTS, client, status)
    for endpoint in endpoints:
        child(UPSTREAM_REQUESTS, endpoint, "200")
        child(UPSTREAM_LATENCY, endpoint)
    for surface in SURFACES:
        child(SERVED_AGE, surface)
    for gauge in (CACHE_ENTRIES, CACHE_BYTES):
        gauge._value.set(0.0, timestamp=SEEDED_AT)


@lru_cache(maxsize=4096)
def child(metric: Any, *labels: str) -> Any:
    """``metric.labels(*labels)``, looked up once per label set (label sets are few)."""
    return metric.labels(*labels)


class Tally:
    """Metric updates held in this worker's memory until ``flush`` applies them.

    Each update of a multiprocess metric writes its memory-mapped file under a lock, which
    cost a fifth of a cache hit; updates on the request path go through here instead.
    """

    def __init__(self, max_held: int = 10_000) -> None:
        self.max_held = max_held
        self._counts: dict[Any, int] = {}
        self._observed: dict[tuple[Any, float], int] = {}  # (histogram child, value): times
        self._gauges: dict[Any, float] = {}

    def inc(self, child: Any, times: int = 1) -> None:
        """Count events on a counter (``Counter.labels(...)``)."""
        counts = self._counts
        counts[child] = counts.get(child, 0) + times

    def observe(self, child: Any, value: float) -> None:
        """Record one histogram observation (flushed early if many distinct ones are held)."""
        observed = self._observed
        held = (child, value)
        observed[held] = observed.get(held, 0) + 1
        if len(observed) >= self.max_held:
            self.flush()

    def set(self, gauge: Any, value: float) -> None:
        """Set a gauge (the last value held wins)."""
        self._gauges[gauge] = value

    def flush(self) -> None:
        """Apply every held update."""
        counts, self._counts = self._counts, {}
        observed, self._observed = self._observed, {}
        gauges, self._gauges = self._gauges, {}
        for child, amount in counts.items():
            child.inc(amount)
        for (child, value), times in observed.items():
            observe_many(child, value, times)
        for gauge, value in gauges.items():
            gauge.set(value)


def observe_many(child: Any, value: float, times: int) -> None:
    """``times`` observations of ``value`` on a histogram child (``Histogram.labels(...)``), as
    two updates: ``observe`` makes two per observation, each a locked write of a memory-mapped
    file in multiprocess mode (a flush of 5,000 held hits stalled the worker for 20 ms)."""
    child._sum.inc(value * times)
    child._buckets[bisect_left(child._upper_bounds, value)].inc(times)  # as observe picks


TALLY = Tally()


async def flush_periodically(seconds: float = FLUSH_SECONDS) -> None:
    """Flush the tally every ``seconds`` until cancelled, then once more."""
    try:
        while True:
            await asyncio.sleep(seconds)
            TALLY.flush()
    finally:
        TALLY.flush()


def render() -> tuple[bytes, str]:
    """The metrics exposition of every worker, and its content type."""
    TALLY.flush()
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST
