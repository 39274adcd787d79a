"""Durable per-tenant OAuth token sets and the cross-process lock that guards their refresh."""

from __future__ import annotations

import json
import logging
import os
import tempfile
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from proxy.clock import SYSTEM, Clock
from proxy.config import Config, RedisSettings
from proxy.observability import metrics
from proxy.storage import connect, settings_of, tenant_key, try_lock

if TYPE_CHECKING:
    from redis.asyncio import Redis

REDIS_PREFIX = "enphase-proxy:tokens:"

log = logging.getLogger("proxy.tokens")

#: Stores a record unless the stored one was obtained at the same time or later: a file copy
#: that repairs a write a failover lost never overwrites a newer refresh.
_REPAIR = """
local stored = redis.call('GET', KEYS[1])
if stored and cjson.decode(stored)['obtained_at'] >= tonumber(ARGV[2]) then return 0 end
redis.call('SET', KEYS[1], ARGV[1])
return 1
"""


@dataclass(frozen=True)
class TokenRecord:
    """One tenant's stored token set; ``reauthorize`` says why a human must log in again."""

    access_token: str | None = field(default=None, repr=False)
    refresh_token: str | None = field(default=None, repr=False)
    expires_at: int | None = None
    obtained_at: int = 0
    reauthorize: str | None = None

    def to_json(self) -> str:
        """The record as a JSON document."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> TokenRecord:
        """A record from :meth:`to_json` output (unknown keys are ignored)."""
        data: dict[str, Any] = json.loads(text)
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


class LockTimeout(Exception):
    """Another process held the tenant's refresh lock for longer than the lock timeout."""


class TokenStore(ABC):
    """Where token records live, with one exclusive lock per tenant shared by all processes."""

    def __init__(self, lock_timeout: float, clock: Clock = SYSTEM) -> None:
        self.lock_timeout = lock_timeout
        self.clock = clock

    @abstractmethod
    async def load(self, tenant: str) -> TokenRecord | None:
        """The tenant's record, or None if there is none."""

    @abstractmethod
    async def save(self, tenant: str, record: TokenRecord) -> None:
        """Replace the tenant's record; returns once it is durably stored."""

    @abstractmethod
    def lock(self, tenant: str) -> AbstractAsyncContextManager[None]:
        """Hold the tenant's exclusive lock; raises LockTimeout after ``lock_timeout`` seconds."""

    @abstractmethod
    async def close(self) -> None:
        """Release connections."""


class TokenFileStore(TokenStore):
    """One 0600 JSON file per tenant beside ``path``, replaced atomically; flock for the lock."""

    def __init__(self, path: Path, lock_timeout: float, clock: Clock = SYSTEM) -> None:
        super().__init__(lock_timeout, clock)
        self.path = path

    def file(self, tenant: str) -> Path:
        """The tenant's record file (``tokens.json`` -> ``tokens.<tenant>.json``)."""
        name = quote(tenant, safe="")
        return self.path.with_name(f"{self.path.stem}.{name}{self.path.suffix}")

    async def load(self, tenant: str) -> TokenRecord | None:
        try:
            return TokenRecord.from_json(self.file(tenant).read_bytes())
        except FileNotFoundError:
            return None

    async def save(self, tenant: str, record: TokenRecord) -> None:
        target = self.file(tenant)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        try:
            os.fchmod(fd, 0o600)
            os.write(fd, record.to_json().encode())
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            os.unlink(temp)
            raise
        os.close(fd)
        os.replace(temp, target)
        directory = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)

    @asynccontextmanager
    async def lock(self, tenant: str) -> AsyncIterator[None]:
        """flock on a ``.lock`` file beside the record, polled until ``lock_timeout``."""
        deadline = self.clock.monotonic() + self.lock_timeout
        delay = 0.005
        while (fd := self._try_lock(tenant)) is None:
            if self.clock.monotonic() >= deadline:
                raise LockTimeout(f"token lock for tenant {tenant!r} is busy")
            await self.clock.sleep(delay)
            delay = min(delay * 2, 0.05)
        try:
            yield
        finally:
            os.close(fd)

    def _try_lock(self, tenant: str) -> int | None:
        """The locked file descriptor if no one else holds the lock, else None."""
        target = self.file(tenant)
        target.parent.mkdir(parents=True, exist_ok=True)
        return try_lock(target.with_name(target.name + ".lock"))

    async def close(self) -> None:
        pass


