"""TOML configuration to typed, validated settings; secrets may come from the environment.

Adding a setting is one line: a field (type, constraint, default) on the class of its table:
Server for ``[server]``, UpstreamSettings, Sandbox, Tokens, Cache, Quota, Tenant for each
``[[tenants]]``, Client for each ``[[legacy_clients]]`` and ``[[team_clients]]``. The TOML key
is the field name; a missing, mistyped, out-of-range or unknown key is reported with its line.
Type a secret ``Secret`` (or ``Secret | None``): the file may then name an environment variable
instead, as ``<key>_env = "VARIABLE"``. Rules that span keys or tables go in ``_cross_checks``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import ipaddress
import os
import tomllib
from collections.abc import Iterator, Mapping
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal, get_args
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    ValidationError,
    ValidationInfo,
    model_validator,
)
from pydantic.dataclasses import dataclass
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError

from proxy.config_lines import line_of
from proxy.v4 import paths as v4paths

ENPHASE_HOST = "api.enphaseenergy.com"
DEMO_KEYS = ("demo-v2-key", "demo-team-key")

_TABLE = ConfigDict(extra="forbid")

Str = Annotated[str, Strict()]
Bool = Annotated[bool, Strict()]
Positive = Annotated[int, Strict(), Field(gt=0)]
NonNegative = Annotated[int, Strict(), Field(ge=0)]
PositiveFloat = Annotated[float, Strict(), Field(gt=0)]
NonNegativeFloat = Annotated[float, Strict(), Field(ge=0)]
Port = Annotated[int, Strict(), Field(ge=1, le=65535)]
Fraction = Annotated[float, Strict(), Field(ge=0, lt=1)]
Name = Annotated[str, Strict(), Field(min_length=1)]


class _SecretMark:
    """Marks a field whose value may come from the environment (``<key>_env``)."""


SECRET = _SecretMark()
Secret = Annotated[str, Strict(), SECRET]


def _http_url(url: str) -> str:
    if urlsplit(url).scheme not in ("http", "https"):
        raise ValueError("not an http(s) URL")
    return url


HttpUrl = Annotated[str, Strict(), AfterValidator(_http_url)]


def _ip_network(entry: str) -> str:
    ipaddress.ip_network(entry, strict=False)  # ValueError names the problem
    return entry


IpNetwork = Annotated[str, Strict(), AfterValidator(_ip_network)]


def _known_endpoint(name: str) -> str:
    if name not in ENDPOINT_NAMES:
        raise ValueError("not a v4 endpoint name (e.g. summary, devices, production_micro, other)")
    return name


ENDPOINT_NAMES = frozenset({e.name for e in v4paths.ENDPOINTS} | {"other"})
EndpointName = Annotated[str, Strict(), AfterValidator(_known_endpoint)]


@dataclass(frozen=True)
class Limits:
    """A plan's upstream call budget."""

    per_minute: int
    per_month: int


FROM_PLAN = Limits(0, 0)  # Tenant.limits until validation derives it from the plan
PLAN_LIMITS: dict[str, Limits] = {
    "watt": Limits(10, 1_000),
    "kilowatt": Limits(10, 50_000),
    "megawatt": Limits(100, 300_000),
    "partner": Limits(100, 1_000_000),
}


def _secrets_from_env(data: Any, info: ValidationInfo, secrets: Mapping[str, bool]) -> Any:
    """``<key>_env = "VAR"`` replaced by ``<key> = <VAR's value>`` for each secret key.

    ``secrets`` maps each secret key to whether it is required.
    """
    if not isinstance(data, dict):
        return data
    env: Mapping[str, str] = (info.context or {}).get("env", os.environ)
    data = dict(data)
    for name, required in secrets.items():
        if f"{name}_env" not in data:
            continue
        variable = data.pop(f"{name}_env")
        if not isinstance(variable, str):
            raise _key_problem(f"{name}_env", "expected the name of an environment variable")
        if env.get(variable):
            data[name] = env[variable]
        elif required:
            raise _key_problem(f"{name}_env", f"environment variable {variable} is not set")
    return data


def _fields(table: type) -> dict[str, FieldInfo]:
    """The fields pydantic validates for a table class."""
    fields: dict[str, FieldInfo] = getattr(table, "__pydantic_fields__")  # noqa: B009
    return fields


def _is_secret(field: FieldInfo) -> bool:
    """Whether the field is typed Secret (or Secret | None)."""
    return SECRET in field.metadata or any(
        SECRET in get_args(arg) for arg in get_args(field.annotation)
    )


