"""Readers of v4 bodies shared by the mappings: a value v2 requires and v4 did not send fails.

The bodies reaching a mapping have v4's types item by item (``proxy.v4.shapes`` refuses the
others as upstream failures), but v4 declares every member optional: a member v2 requires that
v4 left out makes the answer an upstream failure (v2 503), never a 0 or "" in its place.
"""

from __future__ import annotations

from typing import Any

from mappings.base import V2Error
from mappings.errors import unavailable

RETRY = 300  # seconds: when v4 may have sent the data by then


def missing(what: str) -> V2Error:
    """The v2 503 for data v4 did not send."""
    return unavailable(f"Enphase did not send the {what}; try again later.", RETRY)


def required(container: Any, key: str) -> Any:
    """``container[key]``; v2 503 when v4 left it out."""
    value = container.get(key) if isinstance(container, dict) else None
    if value is None:
        raise missing(key)
    return value


def records(container: Any, key: str) -> list[dict[str, Any]]:
    """The objects listed under ``key`` in a v4 body (none when v4 lists none)."""
    items = container.get(key) if isinstance(container, dict) else None
    return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []
