"""Shared fixtures: a real Redis server for the whole session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.servers import redis_server


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """URL of a redis-server started for this test session."""
    with redis_server() as url:
        yield url