def _key_problem(key: str, message: str) -> PydanticCustomError:
    """A problem with ``key`` of the table being validated (its line is looked up by key)."""
    return PydanticCustomError("config_key", "{message}", {"key": key, "message": message})


class _Table:
    """A TOML table: ``<secret>_env`` keys are read from the environment before validation."""

    @model_validator(mode="before")
    @classmethod
    def _from_env(cls, data: Any, info: ValidationInfo) -> Any:
        fields = _fields(cls).items()
        secrets = {name: f.is_required() for name, f in fields if _is_secret(f)}
        return _secrets_from_env(data, info, secrets)


@dataclass(frozen=True, config=_TABLE)
class Server(_Table):
    """Where and how the proxy listens."""

    host: Str = "127.0.0.1"
    port: Port = 8080
    workers: Positive = 2
    timeout: Positive = 60
    graceful_timeout: Positive = 30
    keepalive: Positive = 5
    data_dir: Str = "var"
    admin_key: Secret | None = None
    scrape_key: Secret | None = None  # for /metrics and /readyz details; unset: nobody sees them
    log_level: Literal["debug", "info", "warning", "error", "critical"] = "info"
    access_log: Bool = True
    max_url_length: Positive = 4096
    worker_connections: Positive = 1000  # per worker; lowered to fit the open-file limit
    request_timeout: Positive = 30  # seconds for a whole request, head and body
    min_body_rate: Positive = 1024  # bytes/s a body must average once ``keepalive`` s have passed
    audit_log_max_bytes: Positive = 10 * 1024 * 1024  # audit.log is rotated past this size
    audit_log_backups: Positive = 5  # rotated audit logs kept (audit.log.1 ... .5)
    trusted_proxies: tuple[IpNetwork, ...] = ()  # reverse proxies whose X-Forwarded-* count


@dataclass(frozen=True, config=_TABLE)
class UpstreamSettings(_Table):
    """The v4-compatible server the proxy calls."""

    api_root: HttpUrl = f"https://{ENPHASE_HOST}/api/v4"
    token_url: HttpUrl = f"https://{ENPHASE_HOST}/oauth/token"
    authorize_url: HttpUrl = f"https://{ENPHASE_HOST}/oauth/authorize"
    timeout: PositiveFloat = 15.0
    connect_timeout: PositiveFloat = 5.0
    max_connections: Positive = 100
    max_streams: Positive = 20  # per worker: streamed replies (live_data), in a pool of their own
    streams_per_client: Positive = 4  # per worker: concurrent streams of one team client
    streams_per_tenant: Positive = 10  # per worker: concurrent streams of one tenant

    @property
    def is_enphase(self) -> bool:
        """Whether this is the real Enphase API."""
        return any(urlsplit(u).hostname == ENPHASE_HOST for u in self.urls())

    def urls(self) -> tuple[str, str, str]:
        """The three configured upstream URLs."""
        return (self.api_root, self.token_url, self.authorize_url)


@dataclass(frozen=True, config=_TABLE)
class Sandbox(_Table):
    """The embedded simulated v4 API started beside the proxy."""

    enabled: Bool = False
    host: Str = "127.0.0.1"
    port: Port = 8091


@dataclass(frozen=True, config=_TABLE)
class Tenant(_Table):
    """One Enphase v4 authorization the proxy holds: an app, its plan and its user.

    ``limits`` is the plan's call budget with any ``per_minute``/``per_month`` override (both
    required for a plan not in PLAN_LIMITS); code may give ``limits`` directly.
    """

    name: Name
    api_key: Secret
    client_id: Name
    client_secret: Secret
    user_ids: tuple[Str, ...] = ()
    plan: Annotated[str, Strict(), AfterValidator(str.lower)] = "watt"
    per_minute: Positive | None = None
    per_month: Positive | None = None
    writes_per_month: NonNegative = 200
    grant: Literal["authorization_code", "password"] = "authorization_code"
    redirect_uri: HttpUrl = "http://127.0.0.1:8080/oauth/callback"
    username: Str | None = None
    password: Secret | None = None
    daylight: bool = True  # pace production-only data by the sun (proxy.quota.daylight)
    limits: Limits = FROM_PLAN

    @model_validator(mode="after")
    def _plan_limits(self) -> Tenant:
        if self.limits != FROM_PLAN:
            return self
        base = PLAN_LIMITS.get(self.plan)
        if base is None and not (self.per_minute and self.per_month):
            known = " | ".join(PLAN_LIMITS)
            message = f"unknown plan {self.plan!r} ({known}); or set per_minute and per_month"
            raise _key_problem("plan", message)
        base = base or FROM_PLAN
        limits = Limits(self.per_minute or base.per_minute, self.per_month or base.per_month)
        object.__setattr__(self, "limits", limits)  # frozen: set once, while validating
        return self


