"""The v4 endpoints, in one table: the broker allow-list, cache keys, freshness and the sandbox.

Each row is one published path template of the Monitoring and Commissioning API v4 specs:
its methods (reads are GETs; PUT/POST/DELETE are writes, which partner plans count apart),
how long a live reply stays fresh, how its query names a time window (and the limits the
release notes put on that window), and the query parameters the spec defines for it.
"""

from __future__ import annotations

import calendar
import re
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum

MINUTE = 60
HOUR = 3600
DAY = 86_400
WEEK = 7 * DAY
TWO_YEARS = 730 * DAY

#: Seconds covered by one v4 telemetry call of each ``granularity`` (``day`` by default).
GRANULARITY = {"15mins": 15 * MINUTE, "day": DAY, "week": WEEK}

SEGMENT = r"[A-Za-z0-9_-]{1,64}"
SAFE_RAW = re.compile(r"^[A-Za-z0-9_/-]*$")
_PARAM = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class Freshness:
    """How long a live 2xx reply stays fresh: ``ttl`` seconds, or up to the next boundary.

    ``every``: the reply is fresh until the next multiple of ``every`` epoch seconds (data that
    grows by intervals); it takes precedence over ``ttl``.
    """

    ttl: int = 60
    every: int | None = None


class WindowKind(Enum):
    """How a query names the time window of the data it asks for."""

    GRANULAR = "granular"  # start_at (or start_date) for one ``granularity`` (day by default)
    RANGE = "range"  # start_at to end_at; a week after start_at without end_at
    UNTIL = "until"  # the data up to end_at
    DAYS = "days"  # start_date to end_date, whole local days


@dataclass(frozen=True)
class WindowRule:
    """An endpoint's time window rule, and the limits v4 puts on it.

    ``step``: seconds between data points. ``canonical``: the ``granularity`` whose windows
    every client's request can be cut from (shared windows). ``max_age``: v4 refuses a start
    older than this; ``max_span``: v4 refuses a window longer than this.
    """

    kind: WindowKind
    step: int = DAY
    canonical: str | None = None
    max_age: int | None = None
    max_span: int | None = None

    @property
    def canonical_span(self) -> int | None:
        """Seconds covered by one canonical window (None: the endpoint has none)."""
        return GRANULARITY[self.canonical] if self.canonical else None


@dataclass(frozen=True)
class V4Endpoint:
    """One v4 path template and everything the proxy and the sandbox need to know of it."""

    name: str
    template: str
    reads: tuple[str, ...] = ("GET",)
    writes: tuple[str, ...] = ()
    freshness: Freshness = Freshness()
    window: WindowRule | None = None
    params: tuple[str, ...] = ()
    headers: tuple[str, ...] = ()  # request headers the spec defines, passed to the upstream
    stream: bool = False  # the reply is a stream, passed on as it arrives and never cached
    pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        parts = _PARAM.split(self.template)  # literal, name, literal, name, ..., literal
        regex = "".join(
            re.escape(part) if i % 2 == 0 else f"(?P<{part}>{SEGMENT})"
            for i, part in enumerate(parts)
        )
        object.__setattr__(self, "pattern", re.compile(f"^{regex}$"))

    @property
    def methods(self) -> tuple[str, ...]:
        """Every method the endpoint allows."""
        return self.reads + self.writes

    @property
    def specificity(self) -> tuple[bool, ...]:
        """Which segments are literal: of two templates matching a path, the more literal wins."""
        return tuple(not s.startswith("{") for s in self.template.strip("/").split("/"))


@dataclass(frozen=True)
class PathMatch:
    """A path matched to its endpoint, with the values of the template's parameters."""

    endpoint: V4Endpoint
    path_params: Mapping[str, str]


class V4Table:
    """The endpoints, looked up by name or by path."""

    def __init__(self, endpoints: Iterable[V4Endpoint]) -> None:
        self.endpoints = tuple(endpoints)
        self._by_name = {e.name: e for e in self.endpoints}
        if len(self._by_name) != len(self.endpoints):
            raise ValueError("two v4 endpoints share a name")
        #: most literal first, so /systems/search is not taken for /systems/{system_id}
        self.ordered = sorted(self.endpoints, key=lambda e: e.specificity, reverse=True)
        # candidates by (first segment, segment count): a lookup tries a handful of patterns
        self._candidates: dict[tuple[str, int], list[V4Endpoint]] = {}
        for endpoint in self.ordered:
            self._candidates.setdefault(_shape(endpoint.template), []).append(endpoint)

    def __iter__(self) -> Iterator[V4Endpoint]:
        return iter(self.endpoints)

    def __getitem__(self, name: str) -> V4Endpoint:
        return self._by_name[name]

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def find(self, path: str) -> PathMatch | None:
        """The endpoint of ``path`` (below the API root, no query), or None."""
        for endpoint in self._candidates.get(_shape(path), ()):
            match = endpoint.pattern.match(path)
            if match:
                return PathMatch(endpoint, match.groupdict())
        return None

    def with_endpoints(self, *extra: V4Endpoint) -> V4Table:
        """This table and ``extra``."""
        return V4Table((*self.endpoints, *extra))


