"""OAuth ``state`` of pending ``auth login`` runs: random, single-use, expiring, one tenant each.

``auth login`` begins a login and puts its state in the authorize URL; ``/oauth/callback``
completes a login only for a state it can claim, once. Pending states live beside the tokens
(files in the data directory, or Redis when tokens are in Redis, so any replica can claim
them); only their sha256 is stored.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from pathlib import Path

from proxy.clock import Clock
from proxy.config import Config
from proxy.storage import connect, settings_of

PENDING_SECONDS = 900  # a login not completed within this long must be started again
REDIS_PREFIX = "enphase-proxy:oauth-state:"


def _digest(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()


class PendingLogins:
    """The logins ``auth login`` began and no callback has completed yet."""

    def __init__(self, config: Config, clock: Clock) -> None:
        self.clock = clock
        self.redis = settings_of(config) if config.tokens.store == "redis" else None
        self.directory = config.data_path("oauth-pending")

    async def begin(self, tenant: str) -> str:
        """A new state for a login of ``tenant``."""
        state = secrets.token_urlsafe(32)
        record = json.dumps({"tenant": tenant, "expires": self.clock.now() + PENDING_SECONDS})
        if self.redis:
            async with connect(self.redis) as client:
                await client.set(REDIS_PREFIX + _digest(state), record, ex=PENDING_SECONDS)
            return state
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self.directory / _digest(state)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as out:
            out.write(record)
        return state

    async def claim(self, state: str) -> str | None:
        """The tenant of a pending, unexpired ``state``, which is spent; else None."""
        if not state or len(state) > 256:
            return None
        if self.redis:
            async with connect(self.redis) as client:
                raw = await client.getdel(REDIS_PREFIX + _digest(state))
        else:
            raw = self._take_file(self.directory / _digest(state))
        if raw is None:
            return None
        record = json.loads(raw)
        return str(record["tenant"]) if record["expires"] > self.clock.now() else None

    @staticmethod
    def _take_file(path: Path) -> bytes | None:
        """The file's content, the file removed: of concurrent takers only one gets it."""
        taken = path.with_name(f"{path.name}.{secrets.token_hex(8)}.taken")
        try:
            os.rename(path, taken)
        except FileNotFoundError:
            return None
        try:
            return taken.read_bytes()
        finally:
            taken.unlink()