def key_digest(key: str) -> bytes:
    """sha256 of a presented key (not cached: presented keys are not kept before authentication)."""
    return hashlib.sha256(key.encode()).digest()


@dataclass(frozen=True, config=_TABLE)
class Client(_Table):
    """A caller of the proxy: a legacy v2 integration or a team's v4 script.

    The file gives the key as ``key`` (or ``key_env``) or as ``key_sha256`` (64 hex digits);
    only its sha256 is kept.
    """

    name: Name
    key_sha256: bytes = Field(repr=False)
    tenants: tuple[Str, ...] = ()
    writes: Bool = False
    emulate_retired: Bool = False  # legacy: answer envoys/monthly_production from v4
    per_minute: Positive | None = None  # a team client's own upstream budget in each tenant;
    per_month: Positive | None = None  # None: ``Quota.team_share`` of the tenant's

    @model_validator(mode="before")
    @classmethod
    def _digest(cls, data: Any, info: ValidationInfo) -> Any:
        if not isinstance(data, dict):
            return data
        data = _secrets_from_env(data, info, {"key": False})
        key, digest = data.pop("key", None), data.get("key_sha256")
        if isinstance(digest, str):
            try:
                data["key_sha256"] = bytes.fromhex(digest)
            except ValueError:
                data["key_sha256"] = b""
            if len(data["key_sha256"]) != 32:
                raise _key_problem("key_sha256", "must be 64 hex digits (sha256 of the key)")
        elif key is None:
            raise _key_problem("key", "missing (set key, key_env or key_sha256)")
        elif not isinstance(key, str) or not key:
            raise _key_problem("key", "must be a non-empty string")
        else:
            data["key_sha256"] = key_digest(key)
        return data

    def key_matches(self, key: str) -> bool:
        """Whether ``key`` is this client's key (constant-time)."""
        return hmac.compare_digest(key_digest(key), self.key_sha256)


@dataclass(frozen=True, config=_TABLE)
class Tokens(_Table):
    """Where OAuth tokens live and when they are refreshed."""

    store: Literal["file", "redis"] = "file"
    path: Str = "tokens.json"
    refresh_margin: NonNegative = 3600
    check_interval: Positive = 30
    lock_timeout: PositiveFloat = 30.0


@dataclass(frozen=True, config=_TABLE)
class Cache(_Table):
    """Upstream reply cache and its freshness rules (seconds); ``ttl`` by v4 endpoint name."""

    backend: Literal["file", "memory", "redis"] = "file"  # file: shared by the host's workers
    max_entries: Positive = 10_000  # memory backend only
    max_bytes: Positive = 64 * 1024 * 1024
    reporting_lag: NonNegative = 3600
    past_ttl: NonNegative = 86_400
    error_ttl: NonNegative = 60
    stale_if_error: NonNegative = 86_400
    stale_while_revalidate: Bool = True
    refresh_wait: NonNegativeFloat = 2.0  # a refresh the pacer allows is waited for this long
    final_dir: Str = "final"  # final replies on disk (file and memory backends), in data_dir
    final_max_bytes: Positive = 1024 * 1024 * 1024
    ttl: Mapping[EndpointName, NonNegative] = dataclasses.field(default_factory=dict)


@dataclass(frozen=True, config=_TABLE)
class Quota(_Table):
    """How the proxy paces calls against the plan limits; counts live in a shared store."""

    backend: Literal["file", "memory", "redis"] = "file"
    path: Str = "quota.sqlite3"
    max_wait: NonNegativeFloat = 5.0
    pacing: Bool = True  # stretch refreshes of live keys so the month budget lasts the month
    reserve: Fraction = (
        0.1  # share of the month limit kept for cold misses (see proxy.quota.pacing)
    )
    demand_window: Positive = 3600  # seconds a key stays in demand after a client last asked
    team_share: Fraction = (
        0.5  # of a tenant's budget a team client may spend, unless set per client
    )
    cold_share: Fraction = (
        0.1  # of the reserve a legacy client may spend on past data a day (proxy.quota.cold)
    )


