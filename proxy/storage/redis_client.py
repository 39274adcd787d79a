"""The one Redis client a process opens: its cache, quota and token stores and its readiness
probe share it (each store leaves closing it to whoever opened it)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from proxy.config import Config

if TYPE_CHECKING:
    from redis.asyncio import Redis

CONNECT_TIMEOUT = 2.0  # seconds; a Redis that does not accept a connection by then is down


def connect(url: str) -> Redis:
    """A client for ``url`` (the ``redis`` extra must be installed)."""
    from redis.asyncio import Redis

    return Redis.from_url(url, socket_connect_timeout=CONNECT_TIMEOUT)


def open_redis(config: Config) -> Redis | None:
    """This worker's client when Redis is configured, else None."""
    return connect(config.redis_url) if config.redis_url else None


async def reachable(config: Config, redis: Redis | None) -> tuple[Redis, bool]:
    """(``redis``, else a client of the store's own; whether the store owns it), once it
    answers a ping."""
    client = redis if redis is not None else connect(config.redis_url or "")
    await client.ping()
    return client, redis is None
