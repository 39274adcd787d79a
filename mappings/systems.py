"""v2 ``systems`` (opaque ``next`` paging, local filters) over v4 ``GET /systems`` pages."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeGuard

from mappings.base import Endpoint, V2Request, V2Response, V4Call
from mappings.common import is_id, render_datetimes, wants_iso8601, zone
from mappings.errors import unprocessable
from mappings.passthrough import query, v2_meta
from mappings.schema import INTEGER, META, STRING, array, nullable, obj, param, ref
from mappings.shaping import required
from mappings.status import V2_STATUSES, v2_status

ROUTE = "/api/v2/systems"
PAGE_SIZE = 100
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
MAX_PAGES = 10
CONNECTION_TYPES = frozenset({"ethernet", "cellular", "wifi"})
ADDRESS = ("state", "city", "postal_code")  # besides the country


@dataclass(frozen=True)
class Cursor:
    """Where a v2 page starts: a v4 page, an offset in it, and the system scanned just before."""

    page: int = 1
    offset: int = 0
    after: int | None = None


@dataclass(frozen=True)
class Filters:
    """v2's list filters; values of one filter are alternatives, filters combine with AND."""

    system_id: frozenset[int]
    system_name: frozenset[str]
    status: frozenset[str]
    reference: frozenset[str]
    connection_type: frozenset[str]

    def signature(self) -> str:
        """A short digest identifying these filters, carried by ``next`` tokens."""
        fields = [sorted(map(str, values)) for values in vars(self).values()]
        return hashlib.sha256(json.dumps(fields).encode()).hexdigest()[:12]

    def matches(self, system: dict[str, Any]) -> bool:
        """Whether the v4 ``system`` passes every filter."""
        checks = (
            (self.system_id, system.get("system_id")),
            (self.status, v2_status(system.get("status"))),
            (self.reference, system.get("reference")),
            (self.connection_type, system.get("connection_type")),
        )
        name = str(system.get("name") or "").casefold()
        named = not self.system_name or any(part in name for part in self.system_name)
        return named and all(not wanted or value in wanted for wanted, value in checks)


def filters(req: V2Request) -> Filters:
    """The request's filters; v2 422 for a malformed id, an unknown enum value or installer.

    ``system_name`` matches any part of a name, ignoring case, as v2's did.
    """
    if req.getlist("installer"):
        raise unprocessable(
            "The installer filter is not supported: Enphase API v4 does not tell a system's "
            "installer"
        )
    ids = req.getlist("system_id")
    if not all(is_id(value) for value in ids):
        raise unprocessable("Invalid value for system_id: not a system id")
    statuses = frozenset(req.getlist("status"))
    if not statuses <= V2_STATUSES:
        raise unprocessable(f"Invalid value for status: {sorted(statuses - V2_STATUSES)[0]}")
    connections = frozenset(req.getlist("connection_type"))
    if not connections <= CONNECTION_TYPES:
        raise unprocessable("Invalid value for connection_type")
    return Filters(
        system_id=frozenset(int(value) for value in ids),
        system_name=frozenset(value.casefold() for value in req.getlist("system_name")),
        status=statuses,
        reference=frozenset(req.getlist("reference")),
        connection_type=connections,
    )


def limit(req: V2Request) -> int:
    """The v2 page size: 100 by default, at most 1000 (larger values are clipped)."""
    raw = req.get("limit")
    if raw in (None, ""):
        return DEFAULT_LIMIT
    try:
        value = int(raw)
    except ValueError:
        raise unprocessable("Invalid value for limit: not an integer") from None
    if value < 1:
        raise unprocessable("Invalid value for limit: must be at least 1")
    return min(value, MAX_LIMIT)