@dataclass(frozen=True, config=_TABLE)
class RedisSettings(_Table):
    """``[redis]``: the server shared by workers and replicas: one ``url``, or ``sentinels``
    (``host:port``) watching ``service_name``, or ``cluster_nodes`` (``host:port``) of a
    Cluster; ``password`` for the latter two. A token write waits until ``replica_acks``
    replicas hold it, at most ``ack_timeout`` seconds (README "Run it with replicas")."""

    url: Secret | None = None
    sentinels: tuple[Str, ...] = ()
    service_name: Str | None = None
    cluster_nodes: tuple[Str, ...] = ()
    password: Secret | None = None
    replica_acks: NonNegative | None = None  # None: 1 with sentinels or a cluster, else 0
    ack_timeout: PositiveFloat = 0.5

    @model_validator(mode="after")
    def _one_way(self) -> RedisSettings:
        ways = [bool(self.url), bool(self.sentinels), bool(self.cluster_nodes)]
        if sum(ways) > 1:
            raise _key_problem("url", "set one of url, sentinels or cluster_nodes")
        if self.sentinels and not self.service_name:
            raise _key_problem("service_name", "sentinels need the service_name they watch")
        for node in (*self.sentinels, *self.cluster_nodes):
            host, _, port = node.rpartition(":")
            if not host or not port.isdigit():
                raise _key_problem("sentinels", f"{node!r} is not host:port")
        return self

    @property
    def configured(self) -> bool:
        """Whether a Redis is configured at all."""
        return bool(self.url or self.sentinels or self.cluster_nodes)


class Document(BaseModel):
    """The TOML file as written: one field per top-level table."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    server: Server = Server()
    upstream: UpstreamSettings = UpstreamSettings()
    sandbox: Sandbox = Sandbox()
    tokens: Tokens = Tokens()
    cache: Cache = Cache()
    quota: Quota = Quota()
    redis: RedisSettings = RedisSettings()
    tenants: list[Tenant] = []
    legacy_clients: list[Client] = []
    team_clients: list[Client] = []


@dataclasses.dataclass(frozen=True)
class Config:
    """The whole validated configuration."""

    server: Server = dataclasses.field(default_factory=Server)
    upstream: UpstreamSettings = dataclasses.field(default_factory=UpstreamSettings)
    sandbox: Sandbox = dataclasses.field(default_factory=Sandbox)
    tokens: Tokens = dataclasses.field(default_factory=Tokens)
    cache: Cache = dataclasses.field(default_factory=Cache)
    quota: Quota = dataclasses.field(default_factory=Quota)
    redis_url: str | None = None
    redis: RedisSettings = dataclasses.field(default_factory=RedisSettings)
    tenants: Mapping[str, Tenant] = dataclasses.field(default_factory=dict)
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


Loc = tuple[str | int, ...]


def _cross_checks(doc: Document) -> Iterator[tuple[Loc, str]]:
    """Rules that span keys or tables, as (location, message)."""
    names: set[str] = set()
    users: dict[str, str] = {}
    for index, tenant in enumerate(doc.tenants):
        at: Loc = ("tenants", index)
        yield from _app_checks(doc.tenants[:index], tenant, at)
        if tenant.plan not in PLAN_LIMITS and not (tenant.per_minute and tenant.per_month):
            known = " | ".join(PLAN_LIMITS)
            yield (
                (*at, "plan"),
                f"unknown plan {tenant.plan!r} ({known}): or set per_minute and per_month",
            )
        if tenant.name in names:
            yield (*at, "name"), f"duplicate tenant {tenant.name!r}"
        names.add(tenant.name)
        for user in tenant.user_ids:
            if user in users:
                yield (*at, "user_ids"), f"user_id {user!r} is in {users[user]} and {tenant.name}"
            users.setdefault(user, tenant.name)
    demo = False
    for kind in ("legacy_clients", "team_clients"):
        for index, client in enumerate(getattr(doc, kind)):
            for name in client.tenants:
                if name not in names:
                    yield (kind, index, "tenants"), f"no tenant named {name!r}"
            demo |= any(client.key_matches(k) for k in DEMO_KEYS)
    if demo and doc.upstream.is_enphase:
        yield ("upstream", "api_root"), "demo client keys are refused against the real Enphase API"
    for table, key in (("tokens", "store"), ("cache", "backend"), ("quota", "backend")):
        if getattr(getattr(doc, table), key) == "redis" and not doc.redis.configured:
            need = "[redis] url, sentinels or cluster_nodes"
            yield (table, key), f"{table}.{key} = 'redis' needs {need}"


def _app_checks(before: list[Tenant], tenant: Tenant, at: Loc) -> Iterator[tuple[Loc, str]]:
    """Tenants sharing a v4 app (Enphase counts a plan per app) declare it alike: one client id
    with one API key, one plan and limits."""
    for other in before:
        same_id, same_key = other.client_id == tenant.client_id, other.api_key == tenant.api_key
        if same_id != same_key:
            key = "api_key" if same_id else "client_id"
            message = f"shares its {'client_id' if same_id else 'api_key'} with {other.name} but"
            yield (*at, key), f"{message} not its {key}: one v4 app has one of each"
        elif same_id and (other.plan, other.limits) != (tenant.plan, tenant.limits):
            yield (
                (*at, "plan"),
                f"app {tenant.client_id!r} is {other.plan} ({_limits(other.limits)}) in"
                f" {other.name} but {tenant.plan} ({_limits(tenant.limits)}) here: Enphase counts"
                " one plan per app, shared by its tenants",
            )
        else:
            continue
        return


def _limits(limits: Limits) -> str:
    return f"{limits.per_minute}/minute, {limits.per_month}/month"


def _where(loc: Loc) -> str:
    """``tenants[1].plan`` for ("tenants", 1, "plan")."""
    text = ""
    for part in loc:
        if part != "[key]":  # pydantic's marker for a problem with a mapping's key
            text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return text or "config"


def _problems(error: ValidationError) -> Iterator[tuple[Loc, str]]:
    """Each pydantic error as (location in the file, message); never a secret's value."""
    for item in error.errors():
        loc: Loc = tuple(item["loc"])
        ctx = item.get("ctx") or {}
        if item["type"] == "config_key":
            loc = (*loc, ctx["key"])
            message = ctx["message"]
        elif item["type"] in ("extra_forbidden", "unexpected_keyword_argument"):
            message = "unknown setting"
        elif item["type"] in ("missing", "missing_argument"):
            message = f"missing (set {loc[-1]} or {loc[-1]}_env)" if _secret(loc) else "missing"
        elif item["type"] == "literal_error":
            choices = ctx["expected"].replace(" or ", ", ")
            message = f"must be one of {choices} (got {item['input']!r:.40})"
        else:
            message = item["msg"].removeprefix("Value error, ")
            if item["type"] not in _SECRET_SAFE and not _secret(loc):
                message += f" (got {item['input']!r:.40})"
        yield loc, message


