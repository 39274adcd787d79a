"""The one choice of backend a store makes: in memory, in a file of ``data_dir``, or on Redis."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Literal, TypeVar

from proxy.config import Config
from proxy.storage.redis_client import reachable

if TYPE_CHECKING:
    from redis.asyncio import Redis

T = TypeVar("T")
Backend = Literal["file", "memory", "redis"]


async def open_backend(
    config: Config,
    backend: Backend,
    redis: Redis | None,
    *,
    memory: Callable[[], T],
    file: Callable[[], T],
    shared: Callable[[Redis, bool], T],
) -> T:
    """The store of ``backend``: ``shared`` on Redis (given ``redis``, else a client of its own,
    which it then owns: the flag it gets), ``file`` in ``data_dir``, else ``memory``."""
    if backend == "redis":
        return shared(*await reachable(config, redis))
    if backend == "file":
        return file()
    return memory()
