"""Where a key of a TOML document is written: its line, found with tomlkit's document model."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import tomlkit
from tomlkit.exceptions import TOMLKitError
from tomlkit.items import AoT

_MARK = "\x00"


def line_of(text: str, loc: Sequence[str | int]) -> int | None:
    """The line of the deepest item of ``loc`` (keys and array indexes) that ``text`` has.

    Parts that are not in the document (a missing key, a name the model made up) are skipped,
    so a missing key is reported at its table's header.
    """
    try:
        document = tomlkit.parse(text)
    except TOMLKitError:
        return None
    node: Any = document
    found = None
    for part in loc:
        child = _child(node, part)
        if child is not None:
            found = node = child
    if found is None:
        return None
    found.trivia.indent = _MARK + found.trivia.indent  # rendered first on the item's line
    rendered = document.as_string()
    position = rendered.find(_MARK)
    return rendered.count("\n", 0, position) + 1 if position >= 0 else None


def _child(node: Any, part: str | int) -> Any:
    """The item (with its trivia) under ``part``, or None."""
    try:
        if isinstance(part, int):
            item = node[part] if isinstance(node, AoT) else None
        else:
            item = node.item(part) if hasattr(node, "item") else None
    except (KeyError, IndexError, TOMLKitError):
        return None
    return item if hasattr(item, "trivia") else None
