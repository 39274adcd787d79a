"""The audit log: a JSON line per write a team client tries, in ``data_dir``, rotated by size."""

from __future__ import annotations

import functools
import json
import logging
from logging.handlers import RotatingFileHandler
from typing import Any

from proxy.config import Config

NAME = "audit.log"


@functools.cache
def _handler(path: str, max_bytes: int, backups: int) -> RotatingFileHandler:
    """The one handler of this process for the audit log at ``path``."""
    handler = RotatingFileHandler(
        path, maxBytes=max_bytes, backupCount=backups, encoding="utf-8", delay=True
    )
    handler.setFormatter(logging.Formatter("%(message)s"))
    return handler


def write(config: Config, record: dict[str, Any]) -> None:
    """Append ``record`` as a JSON line; past ``audit_log_max_bytes`` the log is rotated."""
    path = config.data_path(NAME)
    path.parent.mkdir(parents=True, exist_ok=True)
    s = config.server
    handler = _handler(str(path), s.audit_log_max_bytes, s.audit_log_backups)
    handler.handle(logging.makeLogRecord({"msg": json.dumps(record), "levelno": logging.INFO}))