class TokenRedisStore(TokenStore):
    """A Redis key per tenant; the lock is redis-py's Lock (owner-checked, expiring).

    A write is confirmed by ``acks`` replicas (``WAIT``, at most ``ack_timeout`` seconds), so a
    failover does not take a rotated refresh token back. ``copy``, a file store of this host,
    is the second line: every record is written there first, and a load takes the newer of the
    two, writing the copy back when Redis lost it. A write no replica confirmed in time stands
    (the upstream already rotated the token: undoing it would lose it for sure), is counted
    and logged. ``client`` is closed by :meth:`close` only when ``owned``.
    """

    def __init__(
        self,
        client: Redis,
        lock_timeout: float,
        prefix: str = REDIS_PREFIX,
        owned: bool = False,
        *,
        copy: TokenFileStore | None = None,
        acks: int = 0,
        ack_timeout: float = 0.5,
    ) -> None:
        super().__init__(lock_timeout)
        self.redis = client
        self.prefix = prefix
        self.copy = copy
        self.acks = acks
        self.ack_timeout = ack_timeout
        self._owned = owned
        self._repair = client.register_script(_REPAIR)

    def key(self, tenant: str) -> str:
        """The Redis key holding the tenant's record."""
        return tenant_key(self.prefix, tenant)

    async def load(self, tenant: str) -> TokenRecord | None:
        text = await self.redis.get(self.key(tenant))
        record = None if text is None else TokenRecord.from_json(text)
        kept = None if self.copy is None else await self.copy.load(tenant)
        if kept is not None and (record is None or kept.obtained_at > record.obtained_at):
            log.warning("tenant %s: Redis lost the latest token record; restoring it", tenant)
            await self._repair(keys=[self.key(tenant)], args=[kept.to_json(), kept.obtained_at])
            return kept
        return record

    async def save(self, tenant: str, record: TokenRecord) -> None:
        if self.copy is not None:
            await self.copy.save(tenant, record)
        acked = await self._write(self.key(tenant), record.to_json())
        if acked < self.acks:
            metrics.TOKEN_WRITE_UNCONFIRMED.labels(tenant).inc()
            log.warning(
                "tenant %s: %d of %d Redis replicas confirmed the token write in %ss; "
                "the file copy keeps it",
                tenant,
                acked,
                self.acks,
                self.ack_timeout,
            )

    async def _write(self, key: str, value: str) -> int:
        """SET ``key``, then how many replicas confirmed it (WAIT; 0 when none is wanted).

        WAIT counts the writes of its own connection: both go down one, and on a Cluster,
        whose client would send WAIT to every primary, down one to the key's primary.
        """
        if not self.acks:
            await self.redis.set(key, value)
            return 0
        from redis.asyncio import Redis
        from redis.asyncio.cluster import RedisCluster

        if not isinstance(self.redis, RedisCluster):
            return await _set_and_wait(self.redis, key, value, self.acks, self.ack_timeout)
        await self.redis.initialize()  # the slot map, on a client's first command
        node = self.redis.get_node_from_key(key)
        password = node.connection_kwargs.get("password")
        async with Redis(host=node.host, port=node.port, password=password) as primary:
            return await _set_and_wait(primary, key, value, self.acks, self.ack_timeout)

    @asynccontextmanager
    async def lock(self, tenant: str) -> AsyncIterator[None]:
        """Held at most ``lock_timeout`` seconds, so a killed holder cannot block renewals."""
        from redis.exceptions import LockNotOwnedError

        held = self.redis.lock(
            tenant_key(self.prefix, tenant, "lock"),
            timeout=self.lock_timeout,
            blocking_timeout=self.lock_timeout,
            sleep=0.01,
        )
        if not await held.acquire():
            raise LockTimeout(f"token lock for tenant {tenant!r} is busy")
        try:
            yield
        finally:
            with suppress(LockNotOwnedError):  # it expired; another process may hold it now
                await held.release()

    async def close(self) -> None:
        if self._owned:
            await self.redis.aclose()


async def _set_and_wait(client: Redis, key: str, value: str, acks: int, timeout: float) -> int:
    """SET then WAIT on one connection of ``client``: the replicas that confirmed the SET."""
    async with client.pipeline(transaction=False) as pipe:
        pipe.set(key, value)
        pipe.execute_command("WAIT", acks, int(timeout * 1000))
        replies = await pipe.execute()
    return int(replies[1])


@dataclass(frozen=True)
class StoreSettings:
    """Which store holds the records, as plain data (a renewal child process opens the same).

    ``redis`` holds the ``[redis]`` fields; a Redis store keeps its file copy at ``path``.
    """

    kind: str
    lock_timeout: float
    path: str = ""
    redis: dict[str, Any] | None = field(default=None, repr=False)

    @classmethod
    def of(cls, config: Config) -> StoreSettings:
        """The store the configuration names."""
        settings = config.tokens
        path = str(config.data_path(settings.path))
        redis = settings_of(config)
        if settings.store == "redis" and redis is not None:
            return cls("redis", settings.lock_timeout, path, asdict(redis))
        if settings.store == "file":
            return cls("file", settings.lock_timeout, path)
        raise ValueError(
            f"tokens.store must be 'file' or 'redis' (with [redis]): {settings.store!r}"
        )

    def open(self, clock: Clock = SYSTEM, redis: Redis | None = None) -> TokenStore:
        """A store over these settings; a Redis store uses ``redis``, else a client of its own."""
        files = TokenFileStore(Path(self.path), self.lock_timeout, clock)
        if self.kind != "redis" or self.redis is None:
            return files
        settings = RedisSettings(**self.redis)
        # One server is often alone: a write is confirmed by replicas of a Sentinel's master
        # or a Cluster's by default, of a lone server only when asked.
        acks = settings.replica_acks
        if acks is None:
            acks = int(bool(settings.sentinels or settings.cluster_nodes))
        client, owned = (redis, False) if redis is not None else (connect(settings), True)
        return TokenRedisStore(
            client,
            self.lock_timeout,
            owned=owned,
            copy=files,
            acks=acks,
            ack_timeout=settings.ack_timeout,
        )


def open_store(config: Config, clock: Clock = SYSTEM, redis: Redis | None = None) -> TokenStore:
    """The token store the configuration names."""
    return StoreSettings.of(config).open(clock, redis)
