"""Shared logic of the v2 endpoints that v4 serves from the same path with small differences."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mappings.base import V2Request, V2Response
from mappings.common import render_datetimes, wants_iso8601, zone
from mappings.shaping import missing
from mappings.status import v2_status

META_TIMES = ("last_report_at", "last_energy_at", "operational_at")
LIVE_TIMES = ("last_report_at", "last_energy_at")  # change with every report

Params = tuple[tuple[str, str], ...]


def query(**values: object) -> Params:
    """v4 query pairs for the values that are not None, in keyword order."""
    return tuple((k, str(v)) for k, v in values.items() if v is not None)


def v2_meta(meta: Any, system: dict[str, Any] | None = None) -> dict[str, Any]:
    """v2's ``meta`` object from a v4 ``meta`` (falling back to the v4 system body)."""
    source = meta if isinstance(meta, dict) else {}
    fallback = system if isinstance(system, dict) else {}
    status = source.get("status") or fallback.get("status")
    if status is None:
        raise missing("system status")
    out: dict[str, Any] = {"status": v2_status(status)}
    for key in META_TIMES:
        value = _epoch(source.get(key))
        out[key] = value if value is not None else _epoch(fallback.get(key))
    return out


def lacks_live_meta(meta: Any) -> bool:
    """Whether ``v2_meta`` would take a live field (status, report times) from the system body."""
    source = meta if isinstance(meta, dict) else {}
    return not source.get("status") or any(_epoch(source.get(key)) is None for key in LIVE_TIMES)


def _epoch(value: Any) -> int | None:
    return value if type(value) is int else None


def respond(req: V2Request, system: dict[str, Any] | None, body: Any) -> V2Response:
    """A 200 answer, with ``*_at`` fields in the system's zone when iso8601 was asked for."""
    if wants_iso8601(req):
        body = render_datetimes(body, zone(system))
    return V2Response(body)


def only_body(replies: Sequence[Any]) -> dict[str, Any] | None:
    """The single reply body when it is a JSON object, else None (v4 answered 204)."""
    body = replies[0] if replies else None
    return body if isinstance(body, dict) and body else None


def lacks_body_meta(replies: Sequence[Any]) -> bool:
    """Whether ``v2_meta`` of the single reply body's ``meta`` would read the system body's
    live fields (none when v4 answered 204)."""
    return lacks_live_meta((only_body(replies) or {}).get("meta"))
