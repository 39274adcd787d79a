"""Per-app usage limits: calls per clock minute and per calendar month (UTC)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .localtime import floor
from .settings import App


def month_window(now: float) -> tuple[int, int]:
    """(start, end) epochs of the UTC calendar month containing ``now``."""
    t = datetime.fromtimestamp(now, UTC)
    start = datetime(t.year, t.month, 1, tzinfo=UTC)
    end = datetime(t.year + t.month // 12, t.month % 12 + 1, 1, tzinfo=UTC)
    return int(start.timestamp()), int(end.timestamp())


def minute_window(now: float) -> tuple[int, int]:
    """(start, end) epochs of the clock minute containing ``now``."""
    start = floor(now, 60)
    return start, start + 60


@dataclass
class Limiter:
    """Counts each app's calls in its current minute and month windows."""

    counts: dict[tuple[str, str, int], int] = field(default_factory=dict)

    def hit(
        self, app: App, now: float, force: bool = False, forced: str = "minute"
    ) -> dict[str, Any] | None:
        """Count one call; or, when a limit is reached (or ``force``: the ``forced`` period's),
        the 429 fields."""
        windows = (
            ("minute", minute_window(now), app.per_minute),
            ("month", month_window(now), app.per_month),
        )
        for period, (start, end), limit in windows:
            if (force and period == forced) or self.counts.get(
                (app.client_id, period, start), 0
            ) >= limit:
                return {"period": period, "period_start": start, "period_end": end, "limit": limit}
        for period, (start, _), _ in windows:
            key = (app.client_id, period, start)
            self.counts[key] = self.counts.get(key, 0) + 1
        return None
