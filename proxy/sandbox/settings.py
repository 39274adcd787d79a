"""Sandbox configuration: registered OAuth apps, users, token lifetimes, faults."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from proxy.clock import SYSTEM

DEFAULT_REDIRECT_URI = "http://127.0.0.1:8080/oauth/callback"
DEMO_SYSTEM_IDS = (1001, 1002, 1003, 1004)
FLEET_SYSTEM_IDS = tuple(range(3000, 3300))


@dataclass(frozen=True)
class App:
    """A registered OAuth client app with its API key and plan limits."""

    client_id: str
    client_secret: str
    api_key: str
    plan: str
    per_minute: int
    per_month: int
    redirect_uris: tuple[str, ...] = (DEFAULT_REDIRECT_URI,)


@dataclass(frozen=True)
class User:
    """An Enlighten user who can grant access to the systems they own."""

    username: str
    password: str
    system_ids: tuple[int, ...]
    user_id: int = 0
    company_id: int | None = None
    password_last_changed: int = 1_640_995_200


@dataclass
class Faults:
    """Failure injection for /api/v4 calls."""

    latency: float = 0.0
    error_rate: float = 0.0
    timeout_rate: float = 0.0
    timeout_hang: float = 30.0
    force_429: bool = False
    force_429_period: str = "minute"  # the limit a forced 429 names: "minute" or "month"


@dataclass(frozen=True)
class Demo:
    """Credentials and ids of the built-in demo fixtures."""

    client_id: str = "sandbox-client-id"
    client_secret: str = "sandbox-client-secret"
    api_key: str = "sandbox-api-key"
    watt_client_id: str = "sandbox-watt-client"
    watt_client_secret: str = "sandbox-watt-secret"
    watt_api_key: str = "sandbox-watt-key"
    redirect_uri: str = DEFAULT_REDIRECT_URI
    username: str = "demo@example.com"
    password: str = "demo-password"
    fleet_username: str = "fleet@example.com"
    fleet_password: str = "fleet-password"
    system_ids: tuple[int, ...] = DEMO_SYSTEM_IDS
    fleet_system_ids: tuple[int, ...] = FLEET_SYSTEM_IDS


DEMO = Demo()

DEMO_APPS = (
    App(DEMO.client_id, DEMO.client_secret, DEMO.api_key, "Kilowatt", 1000, 1_000_000),
    App(DEMO.watt_client_id, DEMO.watt_client_secret, DEMO.watt_api_key, "Watt", 10, 1000),
)

DEMO_USERS = (
    User(DEMO.username, DEMO.password, DEMO.system_ids, user_id=5001),
    User(DEMO.fleet_username, DEMO.fleet_password, DEMO.fleet_system_ids, 5002, company_id=7001),
)


@dataclass
class SandboxSettings:
    """Everything that configures one sandbox app."""

    apps: list[App] = field(default_factory=lambda: list(DEMO_APPS))
    users: list[User] = field(default_factory=lambda: list(DEMO_USERS))
    access_token_ttl: int = 86400
    refresh_token_ttl: int = 7 * 86400
    clock: Callable[[], float] = SYSTEM.now
    faults: Faults = field(default_factory=Faults)
    live_data_pace: float = 1.0  # real seconds between two live_data events (one a stream second)
    seed: int = 1
    phased_uploads: bool = False  # each system uploads at its own phase (``build_systems``)
