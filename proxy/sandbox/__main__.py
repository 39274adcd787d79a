"""``python -m proxy.sandbox [--host H] [--port P]``: serve the sandbox."""

from __future__ import annotations

import argparse

from .server import serve


def main() -> None:
    """Parse the command line and serve."""
    parser = argparse.ArgumentParser(prog="python -m proxy.sandbox", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8091)
    args = parser.parse_args()
    serve(args.host, args.port)


if __name__ == "__main__":
    main()