def _shape(path: str) -> tuple[str, int]:
    segments = path.split("/")  # "", first, ...
    return (segments[1] if len(segments) > 1 else "", len(segments))


def clean(path: str) -> str:
    """``path`` without its query and with exactly one leading slash and none trailing."""
    return "/" + path.split("?", 1)[0].strip("/")


# start_date may replace start_at, and end_date is echoed (the spec's descriptions say so)
_TELEMETRY = ("start_at", "start_date", "end_date", "granularity")
_DAYS = ("start_date", "end_date")
_EXPAND = ("expand",)
_ACTIVATION_FILTERS = (
    *("next", "limit", "stage", "reference", "installer_id"),
    *("system_name", "address", "region", "search"),
)
_MICRO_DATA = WindowRule(WindowKind.GRANULAR, 5 * MINUTE, "day", TWO_YEARS, WEEK)
_METER_DATA = WindowRule(WindowKind.GRANULAR, 15 * MINUTE, "week", TWO_YEARS, WEEK)
_LIFETIME = WindowRule(WindowKind.DAYS)
_INTERVALS = Freshness(every=15 * MINUTE)
_HOURLY = Freshness(every=HOUR)


def _telemetry(name: str, template: str, window: WindowRule) -> V4Endpoint:
    every = Freshness(every=window.step)
    return V4Endpoint(name, template, freshness=every, window=window, params=_TELEMETRY)


def _commissioning(
    name: str, template: str, *writes: str, reads: bool = True, params: tuple[str, ...] = ()
) -> V4Endpoint:
    return V4Endpoint(name, template, ("GET",) if reads else (), writes, params=params)


S = "/systems/{system_id}"

ENDPOINTS: tuple[V4Endpoint, ...] = (
    # Monitoring API
    V4Endpoint("systems", "/systems", freshness=Freshness(900), params=("page", "size", "sort_by")),
    # A published read ("search and filter systems") that happens to be a POST.
    V4Endpoint("systems_search", "/systems/search", ("POST",), params=("page", "size")),
    V4Endpoint("system", S, freshness=Freshness(HOUR)),
    V4Endpoint("summary", f"{S}/summary", freshness=Freshness(300)),
    V4Endpoint("devices", f"{S}/devices", freshness=Freshness(HOUR)),
    V4Endpoint(
        "retrieve_system_id",
        "/systems/retrieve_system_id",
        freshness=Freshness(DAY),
        params=("serial_num",),
    ),
    V4Endpoint(
        "production_meter_readings",
        f"{S}/production_meter_readings",
        freshness=_INTERVALS,
        window=WindowRule(WindowKind.UNTIL, 15 * MINUTE),
        params=("end_at",),
    ),
    V4Endpoint(
        "rgm_stats",
        f"{S}/rgm_stats",
        freshness=_INTERVALS,
        window=WindowRule(WindowKind.RANGE, 15 * MINUTE, "week", TWO_YEARS),
        params=("start_at", "end_at"),
    ),
    V4Endpoint(
        "consumption_lifetime",
        f"{S}/consumption_lifetime",
        freshness=_HOURLY,
        window=_LIFETIME,
        params=_DAYS,
    ),
    V4Endpoint(
        "energy_lifetime",
        f"{S}/energy_lifetime",
        freshness=_HOURLY,
        window=_LIFETIME,
        params=(*_DAYS, "production"),
    ),
    V4Endpoint("battery_lifetime", f"{S}/battery_lifetime", window=_LIFETIME, params=_DAYS),
    V4Endpoint(
        "energy_import_lifetime", f"{S}/energy_import_lifetime", window=_LIFETIME, params=_DAYS
    ),
    V4Endpoint(
        "energy_export_lifetime", f"{S}/energy_export_lifetime", window=_LIFETIME, params=_DAYS
    ),
    V4Endpoint(
        "inverters_summary",
        "/systems/inverters_summary_by_envoy_or_site",
        freshness=Freshness(900),
        params=("site_id", "envoy_serial_number"),
    ),
    _telemetry("production_micro", f"{S}/telemetry/production_micro", _MICRO_DATA),
    _telemetry("production_meter", f"{S}/telemetry/production_meter", _METER_DATA),
    _telemetry("battery", f"{S}/telemetry/battery", _METER_DATA),
    _telemetry("consumption_meter", f"{S}/telemetry/consumption_meter", _METER_DATA),
    _telemetry("micro_telemetry", f"{S}/devices/micros/{{serial_no}}/telemetry", _MICRO_DATA),
    _telemetry("acb_telemetry", f"{S}/devices/acbs/{{serial_no}}/telemetry", _METER_DATA),
    _telemetry("encharge_telemetry", f"{S}/devices/encharges/{{serial_no}}/telemetry", _METER_DATA),
    V4Endpoint(
        "energy_import_telemetry",
        f"{S}/energy_import_telemetry",
        window=WindowRule(WindowKind.GRANULAR, 15 * MINUTE),
        params=_TELEMETRY,
    ),
    V4Endpoint(
        "energy_export_telemetry",
        f"{S}/energy_export_telemetry",
        window=WindowRule(WindowKind.GRANULAR, 15 * MINUTE),
        params=_TELEMETRY,
    ),
    V4Endpoint("live_data", f"{S}/live_data", headers=("duration",), stream=True),
    V4Endpoint("latest_telemetry", f"{S}/latest_telemetry", freshness=Freshness(300)),
    _commissioning("battery_settings", "/systems/config/{system_id}/battery_settings", "PUT"),
    _commissioning("storm_guard", "/systems/config/{system_id}/storm_guard", "PUT"),
    _commissioning("grid_status", "/systems/config/{system_id}/grid_status"),
    _commissioning("load_control", "/systems/config/{system_id}/load_control", "PUT"),
    # Commissioning API
    _commissioning(
        "activations",
        "/partner/activations",
        "POST",
        params=_ACTIVATION_FILTERS,
    ),
    _commissioning(
        "activation", "/partner/activations/{activation_id}", "PUT", "DELETE", params=_EXPAND
    ),
    _commissioning(
        "activation_user",
        "/activations/{activation_id}/users/{user_id}",
        "PUT",
        "POST",
        "DELETE",
        params=_EXPAND,
    ),
    _commissioning("production_mode", "/activations/{activation_id}/ops/production_mode", "POST"),
    _commissioning("company_users", "/companies/{company_id}/users", "POST"),
    _commissioning("users", "/users", "POST", reads=False),
    _commissioning("users_search", "/users/search", params=("email",)),
    _commissioning(
        "company_user", "/companies/{company_id}/users/{user_id}", "PUT", params=_EXPAND
    ),
    _commissioning("partner_user", "/partner/users/{user_id}", params=_EXPAND),
    _commissioning("user", "/users/{user_id}", "PUT", reads=False),
    _commissioning("partner_self", "/partner/users/self", params=_EXPAND),
    _commissioning("branches", "/companies/self/branches"),
    _commissioning("subcontractors", "/companies/self/authorized_subcontractors"),
    _commissioning("estimate", "/activations/{activation_id}/estimate", "PUT"),
    _commissioning("grid_profiles", "/partner/grid_profiles"),
    _commissioning(
        "meter",
        "/systems/{system_id}/meters/{serial_number}",
        "PUT",
        params=("operational_date",),
    ),
    _commissioning(
        "meter_control",
        "/activations/{activation_id}/meters/{serial_number}/meter_control",
        "POST",
        reads=False,
    ),
    _commissioning("pv_manufacturers", "/pv_manufacturers"),
    _commissioning("pv_models", "/pv_manufacturers/{pv_manufacturer_id}/pv_models"),
    _commissioning("tariff", "/systems/config/{system_id}/tariff", "PUT"),
    _commissioning("arrays", "/partner/systems/{system_id}/arrays", "PUT"),
    _commissioning("array", "/partner/systems/{system_id}/arrays/{array_id}", "PUT", "DELETE"),
)

