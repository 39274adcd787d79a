"""The enphase-proxy command line."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from proxy.cli.loading import DEFAULT_CONFIG, load_or_exit


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the proxy under gunicorn (and the embedded sandbox when configured)."""
    from proxy.observability import logs
    from proxy.serving import serve

    config = load_or_exit(args.config)
    logs.configure(config.server.log_level)
    overrides = {k: v for k in ("host", "port", "workers") if (v := getattr(args, k)) is not None}
    return serve(args.config, overrides, args.worker_class)


def cmd_sandbox(args: argparse.Namespace) -> int:
    """Run only the simulated Enphase v4 API."""
    from proxy.sandbox import serve

    print(
        f"sandbox: Enphase API v4 simulation on http://{args.host}:{args.port}/api/v4", flush=True
    )
    serve(args.host, args.port)
    return 0


def cmd_check_config(args: argparse.Namespace) -> int:
    """Validate a configuration file."""
    config = load_or_exit(args.path)
    upstream = "the real Enphase API" if config.upstream.is_enphase else config.upstream.api_root
    print(
        f"{args.path}: OK ({len(config.tenants)} tenant(s), {len(config.legacy_clients)} legacy "
        f"client(s), {len(config.team_clients)} team client(s); upstream {upstream})"
    )
    return 0


def parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    from proxy.cli import auth, init
    from proxy.cli import quota as quota_cli

    top = argparse.ArgumentParser(
        prog="enphase-proxy",
        description="Enphase API v2 compatibility proxy, OAuth token broker and quota-saving "
        "cache in front of Enphase API v4.",
    )
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the proxy (and the embedded sandbox if configured)")
    serve.add_argument("--config", default=DEFAULT_CONFIG, help="TOML configuration file")
    serve.add_argument("--host", help="listen address (overrides [server] host)")
    serve.add_argument("--port", type=int, help="listen port (overrides [server] port)")
    serve.add_argument("--workers", type=int, help="worker processes (overrides [server] workers)")
    serve.add_argument(
        "--worker-class",
        choices=("asgi",),
        default="asgi",
        help="gunicorn worker: gunicorn's native asgi (the only one that bounds request heads)",
    )
    serve.set_defaults(func=cmd_serve)

    sandbox = sub.add_parser("sandbox", help="run only the simulated Enphase v4 API")
    sandbox.add_argument("--host", default="127.0.0.1", help="listen address")
    sandbox.add_argument("--port", type=int, default=8091, help="listen port")
    sandbox.set_defaults(func=cmd_sandbox)

    check = sub.add_parser("check-config", help="validate a configuration; exit 1 on problems")
    check.add_argument("path", help="TOML configuration file")
    check.set_defaults(func=cmd_check_config)

    auth.register(sub)
    init.register(sub)
    quota_cli.register(sub)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``enphase-proxy`` command."""
    args = parser().parse_args(argv)
    try:
        status: int = args.func(args)
        return status
    except KeyboardInterrupt:
        return 130