_SECRET_SAFE = frozenset({"value_error"})


def _secret(loc: Loc) -> bool:
    return any(isinstance(p, str) and p in _SECRET_NAMES for p in loc)


_SECRET_NAMES = frozenset(
    name
    for table in (Server, Tenant, Client, RedisSettings)
    for name, field in _fields(table).items()
    if _is_secret(field)
) | {"key"}


def parse(text: str, source: str = "<memory>", env: Mapping[str, str] | None = None) -> Config:
    """A validated Config from TOML text; raises ConfigError listing every problem."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{source}: not valid TOML: {exc}"]) from None
    context = {"env": os.environ if env is None else env}
    try:
        doc = Document.model_validate(data, context=context)
    except ValidationError as exc:
        problems = list(_problems(exc))
    else:
        problems = list(_cross_checks(doc))
    if problems:
        raise ConfigError([_render(text, source, loc, message) for loc, message in problems])
    return Config(
        server=doc.server,
        upstream=doc.upstream,
        sandbox=doc.sandbox,
        tokens=doc.tokens,
        cache=doc.cache,
        quota=doc.quota,
        redis_url=doc.redis.url,
        redis=doc.redis,
        tenants={tenant.name: tenant for tenant in doc.tenants},
        legacy_clients=tuple(doc.legacy_clients),
        team_clients=tuple(doc.team_clients),
        source=source,
    )


def _render(text: str, source: str, loc: Loc, message: str) -> str:
    line = line_of(text, loc)
    prefix = f"line {line}: " if line else ""
    return f"{source}: {prefix}{_where(loc)}: {message}"


def load(path: str | Path, env: Mapping[str, str] | None = None) -> Config:
    """A validated Config from a TOML file; raises ConfigError (never a traceback) on problems."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{path}: cannot read: {exc}"]) from None
    return parse(text, str(path), env)
