"""The sandbox's mutable state: clock, tokens, limits, faults and counters."""

from __future__ import annotations

import random
from collections import Counter, deque
from dataclasses import dataclass, field, replace
from typing import Any

from .faults import updated
from .limits import Limiter
from .oauth import GRANT_TYPES, IssuedTokens
from .settings import App, Faults, SandboxSettings, User
from .systems import System, build_systems

RECENT_CALLS = 200


@dataclass
class Stats:
    """Counters exposed at GET /_sandbox/stats."""

    token_grants: Counter[str] = field(
        default_factory=lambda: Counter(dict.fromkeys(GRANT_TYPES, 0))
    )
    token_failures: Counter[str] = field(
        default_factory=lambda: Counter(dict.fromkeys(GRANT_TYPES, 0))
    )
    api_calls: int = 0
    api_calls_by_path: Counter[str] = field(default_factory=Counter)
    rate_limited: int = 0
    recent_calls: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=RECENT_CALLS))

    def body(self) -> dict[str, Any]:
        """The counters as JSON-ready data; ``recent_calls`` lists the last API calls."""
        return {
            "token_grants": dict(self.token_grants),
            "token_failures": dict(self.token_failures),
            "api_calls": self.api_calls,
            "api_calls_by_path": dict(self.api_calls_by_path),
            "rate_limited": self.rate_limited,
            "recent_calls": list(self.recent_calls),
        }


@dataclass
class SandboxState:
    """Everything a running sandbox app changes; held at ``app.state.sandbox``."""

    settings: SandboxSettings
    systems: dict[int, System]
    tokens: IssuedTokens
    faults: Faults
    rng: random.Random
    limiter: Limiter = field(default_factory=Limiter)
    stats: Stats = field(default_factory=Stats)
    clock_offset: float = 0.0

    def now(self) -> float:
        """The sandbox clock: the settings clock shifted by ``clock_offset``."""
        return self.settings.clock() + self.clock_offset

    def app_by_client(self, client_id: str) -> App | None:
        """The registered app with this client id."""
        return next((a for a in self.settings.apps if a.client_id == client_id), None)

    def app_by_key(self, api_key: str) -> App | None:
        """The registered app with this API key."""
        return next((a for a in self.settings.apps if a.api_key == api_key), None)

    def user(self, username: str) -> User | None:
        """The user with this username."""
        return next((u for u in self.settings.users if u.username == username), None)

    def set_faults(self, **changes: object) -> Faults:
        """Change some fault fields (ValueError on unknown or mistyped ones)."""
        self.faults = updated(self.faults, changes)
        return self.faults

    def shift_clock(self, offset: float) -> None:
        """Run the sandbox clock ``offset`` seconds ahead of (or behind) the settings clock."""
        self.clock_offset = float(offset)

    def reset(self) -> None:
        """Zero the counters and limit windows; restore the configured faults and clock."""
        self.stats = Stats()
        self.limiter = Limiter()
        self.faults = replace(self.settings.faults)
        self.rng = random.Random(self.settings.seed)
        self.clock_offset = 0.0


def new_state(settings: SandboxSettings) -> SandboxState:
    """A fresh state for ``settings``, with fixture systems dated from its clock."""
    return SandboxState(
        settings=settings,
        systems=build_systems(settings.clock(), settings.phased_uploads),
        tokens=IssuedTokens(settings.access_token_ttl, settings.refresh_token_ttl),
        faults=replace(settings.faults),
        rng=random.Random(settings.seed),
    )