def encode_next(cursor: Cursor, signature: str) -> str:
    """The opaque v2 ``next`` token for ``cursor`` under the filters with ``signature``."""
    data = {"p": cursor.page, "o": cursor.offset, "a": cursor.after, "f": signature}
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_next(token: str | None, signature: str) -> Cursor:
    """The cursor a ``next`` token encodes; v2 422 when it is not one of ours for these filters."""
    if not token:
        return Cursor()
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        cursor = Cursor(data["p"], data["o"], data["a"])
        valid = (
            data["f"] == signature
            and _is_int(cursor.page)
            and cursor.page >= 1
            and _is_int(cursor.offset)
            and 0 <= cursor.offset <= PAGE_SIZE
            and (cursor.after is None or _is_int(cursor.after))
        )
    except (binascii.Error, ValueError, TypeError, KeyError):
        valid = False
    if not valid:
        raise unprocessable("Invalid value for next: not a token from this query's previous page")
    return cursor


def plan(req: V2Request, system: dict[str, Any] | None) -> list[V4Call]:
    """The v4 page where this v2 page starts."""
    limit(req)
    return [_page_call(_cursor(req).page)]


def follow(req: V2Request, system: dict[str, Any] | None, replies: Sequence[Any]) -> list[V4Call]:
    """The next v4 page while this v2 page is short and v4 has more (at most MAX_PAGES)."""
    _, _, complete = _walk(req, replies)
    if complete or len(replies) >= MAX_PAGES:
        return []
    return [_page_call(_cursor(req).page + len(replies))]


def shape(req: V2Request, system: dict[str, Any] | None, replies: Sequence[Any]) -> V2Response:
    """v2's ``{systems, next}`` body from the v4 pages fetched for this v2 page."""
    taken, cursor, _ = _walk(req, replies)
    iso = wants_iso8601(req)
    body: dict[str, Any] = {"systems": [v2_system(item, iso) for item in taken]}
    if cursor is not None:
        body["next"] = encode_next(cursor, filters(req).signature())
    return V2Response(body)


def v2_system(system: dict[str, Any], iso: bool = False) -> dict[str, Any]:
    """One v4 system in v2's field names, ``*_at`` in its own zone when ``iso``.

    v2 always listed its location, zone and connection type: null when v4 does not say.
    """
    address = system.get("address")
    address = address if isinstance(address, dict) else {}
    references = system.get("other_references")
    connection = system.get("connection_type")
    out = {
        "system_id": system["system_id"],
        "system_name": required(system, "name"),
        # v4 sends a public name only for public systems; v2 named the others so
        "system_public_name": system.get("public_name") or "Residential System",
        **_present({"reference": _text(system.get("reference"))}, ("reference",)),
        **_present(
            {"other_references": [r for r in references if isinstance(r, str)]}
            if isinstance(references, list)
            else {},
            ("other_references",),
        ),
        "status": v2_status(required(system, "status")),
        "timezone": system.get("timezone"),
        "country": _country(address.get("country")),
        **{key: _scalar_text(address.get(key)) for key in ADDRESS},
        "connection_type": connection if connection in CONNECTION_TYPES else None,
        "meta": v2_meta(system.get("meta"), system),
    }
    return render_datetimes(out, zone(system)) if iso else out


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _scalar_text(value: str | int | None) -> str | None:
    """v4's address part as v2's text (v4 may send a postal code as a number)."""
    return None if value is None else str(value)


def _country(value: str | None) -> str | None:
    """v2's ISO 3166-1 alpha-2 country; null when v4's is none (a name, an alpha-3 code)."""
    if value is None or len(value) != 2 or not (value.isascii() and value.isalpha()):
        return None
    return value.upper()


def _page_call(page: int, every: int | None = None) -> V4Call:
    return V4Call("/systems", query(page=page, size=PAGE_SIZE, sort_by="id"), every=every)


def list_page(number: int, every: int) -> V4Call:
    """Page ``number`` of the v4 list as the v2 route reads it, accepted ``every`` s old."""
    return _page_call(number, every)


def listed(system_id: int, pages: Sequence[Any]) -> bool | None:
    """Whether the v4 list ``pages`` (by increasing id, from page 1) hold ``system_id``; None
    while a further page may (at most MAX_PAGES * 10 pages are read)."""
    for number, body in enumerate(pages, start=1):
        ids = [row["system_id"] for row in _rows(body)]
        if system_id in ids:
            return True
        if _exhausted(body, number, len(ids)) or any(i > system_id for i in ids):
            return False
    return None if len(pages) < MAX_PAGES * 10 else False


