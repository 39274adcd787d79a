"""Services are handed to the routes by the composition root, and a simulation runs on one clock."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from proxy.clock import VirtualClock
from proxy.console.routes import COOKIE
from proxy.console.sessions import SESSION_SECONDS
from proxy.sandbox import SandboxSettings
from proxy.simulation import SANDBOX_URL, in_process
from tests import support

ROOT = Path(__file__).resolve().parent.parent
NOW = 1_780_272_000  # 2026-06-01 00:00 UTC, months away from the wall clock
# request.app.state, scope["app"].state, app.state: services looked up instead of handed in
STATE_LOOKUP = re.compile(r"""\bapp("\])?\.state\b""")


def test_no_module_but_the_composition_root_reads_the_app_state() -> None:
    # The sandbox is its own application, with its own composition root.
    readers = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "proxy").rglob("*.py")
        if path != ROOT / "proxy" / "app.py"
        and "sandbox" not in path.parts
        and STATE_LOOKUP.search(path.read_text())
    ]
    assert readers == []


def test_a_simulated_console_session_lives_on_the_virtual_clock(tmp_path: Path) -> None:
    asyncio.run(console_session(tmp_path))


async def console_session(tmp_path: Path) -> None:
    """Sign in to a simulated proxy's console, then let the virtual clock end the session."""
    clock = VirtualClock(NOW)
    config = support.proxy_config(SANDBOX_URL, tmp_path)
    assert config.server.admin_key
    async with in_process(config, SandboxSettings(clock=clock), clock=clock) as stack:
        login = await stack.proxy.post("/console/login", data={"key": config.server.admin_key})
        assert login.status_code == 303
        expires = int(login.cookies[COOKIE].partition(".")[0])
        assert expires == NOW + SESSION_SECONDS
        assert (await stack.proxy.get("/console/api/state")).status_code == 200  # cookie kept
        clock.advance(SESSION_SECONDS + 1)
        assert (await stack.proxy.get("/console/api/state")).status_code == 401
