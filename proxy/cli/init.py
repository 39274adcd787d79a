"""``enphase-proxy init``: a configuration for your own Enphase v4 app, its OAuth login
completed and proven by one v4 call, and how to point legacy v2 clients at the proxy.

Interactive by default (prompts for what no flag gives); every answer has a flag for scripts.
Secrets (API key, client secret) are read from the environment or a hidden prompt and written
as ``*_env`` references, never in clear unless ``--write-secrets``; the legacy client's key is
generated (or read from the environment) and stored as its sha256 only.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import hashlib
import os
import secrets
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx2
import tomlkit

from proxy.cli.auth import authorize_url, code_of
from proxy.clock import SYSTEM
from proxy.config import PLAN_LIMITS, Config, ConfigError, UpstreamSettings, load
from proxy.tokens import PendingLogins, TokenBroker, TokenError

REDIRECT_WAIT = 600.0  # seconds the login waits for the browser to come back
ENPHASE_V2 = "https://api.enphaseenergy.com/api/v2"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``init`` to the command line."""
    about = "write a configuration for your Enphase v4 app, log in and prove it with a v4 call"
    init = subparsers.add_parser("init", help=about, description=about)
    add = init.add_argument
    add("--config", default="enphase-proxy.toml", metavar="PATH", help="the file to write")
    add("--force", action="store_true", help="overwrite an existing file")
    add("--tenant", default="home", help="a name for this authorization (default: home)")
    add("--client-id", help="the app's client id (developer portal)")
    add("--plan", choices=sorted(PLAN_LIMITS), help="the app's plan")
    add("--user-id", help="the user_id your legacy v2 clients send")
    add("--port", type=int, default=8080, help="the port the proxy will listen on")
    add("--redirect-uri", help="the app's redirect URI (default: the proxy's /oauth/callback)")
    add("--api-key-env", default="ENPHASE_API_KEY", metavar="VAR", help="holds the API key")
    add("--client-secret-env", default="ENPHASE_CLIENT_SECRET", metavar="VAR")
    add("--legacy-key-env", default="ENPHASE_PROXY_LEGACY_KEY", metavar="VAR",
        help="the key legacy clients will send (generated when unset)")  # fmt: skip
    add("--write-secrets", action="store_true", help="write the secrets in clear (mode 0600)")
    add("--code", help="the authorization code (else the redirect is awaited or pasted)")
    upstream = UpstreamSettings()
    add("--api-root", default=upstream.api_root, help=argparse.SUPPRESS)  # a stand-in's URLs
    add("--token-url", default=upstream.token_url, help=argparse.SUPPRESS)
    add("--authorize-url", default=upstream.authorize_url, help=argparse.SUPPRESS)
    init.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Write the configuration, log in, prove it, print the next steps."""
    path = Path(args.config)
    if path.exists() and not args.force:
        print(f"{path} exists: choose another --config or add --force", file=sys.stderr)
        return 2
    try:
        answers = Answers.gather(args)
        path.write_text(answers.toml(args))
        path.chmod(0o600 if args.write_secrets else 0o644)
        config = load(path, answers.env())
        return asyncio.run(login_and_prove(config, args, answers))
    except (MissingAnswer, ConfigError, TokenError, OSError) as exc:
        print(exc, file=sys.stderr)
        return 1
    except (EOFError, KeyboardInterrupt):
        print("cancelled", file=sys.stderr)
        return 1


class MissingAnswer(Exception):
    """A value no flag gave and no terminal can be asked for."""


def ask(value: str | None, question: str, default: str | None = None, hidden: bool = False) -> str:
    """``value``, else the answer to ``question`` on the terminal (``default`` when empty)."""
    if value:
        return value
    if not sys.stdin.isatty():
        if default is not None:
            return default
        raise MissingAnswer(f"{question}: give it as a flag or in the environment")
    prompt = f"{question}{f' [{default}]' if default else ''}: "
    answer = getpass.getpass(prompt) if hidden else input(prompt)
    return answer.strip() or default or ask(None, question, default, hidden)


class Answers:
    """What the configuration needs: the app's values and its secrets."""

    def __init__(self, values: dict[str, str], secret: dict[str, str], legacy_key: str) -> None:
        self.values = values
        self.secret = secret  # environment variable -> value
        self.legacy_key = legacy_key

    @classmethod
    def gather(cls, args: argparse.Namespace) -> Answers:
        """From the flags, the environment and the terminal."""
        values = {
            "client_id": ask(args.client_id, "Client ID of your app (developer portal)"),
            "plan": ask(args.plan, f"Plan ({' | '.join(sorted(PLAN_LIMITS))})", "watt"),
            "user_id": ask(args.user_id, "user_id your legacy clients send", "me"),
        }
        secret = {
            args.api_key_env: ask(os.environ.get(args.api_key_env), "API key", hidden=True),
            args.client_secret_env: ask(
                os.environ.get(args.client_secret_env), "Client secret", hidden=True
            ),
        }
        legacy_key = os.environ.get(args.legacy_key_env) or secrets.token_urlsafe(24)
        return cls(values, secret, legacy_key)

    def env(self) -> dict[str, str]:
        """The process environment with the secrets it may lack."""
        return {**os.environ, **self.secret}

    def toml(self, args: argparse.Namespace) -> str:
        """The configuration file."""
        api_key, client_secret = args.api_key_env, args.client_secret_env
        tenant: dict[str, Any] = {
            "name": args.tenant,
            "user_ids": [self.values["user_id"]],
            "client_id": self.values["client_id"],
            "plan": self.values["plan"].lower(),
            "grant": "authorization_code",
            "redirect_uri": args.redirect_uri or f"http://127.0.0.1:{args.port}/oauth/callback",
        }
        if args.write_secrets:
            tenant.update(api_key=self.secret[api_key], client_secret=self.secret[client_secret])
        else:
            tenant.update(api_key_env=api_key, client_secret_env=client_secret)
        digest = hashlib.sha256(self.legacy_key.encode()).hexdigest()
        document = {
            "server": {"host": "127.0.0.1", "port": args.port, "data_dir": "var"},
            "upstream": {
                "api_root": args.api_root,
                "token_url": args.token_url,
                "authorize_url": args.authorize_url,
            },
            "tenants": [tenant],
            "legacy_clients": [{"name": "legacy", "key_sha256": digest, "tenants": [args.tenant]}],
        }
        head = "# Written by `enphase-proxy init`; check it with `enphase-proxy check-config`.\n"
        return head + tomlkit.dumps(document)


