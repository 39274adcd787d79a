"""While a tenant's token is replaced (the upstream lost its tokens), legacy clients get their
answer, a stale reply or a 503 with Retry-After: never a 401, which reads as a revoked key."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx2
import pytest

from tests import support

pytestmark = pytest.mark.slow  # real gunicorn workers, a token replaced for seconds

AUTH = {"key": "demo-v2-key", "user_id": "demo-user"}
PATHS = [
    f"/api/v2/systems/{system}/{name}"
    for system in (1001, 1002)
    for name in ("summary", "inventory", "rgm_stats")
]


def forget_tokens(app: object, until: float, stop: threading.Event) -> None:
    """The sandbox forgets every token it issued, again and again, until ``until``."""
    tokens = app.state.sandbox.tokens  # type: ignore[attr-defined]
    while time.monotonic() < until and not stop.wait(0.2):
        with tokens.lock:
            tokens.access.clear()
            tokens.refresh.clear()


def test_no_v2_401_while_the_token_is_replaced(tmp_path: Path) -> None:
    """For 4 s the sandbox keeps losing its tokens, so tokens the proxy renews are refused too;
    six uncached v2 requests in that time get no 401: each is answered, or a 503 with
    Retry-After (issue 22, finding 9)."""
    with support.sandbox() as (sandbox_url, app):
        config_path = tmp_path / "proxy.toml"
        config_path.write_text(support.config_text(sandbox_url, tmp_path))
        with support.serve_process(config_path, 1) as url:
            assert httpx2.get(url + "/api/v2/systems", params=AUTH).status_code == 200
            stop = threading.Event()
            forgetting = threading.Thread(
                target=forget_tokens, args=(app, time.monotonic() + 4, stop)
            )
            forgetting.start()
            try:
                replies = [httpx2.get(url + p, params=AUTH, timeout=30) for p in PATHS]
            finally:
                stop.set()
                forgetting.join()
    statuses = [reply.status_code for reply in replies]
    assert 401 not in statuses, statuses
    assert all(r.status_code == 200 or r.headers.get("retry-after") for r in replies), statuses
