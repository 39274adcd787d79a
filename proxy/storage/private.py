"""``data_dir`` kept private: created 0700, files in it 0600, looser modes reported at start.

Tokens, cached replies, quota counts, the console's history and the audit log all live there;
no other local user should read them.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

UMASK = 0o077  # new directories 0700, new files 0600
SHOWN = 5  # looser paths named in the warning

log = logging.getLogger("proxy.serve")


def make_private(path: Path) -> None:
    """Restrict this process (and what it starts) to private files; create ``path`` 0700."""
    os.umask(UMASK)
    path.mkdir(mode=0o700, parents=True, exist_ok=True)


def looser(path: Path) -> list[Path]:
    """``path`` and everything below it that group or others may use."""
    found = [path] if path.stat().st_mode & 0o077 else []
    for root, dirs, files in os.walk(path):
        for name in (*dirs, *files):
            entry = Path(root, name)
            if entry.lstat().st_mode & 0o077 and not entry.is_symlink():
                found.append(entry)
    return found


def warn_if_looser(path: Path) -> None:
    """Log a warning naming what in ``path`` others may read, and how to fix it."""
    found = looser(path)
    if found:
        names = ", ".join(str(p) for p in found[:SHOWN]) + (" ..." if len(found) > SHOWN else "")
        log.warning(
            "data_dir is readable by other users (%d entries: %s); run: chmod -R go-rwx %s",
            len(found),
            names,
            path,
        )
