"""Each worker's share of the console's history, taken from its own Prometheus counters.

Every RECORD_EVERY seconds a worker adds what its counters gained since the last time to the
shared history (so the history agrees with ``/metrics``, summed over workers and replicas),
snapshots each tenant's month count (the pacer's snapshot, which also sets the budget
gauges). Tokens are kept alive by the token package's own loop, whatever happens here.
"""

from __future__ import annotations

import logging
from typing import Any

from proxy.clock import Clock
from proxy.config import Config
from proxy.console import budget
from proxy.console.history import History
from proxy.observability import metrics
from proxy.quota import Pacer
from proxy.tokens import TokenBroker

log = logging.getLogger("proxy.console")

RECORD_EVERY = 10.0
HOUR_KEPT = 2 * 86400  # hourly buckets back the 24-hour chart
DAY_KEPT = 40 * 86400  # daily buckets back the month chart and "today"
OK_STATUSES = ("2", "3")  # upstream statuses that are not errors start with these


COUNTED = (
    ("upstream", metrics.UPSTREAM_REQUESTS),
    ("cache", metrics.CACHE),
    ("requests", metrics.CLIENT_REQUESTS),
    ("caused", metrics.CLIENT_UPSTREAM),
)


def hour_name(epoch: float) -> str:
    """The history bucket of the clock hour containing ``epoch``."""
    return f"h:{int(epoch) - int(epoch) % 3600}"


def counts(metric: Any) -> dict[tuple[str, ...], float]:
    """This process's value of each label set of counter ``metric``."""
    return {
        tuple(sample.labels.values()): sample.value
        for family in metric.collect()
        for sample in family.samples
        if sample.name.endswith("_total")
    }


class Recorder:
    """Adds this worker's counter gains to the history, and publishes the console gauges."""

    def __init__(
        self,
        config: Config,
        history: History,
        broker: TokenBroker,
        pacer: Pacer,
        clock: Clock,
    ) -> None:
        self.config = config
        self.history = history
        self.broker = broker
        self.pacer = pacer
        self.clock = clock
        self._last: dict[tuple[str, tuple[str, ...]], float] = {}
        metrics.TALLY.flush()
        for name, metric in COUNTED:  # what the process counted before this app started
            self._gains(name, metric)

    def _gains(self, name: str, metric: Any) -> dict[tuple[str, ...], float]:
        """What each label set of ``metric`` gained since the previous call."""
        gained = {}
        for labels, value in counts(metric).items():
            before = self._last.get((name, labels), 0.0)
            self._last[name, labels] = value
            if value > before:
                gained[labels] = value - before
        return gained

    async def record(self) -> None:
        """Add this worker's gains since the last call to the shared history."""
        metrics.TALLY.flush()
        now = self.clock.now()
        upstream, cache, requests, caused = (self._gains(n, m) for n, m in COUNTED)
        hourly = {
            "upstream": sum(upstream.values()),
            "hit": cache.get(("hit",), 0.0),
            "stale": cache.get(("stale",), 0.0),
        }
        daily: dict[str, float] = {"upstream": hourly["upstream"]}
        for (client, status), n in requests.items():
            daily[f"requests:{client}"] = daily.get(f"requests:{client}", 0.0) + n
            if not status.startswith(OK_STATUSES):
                daily[f"errors:{client}"] = daily.get(f"errors:{client}", 0.0) + n
        for (client,), n in caused.items():
            daily[f"upstream:{client}"] = n
        seen = {f"seen:{client}": now for client, _ in requests}
        used = {
            f"used:{tenant.name}": (await budget.snapshot(self.pacer, tenant)).used
            for tenant in self.config.tenants.values()
        }
        await self.history.update(hour_name(now), _nonzero(hourly), {}, now + HOUR_KEPT)
        await self.history.update(budget.day_name(now), _nonzero(daily), used, now + DAY_KEPT)
        if seen:
            await self.history.update("seen", {}, seen, now + DAY_KEPT)
        errors = [
            {"at": int(now), "endpoint": endpoint, "status": status, "count": int(n)}
            for (endpoint, status), n in sorted(upstream.items())
            if not status.startswith(OK_STATUSES)
        ]
        if errors:
            await self.history.note_errors(errors)

    async def tend(self) -> None:
        """Record; errors are logged, not raised."""
        try:
            await self.record()
        except Exception as exc:  # a console problem must never stop the worker
            log.warning("console recording failed: %s", type(exc).__name__)

    async def run(self) -> None:
        """Tend every RECORD_EVERY seconds until cancelled."""
        while True:
            await self.tend()
            await self.clock.sleep(RECORD_EVERY)


def _nonzero(values: dict[str, float]) -> dict[str, float]:
    return {name: value for name, value in values.items() if value}
