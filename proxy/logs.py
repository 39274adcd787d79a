"""JSON log lines on stderr; only whitelisted fields are ever written."""

from __future__ import annotations

import json
import logging
import sys
import time

FIELDS = (
    "request_id",
    "method",
    "path",
    "route",
    "status",
    "duration_ms",
    "tenant",
    "client",
    "endpoint",
    "cache",
)


class JsonFormatter(logging.Formatter):
    """One JSON object per record with the message and known context fields."""

    second = -1
    stamp = ""

    def format(self, record: logging.LogRecord) -> str:
        """The record as a JSON line."""
        second = int(record.created)
        if second != self.second:
            self.second = second
            self.stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        line = {
            "ts": f"{self.stamp}.{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        context = record.__dict__
        line.update({f: context[f] for f in FIELDS if context.get(f) is not None})
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def configure(level: str = "info") -> None:
    """Send every log record to stderr as JSON at ``level``."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("httpx").setLevel(logging.WARNING)
