"""TOML configuration to typed, validated settings; secrets may come from the environment."""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ENPHASE_HOST = "api.enphaseenergy.com"
DEMO_KEYS = ("demo-v2-key", "demo-team-key")


@dataclass(frozen=True)
class Limits:
    """A plan's upstream call budget."""

    per_minute: int
    per_month: int


PLAN_LIMITS: dict[str, Limits] = {
    "watt": Limits(10, 1_000),
    "kilowatt": Limits(10, 10_000),
    "megawatt": Limits(100, 100_000),
    "partner": Limits(100, 1_000_000),
}


@dataclass(frozen=True)
class Server:
    """Where and how the proxy listens."""

    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 2
    timeout: int = 60
    graceful_timeout: int = 30
    keepalive: int = 5
    data_dir: str = "var"
    admin_key: str | None = None
    log_level: str = "info"
    access_log: bool = True
    max_url_length: int = 4096


@dataclass(frozen=True)
class Upstream:
    """The v4-compatible server the proxy calls."""

    api_root: str = f"https://{ENPHASE_HOST}/api/v4"
    token_url: str = f"https://{ENPHASE_HOST}/oauth/token"
    authorize_url: str = f"https://{ENPHASE_HOST}/oauth/authorize"
    timeout: float = 15.0
    connect_timeout: float = 5.0
    max_connections: int = 100

    @property
    def is_enphase(self) -> bool:
        """Whether this is the real Enphase API."""
        return any(urlsplit(u).hostname == ENPHASE_HOST for u in self.urls())

    def urls(self) -> tuple[str, str, str]:
        """The three configured upstream URLs."""
        return (self.api_root, self.token_url, self.authorize_url)


@dataclass(frozen=True)
class Sandbox:
    """The embedded simulated v4 API started beside the proxy."""

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = 8091


@dataclass(frozen=True)
class Tenant:
    """One Enphase v4 authorization the proxy holds: an app, its plan and its user."""

    name: str
    api_key: str
    client_id: str
    client_secret: str
    user_ids: tuple[str, ...] = ()
    plan: str = "watt"
    limits: Limits = PLAN_LIMITS["watt"]
    writes_per_month: int = 200
    grant: str = "authorization_code"
    redirect_uri: str = "http://127.0.0.1:8080/oauth/callback"
    username: str | None = None
    password: str | None = None


@lru_cache(maxsize=1024)
def key_digest(key: str) -> bytes:
    """sha256 of a presented key (cached: legacy clients send the same key on every request)."""
    return hashlib.sha256(key.encode()).digest()


@dataclass(frozen=True)
class Client:
    """A caller of the proxy: a legacy v2 integration or a team's v4 script."""

    name: str
    key_sha256: bytes
    tenants: tuple[str, ...]
    writes: bool = False
    emulate_retired: bool = False  # legacy: answer envoys/monthly_production from v4

    def key_matches(self, key: str) -> bool:
        """Whether ``key`` is this client's key (constant-time)."""
        return hmac.compare_digest(key_digest(key), self.key_sha256)


@dataclass(frozen=True)
class Tokens:
    """Where OAuth tokens live and when they are refreshed."""

    store: str = "file"
    path: str = "tokens.json"
    refresh_margin: int = 3600
    check_interval: int = 30
    lock_timeout: float = 30.0


@dataclass(frozen=True)
class Cache:
    """Upstream reply cache and its freshness rules (seconds)."""

    backend: str = "memory"
    max_entries: int = 10_000
    max_bytes: int = 64 * 1024 * 1024
    reporting_lag: int = 3600
    past_ttl: int = 86_400
    error_ttl: int = 60
    stale_if_error: int = 86_400
    stale_while_revalidate: bool = True
    ttl: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Quota:
    """How the proxy paces calls against the plan limits; counts live in a shared store."""

    backend: str = "file"
    path: str = "quota.sqlite3"
    max_wait: float = 5.0
    pacing: bool = True  # stretch refreshes of live keys so the month budget lasts the month
    reserve: float = 0.1  # share of the month limit kept for cold misses (see proxy.pacing)
    demand_window: int = 3600  # seconds a key stays in demand after a client last asked


