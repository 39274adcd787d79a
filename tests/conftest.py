"""Shared fixtures: a real Redis server, and a session-wide check that no secret was printed."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import httpx2
import pytest

from proxy.observability.logs import JsonFormatter
from tests import support
from tests.support import SERVE_LOGS, redis_server

#: Every secret the suite configures, and the prefix of every token the sandbox issues (JWT).
SECRETS = (
    "sandbox-client-secret",
    "sandbox-watt-secret",
    "sandbox-api-key",
    "sandbox-watt-key",
    "demo-password",
    "fleet-password",
    "demo-v2-key",
    "demo-team-key",
    "test-admin-key",
    "test-scrape-key",
    "demo-scrape-key",
    "eyJ",
)


class Recorder(logging.Handler):
    """Keeps every log line the proxy emits in this process, formatted as in production."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(JsonFormatter())
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        """Format and keep ``record``."""
        self.lines.append(self.format(record))


@pytest.fixture(scope="session", autouse=True)
def no_secret_in_output() -> Iterator[None]:
    """After the session: no secret in any proxy log line, in-process or from `serve`."""
    recorder = Recorder()
    proxy_logger = logging.getLogger("proxy")
    proxy_logger.addHandler(recorder)
    proxy_logger.setLevel(logging.DEBUG)
    yield
    proxy_logger.removeHandler(recorder)
    printed = recorder.lines + [p.read_text(errors="replace") for p in SERVE_LOGS if p.exists()]
    leaks = [(s, text[:200]) for text in printed for s in SECRETS if s in text]
    assert not leaks, f"secrets printed by the proxy: {leaks[:5]}"


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """(proxy URL, sandbox URL): the demo configuration on a sandbox, for one test module."""
    data_dir = tmp_path_factory.mktemp("proxy")
    with support.sandbox() as (sandbox_url, _):
        with support.proxy(support.proxy_config(sandbox_url, data_dir)) as proxy_url:
            yield proxy_url, sandbox_url


@pytest.fixture(scope="module")
def client(servers: tuple[str, str]) -> Iterator[httpx2.Client]:
    """An HTTP client of the module's proxy."""
    with httpx2.Client(base_url=servers[0], timeout=30) as c:
        yield c


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """URL of a redis-server started for this test session."""
    with redis_server() as url:
        yield url
