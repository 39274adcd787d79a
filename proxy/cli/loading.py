"""The configuration a command runs on: its default path, and loading it or exiting."""

from __future__ import annotations

import sys

from proxy.config import Config, ConfigError, load

DEFAULT_CONFIG = "config.example.toml"


def load_or_exit(path: str) -> Config:
    """The configuration at ``path``; prints every problem and exits 1 when it is not valid."""
    try:
        return load(path)
    except ConfigError as exc:
        print(f"configuration problems ({len(exc.problems)}):", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        raise SystemExit(1) from None
