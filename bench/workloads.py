"""A month of the harder Watt workloads of issue 20, through the proxy's own v2 routes.

Run from the checkout: python -m bench.workloads [shared_app|wrong_id|scanner ...]

Each workload runs June 2026 (30 days) on a virtual clock with the sandbox and the proxy in
one process (``proxy.simulation``). Unlike ``bench.month``, every request goes through the
proxy's HTTP routes, so each legacy client is told apart by its key (its own share of past
data) and a refused system id is remembered. All run on the sandbox's Watt app (10 calls a
minute, 1,000 a month, counted per app as Enphase counts them), with a dashboard on system
1001 (summary every 5 minutes, today's stats every 15) and:

- ``shared_app``: a second tenant (the fleet user) on the same app with the same dashboard
  on system 3000;
- ``wrong_id``: a client polling a system id the tenant does not have every 5 minutes;
- ``scanner``: on day 10, a script asking 100 distinct past days back to back, and on every
  later day a second client asking for one more past day.

Prints, per workload: upstream calls against the app's month limit, the 429s the sandbox
answered, and for each group of clients its answers by status (every 409, first answers
included) and its served age p50/max.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import sys
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench.month import DAY, START, percentile, run_timers, settle
from bench.support import machine
from proxy.clock import VirtualClock
from proxy.config import parse
from proxy.sandbox import SandboxSettings, sandbox_state
from proxy.sandbox.demo import WATT_APP, config_text, with_fleet_tenant
from proxy.simulation import SANDBOX_URL, in_process

DEMO = "key=demo-v2-key&user_id=demo-user"
FLEET = "key=demo-v2-key&user_id=fleet-user"
SCRIPT = "key=script-v2-key&user_id=demo-user"
SCRIPT_CLIENT = '\n[[legacy_clients]]\nname = "script"\nkey = "script-v2-key"\ntenants = ["demo"]\n'


@dataclass(frozen=True)
class Asks:
    """A group of clients: ``url(at)`` asked every ``every`` s from ``first`` (``count`` times;
    0: until the month ends)."""

    group: str
    url: Callable[[int], str]
    every: int
    first: int = 0
    count: int = 0


@dataclass
class Tally:
    """What one group of clients got."""

    statuses: Counter[int] = field(default_factory=Counter)
    ages: list[int] = field(default_factory=list)


def dashboard(group: str, system: int, auth: str) -> list[Asks]:
    """A dashboard: summary every 5 minutes, today's stats every 15."""
    return [
        Asks(group, lambda _: f"/api/v2/systems/{system}/summary?{auth}", 300),
        Asks(group, lambda _: f"/api/v2/systems/{system}/stats?{auth}", 900, 60),
    ]


def past_day(auth: str, days_back: int) -> str:
    """The v2 stats of the UTC day ``days_back`` before the month starts, of system 1001."""
    start = START - days_back * DAY
    return f"/api/v2/systems/1001/stats?{auth}&start_at={start}&end_at={start + DAY}"


def shared_app() -> tuple[str, list[Asks]]:
    """Two tenants, each a dashboard, on one Watt app."""
    text = with_fleet_tenant(config_text(SANDBOX_URL, Path("var"), **WATT_APP))
    return text, dashboard("demo dashboard", 1001, DEMO) + dashboard("fleet dashboard", 3000, FLEET)


def wrong_id() -> tuple[str, list[Asks]]:
    """A dashboard and a client polling a foreign system id every 5 minutes."""
    wrong = Asks("wrong-id poller", lambda _: f"/api/v2/systems/9999/summary?{DEMO}", 300)
    return config_text(SANDBOX_URL, Path("var"), **WATT_APP), [
        *dashboard("dashboard", 1001, DEMO),
        wrong,
    ]


def scanner() -> tuple[str, list[Asks]]:
    """A dashboard, a script asking 100 past days at once on day 10, a daily past-day reader."""
    scan = Asks("scanner", lambda n: past_day(SCRIPT, 1 + n), 1, 10 * DAY, 100)
    daily = Asks("past-day reader", lambda n: past_day(DEMO, 200 + n), DAY, 11 * DAY + 3600)
    text = config_text(SANDBOX_URL, Path("var"), SCRIPT_CLIENT, **WATT_APP)
    return text, [*dashboard("dashboard", 1001, DEMO), scan, daily]


WORKLOADS = {"shared_app": shared_app, "wrong_id": wrong_id, "scanner": scanner}


async def month(
    text: str,
    asks: list[Asks],
    days: int = 30,  # June, the month START opens
) -> tuple[dict[str, Tally], int, int]:
    """A month (or ``days``) of ``asks``: each group's tally, the upstream calls and the
    sandbox's 429s."""
    clock = VirtualClock(START)
    tallies = {a.group: Tally() for a in asks}
    with tempfile.TemporaryDirectory(prefix="enphase-workloads-") as work:
        config = parse(text.replace('"var"', f'"{work}"'), f"{work}/proxy.toml")
        async with in_process(config, SandboxSettings(clock=clock), clock=clock) as stack:
            queue = [(START + a.first, i, 0) for i, a in enumerate(asks)]
            heapq.heapify(queue)
            while queue and queue[0][0] < START + days * DAY:
                at, index, n = heapq.heappop(queue)
                ask = asks[index]
                if ask.count == 0 or n + 1 < ask.count:
                    heapq.heappush(queue, (at + ask.every, index, n + 1))
                await run_timers(clock, at)
                clock.set(max(clock.now(), at))
                reply = await stack.proxy.get(ask.url(n))
                tally = tallies[ask.group]
                tally.statuses[reply.status_code] += 1
                if reply.status_code == 200:
                    tally.ages.append(int(reply.headers.get("Age", 0)))
                await settle()
            stats = sandbox_state(stack.sandbox).stats
            return tallies, stats.api_calls, stats.rate_limited


def report(name: str, tallies: dict[str, Tally], calls: int, refused: int) -> None:
    """Print one line per figure."""
    print(f"{name}: upstream calls: {calls} of the app's 1000; sandbox 429s: {refused}")
    for group, tally in tallies.items():
        statuses = ", ".join(f"{s}: {n}" for s, n in sorted(tally.statuses.items()))
        ages = tally.ages
        print(
            f"{name}: {group}: answers {statuses}; served age p50/max:"
            f" {percentile(ages, 0.5)}/{max(ages, default=0)} s"
        )


def main() -> None:
    """Run the named workloads (all by default) and print their figures."""
    logging.disable(logging.WARNING)  # refused background refreshes are expected, not news
    names = [a for a in sys.argv[1:] if a in WORKLOADS] or list(WORKLOADS)
    print(f"machine: {machine()}")
    for name in names:
        report(name, *asyncio.run(month(*WORKLOADS[name]())))


if __name__ == "__main__":
    main()
