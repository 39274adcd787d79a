"""A client for the Enphase Enlighten Systems API v2, written as such clients were for the real v2.

It knows nothing of the proxy: it takes a base URL, an API key and a user id, speaks urllib
(no httpx), parses v2 bodies and v2 errors, and retries once when v2 answers 409 (usage limit)
by sleeping until ``period_end``, as the v2 documentation told integrators to.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

DEFAULT_BASE_URL = "https://api.enphaseenergy.com/api/v2"


class EnlightenError(Exception):
    """A v2 error answer: status and the reason/messages the body carried."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        messages = body.get("message") or body.get("errorMessages") or []
        if isinstance(messages, str):
            messages = [messages]
        super().__init__(f"{status}: {'; '.join(messages)}")
        self.status = status
        self.body = body


class Enlighten:
    """Enlighten v2 for one API key and user."""

    def __init__(self, key: str, user_id: str, base_url: str = DEFAULT_BASE_URL) -> None:
        self.key = key
        self.user_id = user_id
        self.base_url = base_url.rstrip("/")

    def _get(self, path: str, max_wait: float = 5.0, **params: Any) -> Any:
        query = {"key": self.key, "user_id": self.user_id}
        query.update({k: v for k, v in params.items() if v is not None})
        url = f"{self.base_url}/{path}?{urllib.parse.urlencode(query, doseq=True)}"
        for attempt in (1, 2):
            try:
                with urllib.request.urlopen(url, timeout=30) as response:
                    raw = response.read()
                    return json.loads(raw) if raw else None
            except urllib.error.HTTPError as error:
                body = json.loads(error.read() or b"{}")
                wait = body.get("period_end", 0) - time.time() if error.code == 409 else -1
                if attempt == 1 and 0 <= wait <= max_wait:
                    time.sleep(wait)
                    continue
                raise EnlightenError(error.code, body) from None
        raise AssertionError("unreachable")

    def systems(self, **filters: Any) -> list[dict[str, Any]]:
        """Every system of the user, following ``next`` pages."""
        found, cursor = [], None
        while True:
            page = self._get("systems", next=cursor, **filters)
            found += page["systems"]
            cursor = page.get("next")
            if not cursor:
                return found

    def summary(self, system_id: int, summary_date: str | None = None) -> Any:
        """The system summary (optionally for a past day)."""
        return self._get(f"systems/{system_id}/summary", summary_date=summary_date)

    def stats(self, system_id: int, start_at: int | None = None, end_at: int | None = None) -> Any:
        """5-minute production intervals."""
        return self._get(f"systems/{system_id}/stats", start_at=start_at, end_at=end_at)

    def consumption_stats(
        self, system_id: int, start_at: int | None = None, end_at: int | None = None
    ) -> Any:
        """15-minute consumption intervals."""
        return self._get(f"systems/{system_id}/consumption_stats", start_at=start_at, end_at=end_at)

    def energy_lifetime(
        self, system_id: int, start_date: str | None = None, end_date: str | None = None
    ) -> Any:
        """Daily production over the system's life."""
        return self._get(
            f"systems/{system_id}/energy_lifetime", start_date=start_date, end_date=end_date
        )

    def inventory(self, system_id: int) -> Any:
        """Envoys, inverters and meters."""
        return self._get(f"systems/{system_id}/inventory")

    def rgm_stats(
        self, system_id: int, start_at: int | None = None, end_at: int | None = None
    ) -> Any:
        """Revenue-grade meter intervals."""
        return self._get(f"systems/{system_id}/rgm_stats", start_at=start_at, end_at=end_at)

    def search_system_id(self, serial_num: str) -> int:
        """The system id of an Envoy serial number."""
        system_id: int = self._get("systems/search_system_id", serial_num=serial_num)["system_id"]
        return system_id