@dataclass(frozen=True)
class Config:
    """The whole validated configuration."""

    server: Server = Server()
    upstream: Upstream = Upstream()
    sandbox: Sandbox = Sandbox()
    tokens: Tokens = Tokens()
    cache: Cache = Cache()
    quota: Quota = Quota()
    redis_url: str | None = None
    tenants: Mapping[str, Tenant] = field(default_factory=dict)
    legacy_clients: tuple[Client, ...] = ()
    team_clients: tuple[Client, ...] = ()
    source: str = "<memory>"

    def data_path(self, name: str) -> Path:
        """A path inside the data directory (relative paths resolve against the config file)."""
        base = Path(self.server.data_dir)
        if not base.is_absolute() and self.source != "<memory>":
            base = Path(self.source).resolve().parent / base
        return base / name

    @cached_property
    def _tenant_by_user(self) -> dict[str, Tenant]:
        return {user: t for t in self.tenants.values() for user in t.user_ids}

    def tenant_for_user(self, user_id: str) -> Tenant | None:
        """The tenant a v2 ``user_id`` belongs to (each user_id is in one tenant at most)."""
        return self._tenant_by_user.get(user_id)


class ConfigError(Exception):
    """A configuration with problems; ``problems`` lists each with its key and line."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class _Reader:
    """Collects typed values and problems from a parsed TOML document."""

    def __init__(self, text: str, env: Mapping[str, str]) -> None:
        self.lines = text.splitlines()
        self.env = env
        self.problems: list[str] = []

    def line_of(self, table: str, key: str) -> int | None:
        """The line where ``key`` is set under ``table`` (best effort)."""
        current = ""
        pattern = re.compile(rf"^\s*{re.escape(key)}\s*=")
        for number, line in enumerate(self.lines, 1):
            header = re.match(r"^\s*\[\[?\s*([\w.\-]+)\s*\]\]?", line)
            if header:
                current = header.group(1)
            elif current == table.split("[")[0] and pattern.match(line):
                return number
        return None

    def problem(self, table: str, key: str, message: str) -> None:
        """Record a problem at ``table.key``."""
        line = self.line_of(table, key) if key else None
        where = f"{table}.{key}" if key else table
        prefix = f"line {line}: " if line else ""
        self.problems.append(f"{prefix}{where}: {message}")

    def value(self, data: Mapping[str, Any], table: str, key: str, kind: type, default: Any) -> Any:
        """``data[key]`` checked against ``kind``; ``default`` when absent or wrong."""
        if key not in data:
            return default
        value = data[key]
        ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value, ok = float(value), True
        if not ok:
            self.problem(table, key, f"expected {kind.__name__}, got {value!r:.40}")
            return default
        return value

    def secret(self, data: Mapping[str, Any], table: str, key: str, required: bool) -> str | None:
        """A secret given inline as ``key`` or by environment variable name as ``key_env``."""
        env_name = self.value(data, table, f"{key}_env", str, None)
        if env_name is not None:
            if self.env.get(env_name):
                return self.env[env_name]
            if required:
                self.problem(table, f"{key}_env", f"environment variable {env_name} is not set")
            return None
        value = self.value(data, table, key, str, None)
        if value is None and required:
            self.problem(table, key, f"missing (set {key} or {key}_env)")
        return value

    def table(self, data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
        """The sub-table ``key`` (empty when absent or not a table)."""
        value = data.get(key, {})
        if not isinstance(value, dict):
            self.problem(key, "", "expected a table")
            return {}
        return value

    def unknown(self, data: Mapping[str, Any], table: str, known: set[str]) -> None:
        """Report keys of ``data`` that are not in ``known`` (typos should not pass silently)."""
        for key in data:
            if key not in known:
                self.problem(table, key, "unknown setting")


def _fields(cls: type) -> set[str]:
    return set(cls.__dataclass_fields__)


def _simple(r: _Reader, data: Mapping[str, Any], table: str, cls: type, **overrides: Any) -> Any:
    """A dataclass of scalar settings read from ``data`` with type checks."""
    section = r.table(data, table)
    r.unknown(section, table, _fields(cls) | {f"{k}_env" for k in overrides})
    defaults = cls()
    values = {}
    for name in _fields(cls):
        if name in overrides:
            continue
        default = getattr(defaults, name)
        kind = type(default) if default is not None else str
        if isinstance(default, Mapping):
            values[name] = dict(r.value(section, table, name, dict, default))
        else:
            values[name] = r.value(section, table, name, kind, default)
    values.update({k: fn(section) for k, fn in overrides.items()})
    return cls(**values)


def _tenant(r: _Reader, data: Mapping[str, Any], index: int) -> Tenant | None:
    table = f"tenants[{index}]"
    known = _fields(Tenant) | {"api_key_env", "client_secret_env", "password_env", "per_minute"}
    known |= {"per_month"}
    r.unknown(data, table, known - {"limits"})
    name = r.value(data, table, "name", str, None)
    if not name:
        r.problem(table, "name", "missing")
        return None
    plan = r.value(data, table, "plan", str, "watt").lower()
    base = PLAN_LIMITS.get(plan)
    if base is None and not ("per_minute" in data and "per_month" in data):
        r.problem(table, "plan", f"unknown plan {plan!r}: set per_minute and per_month")
        base = PLAN_LIMITS["watt"]
    base = base or PLAN_LIMITS["watt"]
    limits = Limits(
        r.value(data, table, "per_minute", int, base.per_minute),
        r.value(data, table, "per_month", int, base.per_month),
    )
    grant = r.value(data, table, "grant", str, "authorization_code")
    if grant not in ("authorization_code", "password"):
        r.problem(table, "grant", "must be 'authorization_code' or 'password'")
    client_id = r.value(data, table, "client_id", str, "")
    if not client_id:
        r.problem(table, "client_id", "missing")
    user_ids = r.value(data, table, "user_ids", list, [])
    if not all(isinstance(u, str) for u in user_ids):
        r.problem(table, "user_ids", "must be a list of strings")
        user_ids = []
    return Tenant(
        name=name,
        api_key=r.secret(data, table, "api_key", True) or "",
        client_id=client_id,
        client_secret=r.secret(data, table, "client_secret", True) or "",
        user_ids=tuple(user_ids),
        plan=plan,
        limits=limits,
        writes_per_month=r.value(data, table, "writes_per_month", int, 200),
        grant=grant,
        redirect_uri=r.value(data, table, "redirect_uri", str, Tenant.redirect_uri),
        username=r.value(data, table, "username", str, None),
        password=r.secret(data, table, "password", False),
    )


def _client(
    r: _Reader, data: Mapping[str, Any], table: str, tenants: Mapping[str, Tenant]
) -> Client | None:
    keys = {"name", "key", "key_env", "key_sha256", "tenants", "writes", "emulate_retired"}
    r.unknown(data, table, keys)
    name = r.value(data, table, "name", str, table)
    digest_hex = r.value(data, table, "key_sha256", str, None)
    key = r.secret(data, table, "key", digest_hex is None)
    names = r.value(data, table, "tenants", list, [])
    for tenant in names:
        if tenant not in tenants:
            r.problem(table, "tenants", f"no tenant named {tenant!r}")
    if digest_hex is not None:
        try:
            digest = bytes.fromhex(digest_hex)
            assert len(digest) == 32
        except (ValueError, AssertionError):
            r.problem(table, "key_sha256", "must be 64 hex digits (sha256 of the key)")
            return None
    elif key:
        digest = key_digest(key)
    else:
        return None
    return Client(
        name,
        digest,
        tuple(names),
        r.value(data, table, "writes", bool, False),
        r.value(data, table, "emulate_retired", bool, False),
    )


def _items(r: _Reader, data: Mapping[str, Any], key: str) -> list[tuple[int, Mapping[str, Any]]]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        r.problem(key, "", "expected an array of tables ([[...]])")
        return []
    return list(enumerate(value))


def _check(r: _Reader, config: Config, demo_keys: set[str]) -> None:
    """Cross-field rules."""
    if config.upstream.is_enphase and demo_keys:
        r.problem(
            "upstream", "api_root", "demo client keys are refused against the real Enphase API"
        )
    backends = {"tokens": ("file", "redis"), "cache": ("memory", "redis")}
    backends["quota"] = ("file", "memory", "redis")
    for table, allowed in backends.items():
        backend_key = "store" if table == "tokens" else "backend"
        backend = getattr(getattr(config, table), backend_key)
        if backend not in allowed:
            r.problem(table, backend_key, f"must be one of {', '.join(allowed)}")
        if backend == "redis" and not config.redis_url:
            r.problem("redis", "url", f"{table}.{backend_key} = 'redis' needs [redis] url")
    for url in config.upstream.urls():
        if urlsplit(url).scheme not in ("http", "https"):
            r.problem("upstream", "api_root", f"not an http(s) URL: {url!r}")
    seen: dict[str, str] = {}
    for tenant in config.tenants.values():
        for user in tenant.user_ids:
            if user in seen:
                r.problem(
                    "tenants", "user_ids", f"user_id {user!r} is in {seen[user]} and {tenant.name}"
                )
            seen[user] = tenant.name


def parse(text: str, source: str = "<memory>", env: Mapping[str, str] | None = None) -> Config:
    """A validated Config from TOML text; raises ConfigError listing every problem."""
    r = _Reader(text, os.environ if env is None else env)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{source}: not valid TOML: {exc}"]) from None
    r.unknown(
        data,
        "config",
        {"server", "upstream", "sandbox", "tokens", "cache", "quota"}
        | {"redis", "tenants", "legacy_clients", "team_clients"},
    )
    server = _simple(
        r, data, "server", Server, admin_key=lambda s: r.secret(s, "server", "admin_key", False)
    )
    redis = r.table(data, "redis")
    r.unknown(redis, "redis", {"url", "url_env"})
    tenants: dict[str, Tenant] = {}
    for index, item in _items(r, data, "tenants"):
        tenant = _tenant(r, item, index)
        if tenant and tenant.name in tenants:
            r.problem(f"tenants[{index}]", "name", f"duplicate tenant {tenant.name!r}")
        elif tenant:
            tenants[tenant.name] = tenant
    clients = {}
    demo_keys = set()
    for kind in ("legacy_clients", "team_clients"):
        found = []
        for index, item in _items(r, data, kind):
            client = _client(r, item, f"{kind}[{index}]", tenants)
            if client:
                found.append(client)
                demo_keys |= {k for k in DEMO_KEYS if client.key_matches(k)}
        clients[kind] = tuple(found)
    config = Config(
        server=server,
        upstream=_simple(r, data, "upstream", Upstream),
        sandbox=_simple(r, data, "sandbox", Sandbox),
        tokens=_simple(r, data, "tokens", Tokens),
        cache=_simple(r, data, "cache", Cache),
        quota=_simple(r, data, "quota", Quota),
        redis_url=r.secret(redis, "redis", "url", False),
        tenants=tenants,
        legacy_clients=clients["legacy_clients"],
        team_clients=clients["team_clients"],
        source=source,
    )
    _check(r, config, demo_keys)
    if r.problems:
        raise ConfigError([f"{source}: {p}" for p in r.problems])
    return config


def load(path: str | Path, env: Mapping[str, str] | None = None) -> Config:
    """A validated Config from a TOML file; raises ConfigError (never a traceback) on problems."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{path}: cannot read: {exc}"]) from None
    return parse(text, str(path), env)