TABLE = V4Table(ENDPOINTS)


def find(path: str) -> PathMatch | None:
    """The endpoint of a v4 path below the API root (its query is ignored), or None."""
    return TABLE.find(clean(path))


def allowed_methods(raw_path: str) -> tuple[str, ...]:
    """The methods a published v4 path allows; () for anything unpublished or unsafe."""
    if not SAFE_RAW.match(raw_path) or "//" in raw_path:
        return ()
    found = TABLE.find(raw_path)
    return found.endpoint.methods if found else ()


def is_write(raw_path: str, method: str) -> bool:
    """Whether ``method`` on a published v4 path writes (partner plans count writes apart)."""
    found = TABLE.find(raw_path)
    return found is not None and method in found.endpoint.writes


def _epoch(params: dict[str, str], at: str, date: str) -> int | None:
    if re.fullmatch(r"-?[0-9]{1,18}", params.get(at, "")):
        return int(params[at])
    if date in params:
        try:
            return calendar.timegm(time.strptime(params[date], "%Y-%m-%d"))
        except ValueError:
            return None
    return None


def date_problem(path: str, query: Sequence[tuple[str, str]], now: float) -> str | None:
    """Why v4 would refuse this window (too old a start, too long a span), if it would."""
    found = find(path)
    window = found.endpoint.window if found else None
    if window is None or window.max_age is None:
        return None
    params = dict(query)
    start = _epoch(params, "start_at", "start_date")
    end = _epoch(params, "end_at", "end_date")
    if start is not None and start < now - window.max_age:
        return "The requested start date must be within 2 years from current date"
    if start is None or end is None:
        return None
    if window.max_span is not None and end - start > window.max_span:
        return "The total duration requested can not be more than one week"
    if end < start:
        return "Requested date range is invalid: end is before start"
    return None


def only_defined(path: str, query: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """The pairs of ``query`` whose names the endpoint of ``path`` defines, in order.

    Names compare exactly, as v4 compares them (``KEY`` is not ``key``); the API key is never
    one of them: the proxy adds the tenant's own.
    """
    found = TABLE.find(path)
    names = found.endpoint.params if found else ()
    return [(name, value) for name, value in query if name in names]