async def login_and_prove(config: Config, args: argparse.Namespace, answers: Answers) -> int:
    """Complete the OAuth login, make one v4 call, print how legacy clients use the proxy."""
    tenant = config.tenants[args.tenant]
    broker = TokenBroker(config, detached=False)
    try:
        pending = PendingLogins(config, broker.clock)
        state = await pending.begin(tenant.name)
        print("Open this URL, sign in to Enlighten and approve access:", flush=True)
        print(f"  {authorize_url(config, tenant, state)}", flush=True)
        code = args.code or await asyncio.to_thread(come_back, tenant.redirect_uri, state)
        await pending.claim(state)
        await broker.authorize(tenant.name, code)
        token = await broker.access_token(tenant.name)
    finally:
        await broker.close()
    async with httpx2.AsyncClient(timeout=config.upstream.timeout) as client:
        reply = await client.get(
            f"{config.upstream.api_root}/systems",
            params={"key": tenant.api_key},
            headers={"Authorization": f"Bearer {token}"},
        )
    if reply.status_code != 200:
        print(f"the v4 call answered {reply.status_code}: {reply.text[:200]}", file=sys.stderr)
        return 1
    systems = [str(system.get("system_id")) for system in reply.json().get("systems", [])]
    print(f"Logged in: the v4 API lists {len(systems)} system(s): {', '.join(systems)}")
    print(next_steps(config, args, answers, systems))
    return 0


def come_back(redirect_uri: str, state: str) -> str:
    """The code of the browser's redirect to a loopback ``redirect_uri``, else a pasted one."""
    parts = urlsplit(redirect_uri)
    found: dict[str, str] = {}

    class Callback(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            """Take the code of this login's redirect."""
            query = parse_qs(urlsplit(self.path).query)
            if query.get("state") == [state] and query.get("code"):
                found["code"] = query["code"][0]
            body = b"enphase-proxy: authorized, you can close this window.\n"
            self.send_response(200 if found else 400)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.wfile.write(body if found else b"enphase-proxy: not this login's redirect.\n")

        def log_message(self, *args: Any) -> None:  # the request line holds the code
            pass

    try:
        listener = HTTPServer((parts.hostname or "127.0.0.1", parts.port or 80), Callback)
    except OSError:  # not this machine's, or taken (a running proxy completes it instead)
        print("Paste the code (or the whole address the browser was sent to).", flush=True)
        return code_of(ask(None, "code"))
    print(f"Waiting for the browser to come back to {redirect_uri} ...", flush=True)
    with listener:
        listener.timeout = 1.0
        deadline = SYSTEM.monotonic() + REDIRECT_WAIT
        while "code" not in found:
            if SYSTEM.monotonic() > deadline:
                raise MissingAnswer("no redirect came back: run init again, or give --code")
            listener.handle_request()
    return found["code"]


def next_steps(
    config: Config, args: argparse.Namespace, answers: Answers, systems: list[str]
) -> str:
    """How to run the proxy and point legacy clients at it."""
    base = f"http://{config.server.host}:{config.server.port}/api/v2"
    env = "" if args.write_secrets else " ".join(f"{name}=..." for name in answers.secret) + " "
    system = systems[0] if systems else "SYSTEM_ID"
    key, user = answers.legacy_key, answers.values["user_id"]
    generated = args.legacy_key_env not in os.environ
    lines = [
        f"Configuration written to {args.config}"
        + ("" if args.write_secrets else f" (secrets read from {', '.join(answers.secret)})."),
        f"Run the proxy:  {env}enphase-proxy serve --config {args.config}",
        f"Point each legacy v2 client at {base} in place of {ENPHASE_V2}, with",
        f"  key = {key}"
        + ("   (generated: keep it, only its sha256 is stored)" if generated else ""),
        f"  user_id = {user}",
        f"  e.g. curl '{base}/systems/{system}/summary?key={key}&user_id={user}'",
    ]
    return "\n".join(lines)