def _cursor(req: V2Request) -> Cursor:
    return decode_next(req.get("next"), filters(req).signature())


def _walk(
    req: V2Request, replies: Sequence[Any]
) -> tuple[list[dict[str, Any]], Cursor | None, bool]:
    """The systems of this v2 page, where the next one starts, and whether the page is done."""
    size, wanted, start = limit(req), filters(req), _cursor(req)
    taken: list[dict[str, Any]] = []
    last = start.after
    for number, body in enumerate(replies):
        page = start.page + number
        rows = _rows(body)
        for index in range(_resume(rows, start) if number == 0 else 0, len(rows)):
            if len(taken) == size:
                return taken, Cursor(page, index, last), True
            last = rows[index].get("system_id")
            if wanted.matches(rows[index]):
                taken.append(rows[index])
        if _exhausted(body, page, len(rows)):
            return taken, None, True
    return taken, Cursor(start.page + len(replies), 0, last), len(taken) == size


def _resume(rows: list[dict[str, Any]], cursor: Cursor) -> int:
    """The index in the cursor's page where the v2 page starts, despite inserts before it."""
    ids = [row.get("system_id") for row in rows]
    offset = min(cursor.offset, len(ids))
    if cursor.after is None or (offset and ids[offset - 1] == cursor.after):
        return offset
    return ids.index(cursor.after) + 1 if cursor.after in ids else offset


def _rows(body: Any) -> list[dict[str, Any]]:
    systems = body.get("systems") if isinstance(body, dict) else None
    for row in systems or []:
        required(row, "system_id")
    return list(systems or [])


def _exhausted(body: Any, page: int, count: int) -> bool:
    total = body.get("total") if isinstance(body, dict) else None
    return count < PAGE_SIZE or (_is_int(total) and page * PAGE_SIZE >= total)


def _present(source: Any, keys: Sequence[str]) -> dict[str, Any]:
    source = source if isinstance(source, dict) else {}
    return {key: source[key] for key in keys if source.get(key) not in (None, "", [])}


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


RESPONSE = obj(
    {
        "systems": array(
            obj(
                {
                    "system_id": INTEGER,
                    "system_name": STRING,
                    "system_public_name": STRING,
                    "reference": STRING,
                    "other_references": array(STRING),
                    "country": nullable(STRING),
                    "state": nullable(STRING),
                    "city": nullable(STRING),
                    "postal_code": nullable(STRING),
                    "timezone": nullable(STRING),
                    "connection_type": nullable(ref("ConnectionType")),
                    "status": ref("Status"),
                    "meta": META,
                },
                (
                    "system_id",
                    "system_name",
                    "system_public_name",
                    "status",
                    "timezone",
                    "country",
                    "state",
                    "city",
                    "postal_code",
                    "connection_type",
                    "meta",
                ),
            )
        ),
        "next": {"type": "string", "description": "Opaque token for the next page."},
    },
    ("systems",),
)
ENDPOINT = Endpoint(
    ROUTE,
    plan,
    shape,
    "Systems",
    "Systems the user can access, paged with the opaque next token.",
    RESPONSE,
    parameters=(
        param("next", STRING, "The next token of the previous page."),
        param("limit", {"type": "integer", "default": 100, "maximum": 1000}, "Page size."),
        param("system_id", INTEGER, "Only this system (system_id[] for several)."),
        param(
            "system_name",
            STRING,
            "Only systems whose name contains this text, ignoring case (system_name[] too).",
        ),
        param("status", ref("Status"), "Only systems in this status (status[] too)."),
        param("reference", STRING, "Only systems with this reference (reference[] too)."),
        param(
            "installer",
            STRING,
            "Refused (422): Enphase API v4 does not tell a system's installer.",
        ),
        param(
            "connection_type",
            ref("ConnectionType"),
            "Only systems connected this way (connection_type[] too).",
        ),
    ),
    follow=follow,
)
