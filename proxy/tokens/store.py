"""Durable per-tenant OAuth token sets and the cross-process lock that guards their refresh."""

from __future__ import annotations

import fcntl
import json
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
from proxy.config import Config
from proxy.storage import connect

if TYPE_CHECKING:
    from redis.asyncio import Redis

REDIS_PREFIX = "enphase-proxy:tokens:"


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
        fd = os.open(f"{target}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        return fd

    async def close(self) -> None:
        pass


class TokenRedisStore(TokenStore):
    """A Redis key per tenant; the lock is redis-py's Lock (owner-checked, expiring).

    ``client`` is closed by :meth:`close` only when ``owned``.
    """

    def __init__(
        self, client: Redis, lock_timeout: float, prefix: str = REDIS_PREFIX, owned: bool = False
    ) -> None:
        super().__init__(lock_timeout)
        self.redis = client
        self.prefix = prefix
        self._owned = owned

    def key(self, tenant: str) -> str:
        """The Redis key holding the tenant's record."""
        return f"{self.prefix}{tenant}"

    async def load(self, tenant: str) -> TokenRecord | None:
        text = await self.redis.get(self.key(tenant))
        return None if text is None else TokenRecord.from_json(text)

    async def save(self, tenant: str, record: TokenRecord) -> None:
        await self.redis.set(self.key(tenant), record.to_json())

    @asynccontextmanager
    async def lock(self, tenant: str) -> AsyncIterator[None]:
        """Held at most ``lock_timeout`` seconds, so a killed holder cannot block renewals."""
        from redis.exceptions import LockNotOwnedError

        held = self.redis.lock(
            f"{self.key(tenant)}:lock",
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


@dataclass(frozen=True)
class StoreSettings:
    """Which store holds the records, as plain data (a renewal child process opens the same)."""

    kind: str
    lock_timeout: float
    path: str = ""
    redis_url: str | None = field(default=None, repr=False)

    @classmethod
    def of(cls, config: Config) -> StoreSettings:
        """The store the configuration names."""
        settings = config.tokens
        if settings.store == "redis" and config.redis_url:
            return cls("redis", settings.lock_timeout, redis_url=config.redis_url)
        if settings.store == "file":
            return cls("file", settings.lock_timeout, str(config.data_path(settings.path)))
        raise ValueError(f"tokens.store must be 'file' or 'redis' (with a URL): {settings.store!r}")

    def open(self, clock: Clock = SYSTEM, redis: Redis | None = None) -> TokenStore:
        """A store over these settings; a Redis store uses ``redis``, else a client of its own."""
        if self.kind == "redis" and self.redis_url:
            if redis is not None:
                return TokenRedisStore(redis, self.lock_timeout)
            return TokenRedisStore(connect(self.redis_url), self.lock_timeout, owned=True)
        return TokenFileStore(Path(self.path), self.lock_timeout, clock)


def open_store(config: Config, clock: Clock = SYSTEM, redis: Redis | None = None) -> TokenStore:
    """The token store the configuration names."""
    return StoreSettings.of(config).open(clock, redis)
