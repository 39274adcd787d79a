"""System endpoints under /api/v4 and the route table of the whole v4 surface."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from starlette.requests import Request
from starlette.routing import Route

from proxy.v4 import paths

from . import bodies, live, site, telemetry
from .errors import ApiError, not_found, unprocessable
from .gate import Caller, v4
from .systems import System
from .window import parse_int

SORT_KEYS = {
    "id": lambda s, now: s.system_id,
    "name": lambda s, now: s.name.lower(),
    "last_report_date": lambda s, now: bodies.meta(s, now)["last_report_at"],
}
SEARCH_KEYS = {"ids", "name", "public_name", "statuses", "connection_type"}
PUBLIC_NAMES = {"residential": "Residential System", "commercial": "Commercial"}


def _sorted(systems: list[System], sort_by: str | None, now: float) -> list[System]:
    """Systems ordered by ``sort_by`` (``-key`` descending); default decreasing id."""
    sort_by = sort_by or "-id"
    key = SORT_KEYS.get(sort_by.lstrip("-"))
    if key is None:
        raise unprocessable(
            f"Invalid sort_by {sort_by}. Allowed keys are id, name, last_report_date"
        )
    return sorted(systems, key=lambda s: key(s, now), reverse=sort_by.startswith("-"))


def _page(
    caller: Caller, systems: list[System], query: Mapping[str, str], max_size: int
) -> dict[str, Any]:
    """One page of systems as the /systems and /systems/search bodies show it."""
    page = parse_int(query.get("page", "1"), "page")
    size = parse_int(query.get("size", "10"), "size")
    if page < 1:
        raise unprocessable("page must be greater than or equal to 1")
    if not 1 <= size <= max_size:
        raise unprocessable(f"size must be between 1 and {max_size}")
    chosen = systems[(page - 1) * size : page * size]
    return {
        "total": len(systems),
        "current_page": page,
        "size": size,
        "count": len(chosen),
        "items": "systems",
        "systems": [bodies.details(s, caller.user, caller.now) for s in chosen],
    }


def list_systems(request: Request, caller: Caller) -> dict[str, Any]:
    """GET /systems."""
    query = request.query_params
    return _page(caller, _sorted(caller.systems(), query.get("sort_by"), caller.now), query, 100)


def _matches(system: System, criteria: dict[str, Any]) -> bool:
    """Whether a system passes every search criterion; empty values are ignored."""
    public_name = PUBLIC_NAMES.get(criteria.get("public_name") or "all")
    tests = (
        not criteria.get("ids") or system.system_id in criteria["ids"],
        not criteria.get("name") or str(criteria["name"]).lower() in system.name.lower(),
        public_name is None or system.public_name == public_name,
        not criteria.get("statuses") or system.status in criteria["statuses"],
        not criteria.get("connection_type")
        or system.connection_type == criteria["connection_type"],
    )
    return all(tests)


async def search_systems(request: Request, caller: Caller) -> dict[str, Any]:
    """POST /systems/search with a JSON ``{"system": {...}, "sort_by": ...}`` body."""
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError:
        raise unprocessable("System are missing at JSON body location") from None
    if not isinstance(body, dict) or not isinstance(body.get("system"), dict):
        raise unprocessable("System are missing at JSON body location")
    invalid = (set(body) - {"system", "sort_by"}) | (set(body["system"]) - SEARCH_KEYS)
    if invalid:
        raise unprocessable(f"Invalid keys: {', '.join(sorted(invalid))}")
    found = [s for s in caller.systems() if _matches(s, body["system"])]
    return _page(
        caller, _sorted(found, body.get("sort_by"), caller.now), request.query_params, 1000
    )


def get_system(request: Request, caller: Caller) -> dict[str, Any]:
    """GET /systems/{system_id}."""
    return bodies.details(caller.system(request.path_params["system_id"]), caller.user, caller.now)


def summary(request: Request, caller: Caller) -> dict[str, Any]:
    """GET /systems/{system_id}/summary."""
    return bodies.summary(caller.system(request.path_params["system_id"]), caller.now)


def devices(request: Request, caller: Caller) -> dict[str, Any]:
    """GET /systems/{system_id}/devices."""
    return bodies.devices(caller.system(request.path_params["system_id"]), caller.now)


def retrieve_system_id(request: Request, caller: Caller) -> dict[str, Any]:
    """GET /systems/retrieve_system_id?serial_num=<gateway serial>."""
    serial = request.query_params.get("serial_num")
    if not serial:
        raise unprocessable("Provide envoy serial number")
    system = next((s for s in caller.systems() if s.gateway == serial), None)
    if system is None:
        raise not_found("System", serial_num=serial)
    return {"system_id": system.system_id}


def inverters_summary(request: Request, caller: Caller) -> list[dict[str, Any]]:
    """GET /systems/inverters_summary_by_envoy_or_site?site_id=|envoy_serial_number=."""
    query = request.query_params
    if query.get("site_id"):
        return bodies.inverters_summary(caller.system(query["site_id"]), caller.now)
    serial = query.get("envoy_serial_number")
    if not serial:
        raise unprocessable("Envoy serial number or Site ID mandatory")
    system = next((s for s in caller.systems() if s.gateway == serial), None)
    if system is None:
        raise not_found("Envoy", serial_num=serial)
    return bodies.inverters_summary(system, caller.now)


def unknown(request: Request, caller: Caller) -> dict[str, Any]:
    """Any other /api/v4 path: 404 after the usual authorization."""
    raise ApiError(404, f"No route matches {request.url.path}")


#: The sandbox's handler of each endpoint of ``proxy.v4.paths`` it simulates, by name.
HANDLERS: dict[str, Callable[[Request, Caller], Any]] = {
    "systems": list_systems,
    "systems_search": search_systems,
    "retrieve_system_id": retrieve_system_id,
    "inverters_summary": inverters_summary,
    "system": get_system,
    "summary": summary,
    "devices": devices,
    "rgm_stats": telemetry.rgm_stats,
    "energy_lifetime": telemetry.energy_lifetime,
    "consumption_lifetime": telemetry.consumption_lifetime,
    "production_meter_readings": telemetry.production_meter_readings,
    **{name: telemetry.telemetry(kind) for name, kind in telemetry.KINDS.items()},
    **site.HANDLERS,
    "live_data": live.live_data,
}


def routes() -> list[Route]:
    """A route per simulated endpoint of the v4 table, most literal first; 404 for the rest."""
    simulated = [e for e in paths.TABLE.ordered if e.name in HANDLERS]
    found = [
        Route(f"/api/v4{e.template}", v4(HANDLERS[e.name]), methods=list(e.methods))
        for e in simulated
    ]
    everything = ["GET", "POST", "PUT", "DELETE", "PATCH"]
    return [*found, Route("/api/v4/{rest:path}", v4(unknown), methods=everything)]
