"""The one Redis client a process opens: its cache, quota and token stores and its readiness
probe share it (each store leaves closing it to whoever opened it).

``[redis]`` names one server (``url``), a master watched by Redis Sentinel, or a Redis
Cluster; redis-py follows a Sentinel failover and a Cluster's slots itself. Keys that one
command or script uses together carry their tenant as a hash tag (:func:`tenant_key`), so they
share a Cluster slot.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast
from urllib.parse import quote

from proxy.config import Config, RedisSettings

if TYPE_CHECKING:
    from redis.asyncio import Redis

CONNECT_TIMEOUT = 2.0  # seconds; a Redis that does not accept a connection by then is down
#: Seconds a Sentinel or Cluster reply may take: a master that stopped answering is given up
#: (and rediscovered) rather than waited for.
SOCKET_TIMEOUT = 5.0
RETRY_AFTER = 5  # seconds a client is told to wait while Redis is out of reach (a failover)


def settings_of(config: Config) -> RedisSettings | None:
    """The configured Redis, or None (a Config built in code may give only ``redis_url``)."""
    if config.redis.configured:
        return config.redis
    return RedisSettings(url=config.redis_url) if config.redis_url else None


def address(node: str) -> tuple[str, int]:
    """``host:port`` as (host, port)."""
    host, _, port = node.rpartition(":")
    return host.strip("[]"), int(port)


def connect(settings: RedisSettings | str) -> Redis:
    """A client for ``settings`` or a URL (the ``redis`` extra must be installed).

    A Cluster client is typed as a plain one: the stores use only commands both offer.
    """
    from redis.asyncio import Redis

    if isinstance(settings, str):
        settings = RedisSettings(url=settings)
    timeouts: dict[str, Any] = {
        "socket_connect_timeout": CONNECT_TIMEOUT,
        "socket_timeout": SOCKET_TIMEOUT,
    }
    if settings.sentinels:
        from redis.asyncio.sentinel import Sentinel

        nodes = [address(node) for node in settings.sentinels]
        sentinel = Sentinel(nodes, sentinel_kwargs=timeouts, **timeouts)
        master = sentinel.master_for(settings.service_name or "", password=settings.password)
        return cast(Redis, master)
    if settings.cluster_nodes:
        from redis.asyncio.cluster import ClusterNode, RedisCluster

        cluster = RedisCluster(
            startup_nodes=[ClusterNode(*address(node)) for node in settings.cluster_nodes],
            password=settings.password,
            socket_connect_timeout=CONNECT_TIMEOUT,
            socket_timeout=SOCKET_TIMEOUT,
        )
        return cast(Redis, cluster)
    return Redis.from_url(settings.url or "", socket_connect_timeout=CONNECT_TIMEOUT)


def open_redis(config: Config) -> Redis | None:
    """This worker's client when Redis is configured, else None."""
    settings = settings_of(config)
    return connect(settings) if settings else None


async def reachable(config: Config, redis: Redis | None) -> tuple[Redis, bool]:
    """(``redis``, else a client of the store's own; whether the store owns it), once it
    answers a ping."""
    client = redis if redis is not None else connect(settings_of(config) or "")
    await client.ping()
    return client, redis is None


def unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` is Redis out of reach for now: down, failing over, or a demoted master."""
    try:
        from redis import exceptions
    except ImportError:  # without the redis extra nothing raises them
        return False
    return isinstance(
        exc,
        exceptions.ConnectionError
        | exceptions.TimeoutError
        | exceptions.ReadOnlyError
        | exceptions.TryAgainError
        | exceptions.ClusterDownError,
    )


def tenant_key(prefix: str, tenant: str, *parts: str) -> str:
    """``prefix{tenant}:parts``: every key of a tenant in one Cluster slot (its hash tag)."""
    return ":".join((f"{prefix}{{{quote(tenant, safe='')}}}", *parts))
