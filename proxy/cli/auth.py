"""``enphase-proxy auth ...``: authorize tenants, import tokens and show their state."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime
from urllib.parse import parse_qs, urlencode, urlsplit

from proxy.cli.loading import DEFAULT_CONFIG
from proxy.config import Config, ConfigError, Tenant, load
from proxy.tokens import PendingLogins, State, TokenBroker, TokenError, hint, jwt_claims

ACCESS_ENV = "ENPHASE_ACCESS_TOKEN"
REFRESH_ENV = "ENPHASE_REFRESH_TOKEN"

Command = Callable[[Config, TokenBroker, argparse.Namespace], Awaitable[int]]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``auth`` and its subcommands to the command line."""
    auth = subparsers.add_parser("auth", help="authorize tenants and inspect their OAuth tokens")
    commands = auth.add_subparsers(dest="auth_command", required=True, metavar="COMMAND")
    login = _command(commands, "login", _login, "authorize a tenant in the browser (code grant)")
    login.add_argument("--code", help="the code from the redirect (prompted for when absent)")
    _command(commands, "password", _password, "authorize a tenant with its Enlighten password")
    _command(commands, "status", _status, "show every tenant's token state", tenant=False)
    imported = _command(commands, "import", _import, "store tokens obtained elsewhere")
    imported.epilog = (
        f"The tokens are read from {ACCESS_ENV} / {REFRESH_ENV} or prompted for, never flags. "
        "The expiry defaults to the access token's exp claim."
    )
    expiry = imported.add_mutually_exclusive_group()
    expiry.add_argument(
        "--expires-at", type=_timestamp, help="access token expiry: epoch seconds or ISO 8601"
    )
    expiry.add_argument("--expires-in", type=int, help="access token lifetime left, in seconds")


def authorize_url(config: Config, tenant: Tenant, state: str) -> str:
    """The v4 authorize URL a homeowner opens to approve ``tenant``'s app, for login ``state``."""
    query = {
        "response_type": "code",
        "client_id": tenant.client_id,
        "redirect_uri": tenant.redirect_uri,
        "state": state,
    }
    return f"{config.upstream.authorize_url}?{urlencode(query)}"


def _command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    run: Command,
    help: str,
    tenant: bool = True,
) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = commands.add_parser(name, help=help, description=help)
    parser.add_argument("--config", default=DEFAULT_CONFIG, metavar="PATH")
    if tenant:
        parser.add_argument("--tenant", required=True, metavar="NAME")
    parser.set_defaults(func=lambda args: _main(args, run))
    return parser


def _main(args: argparse.Namespace, run: Command) -> int:
    """Load the configuration and run one command; problems become messages and exit codes."""
    try:
        config = load(args.config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    if getattr(args, "tenant", None) not in (None, *config.tenants):
        print(f"no tenant named {args.tenant!r} in {args.config}", file=sys.stderr)
        return 2
    try:
        return asyncio.run(_with_broker(config, args, run))
    except TokenError as exc:
        print(exc, file=sys.stderr)
        return 1
    except (EOFError, KeyboardInterrupt):
        print("cancelled", file=sys.stderr)
        return 1


async def _with_broker(config: Config, args: argparse.Namespace, run: Command) -> int:
    broker = TokenBroker(config, detached=False)
    try:
        return await run(config, broker, args)
    finally:
        await broker.close()


async def _login(config: Config, broker: TokenBroker, args: argparse.Namespace) -> int:
    tenant = config.tenants[args.tenant]
    pending = PendingLogins(config, broker.clock)
    state = await pending.begin(tenant.name)
    print("Open this URL, sign in to Enlighten and approve access:")
    print(f"  {authorize_url(config, tenant, state)}")
    print(f"If the proxy is running and reachable at {tenant.redirect_uri},")
    print("its /oauth/callback completes the authorization by itself.")
    code = args.code
    if not code:
        print("Otherwise paste the code (or the whole address the browser was sent to).")
        code = code_of(input("code: "))
    await pending.claim(state)  # completed here: the callback can no longer use it
    await broker.authorize(tenant.name, code)
    print(f"tenant {tenant.name}: authorized")
    return 0


async def _password(config: Config, broker: TokenBroker, args: argparse.Namespace) -> int:
    tenant = config.tenants[args.tenant]
    if not tenant.username:
        print(f"tenant {tenant.name}: set username in the configuration", file=sys.stderr)
        return 2
    password = tenant.password or getpass.getpass(f"Enlighten password for {tenant.username}: ")
    await broker.login_password(tenant.name, password)
    print(f"tenant {tenant.name}: authorized with the password grant")
    return 0


async def _status(config: Config, broker: TokenBroker, args: argparse.Namespace) -> int:
    statuses = await broker.status()
    width = max((len(s.tenant) for s in statuses), default=0)
    for status in statuses:
        print(f"{status.tenant:<{width}}  {status.state:<21}  {status.detail}")
    bad = {State.MISSING, State.NEEDS_REAUTHORIZATION}
    return 1 if any(s.state in bad for s in statuses) else 0


async def _import(config: Config, broker: TokenBroker, args: argparse.Namespace) -> int:
    tenant = config.tenants[args.tenant]
    if ACCESS_ENV in os.environ:
        access, refresh = os.environ[ACCESS_ENV], os.environ.get(REFRESH_ENV, "")
    else:
        access = getpass.getpass("access token: ")
        refresh = getpass.getpass("refresh token (empty for none): ")
    expires_at = _expiry(args, access.strip(), broker.clock.now())
    if not access.strip() or expires_at is None:
        problem = "an access token" if not access.strip() else "--expires-at or --expires-in"
        print(f"tenant {args.tenant}: import needs {problem}", file=sys.stderr)
        return 2
    await broker.import_tokens(args.tenant, access.strip(), refresh.strip() or None, expires_at)
    until = datetime.fromtimestamp(expires_at).astimezone().isoformat(timespec="seconds")
    print(f"tenant {args.tenant}: tokens imported; the access token expires {until}")
    if not refresh.strip():
        print(f"without a refresh token it is served until then; afterwards {hint(tenant)}")
    return 0


def code_of(text: str) -> str:
    """The authorization code from a pasted code or redirected URL."""
    text = text.strip()
    if "code=" in text:
        return parse_qs(urlsplit(text).query or text).get("code", [""])[0]
    return text


def _timestamp(value: str) -> int:
    """Epoch seconds from epoch digits or an ISO 8601 time (argparse type)."""
    try:
        if value.isascii() and value.isdigit():
            return int(value)
        return int(datetime.fromisoformat(value).timestamp())
    except ValueError:
        raise argparse.ArgumentTypeError(f"not epoch seconds or ISO 8601: {value!r}") from None


def _expiry(args: argparse.Namespace, access_token: str, now: float) -> int | None:
    """Expiry from the flags (``--expires-in`` counts from ``now``), else the JWT ``exp`` claim."""
    if args.expires_in is not None:
        return int(now) + int(args.expires_in)
    if args.expires_at is not None:
        return int(args.expires_at)
    try:
        return int(jwt_claims(access_token)["exp"])
    except (ValueError, KeyError, TypeError):
        return None
