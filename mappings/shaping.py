"""Tolerant readers of v4 bodies shared by the mappings: a malformed reply never makes a 500."""

from __future__ import annotations

import math
from typing import Any


def whole(value: Any) -> int:
    """A v4 number as the integer v2 reported; anything else (null, text) counts as 0."""
    if type(value) is int:
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0
    return int(value) if math.isfinite(value) else 0


def records(container: Any, key: str) -> list[dict[str, Any]]:
    """The objects listed under ``key`` in a v4 body (none when absent or malformed)."""
    items = container.get(key) if isinstance(container, dict) else None
    return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []
