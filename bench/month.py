"""A calendar month of legacy traffic on a v4 plan, with and without budget pacing.

Run from the checkout:
python -m bench.month [--full] [--jobs N] [--month june|december|both] [WORKLOAD ...]

Each workload runs a calendar month of 2026 (June by default, or December) on a virtual clock
with the sandbox (each system uploading at its own phase, cellular ones every 3 to 6 hours) and
the proxy in one process (``proxy.simulation``); legacy requests go straight to the v2 runner
(``proxy.v2.runner.answer``), as the v2 routes call it. The tenant has the plan's limits: its
month limit and its minute limit (10 calls for Watt and Kilowatt, 100 for Megawatt). Prints
one line per figure:

- upstream calls against the plan's month limit (final data and live data apart): only calls
  that reached the upstream count;
- every 409 served (first answers included), those for a request after its first answer
  (goal 0), and 409s for the minute limit;
- age of the data served (Age of every 200 of the polling clients) p50/p95/max, and the same
  for the answers served while the sun was up at the system;
- wasted refreshes: refreshes of a live key whose reply held nothing the previous one did not;
- the achieved refresh interval of live keys as a ratio to the budget-implied minimum
  (month length x live keys in demand / budget left after final data);
- with pacing off: the same, and the day the budget ran out.

Workloads beyond the three plans: ``cron`` (Kilowatt's fleet polled by clients all started at
the same second, as a cron fleet is), ``second-dashboard`` (Watt with a second dashboard on
another system from day 20) and ``restart`` (Watt on the file cache and quota store, the proxy
restarted mid-month).

Each run (a workload, paced or not) is a process of its own, ``--jobs`` at a time (default:
one per core). Without ``--full`` the Kilowatt and Megawatt fleets run at a tenth and a
fiftieth of their size, with the month limit scaled alike (the same calls per system; pacing
depends only on that ratio), in a few minutes; ``--full`` runs the whole fleets (2.2 million
legacy requests, 700,000 upstream calls). The scale is printed with the figures.
"""

from __future__ import annotations

import asyncio
import calendar
import datetime as dt
import hashlib
import heapq
import itertools
import logging
import math
import os
import re
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import httpx2
import orjson

from bench.support import machine
from mappings.base import Endpoint
from mappings.registry import ENDPOINTS
from proxy.cache import freshness
from proxy.clock import Clock, VirtualClock
from proxy.config import PLAN_LIMITS, Cache, Config, parse
from proxy.http.renderers import v2 as v2_error
from proxy.quota import LEGACY_CLIENT
from proxy.sandbox import DEMO, SandboxSettings, sandbox_state
from proxy.sandbox import create_app as create_sandbox
from proxy.sandbox.settings import FLEET_SYSTEM_IDS
from proxy.sandbox.systems import System, build_systems
from proxy.simulation import SANDBOX_URL, in_process
from proxy.upstream import Call, Taps, call_of
from proxy.v2 import runner as legacy

START = 1_780_272_000  # 2026-06-01 00:00 UTC
DECEMBER = 1_796_083_200  # 2026-12-01 00:00 UTC
MONTHS = {"june": START, "december": DECEMBER}
DAY = 86_400
HOUR = 3600
DEMAND_WINDOW = HOUR  # a key asked in the last hour counts as in demand (as the pacer counts)

MINUTE_REFUSAL = b'"period":"minute"'  # in the v2 409 body for the plan's minute limit
Url = Callable[[float], str]  # the v2 path and query a client asks at a moment


@dataclass(frozen=True)
class Poll:
    """One client asking ``url`` every ``every`` seconds from ``offset`` (``once``: one time;
    ``retries``: asking again after a 409's ``Retry-After``, as a script does, until answered;
    ``script``: one of a script's requests, asked in order, each once the one before is done)."""

    url: Url
    every: int
    offset: int = 0
    once: bool = False
    counted: bool = True  # its answers count in the served-age figures
    client: str = "dashboard"  # the legacy client (v2 key) asking
    retries: bool = False
    script: bool = False
    # offsets are from the month's start; ``fixed`` URLs ignore it


BACKFILL = "backfill"  # the legacy client whose 409s beyond its share of past data are expected


@dataclass(frozen=True)
class Workload:
    """A plan, its month limit and the clients polling through the proxy.

    The minute limit is always the plan's own (``PLAN_LIMITS``).
    """

    name: str
    plan: str
    per_month: int
    fleet: bool
    polls: list[Poll]
    scale: str = "full size"
    start: float = START  # the month's first second (UTC)
    restart: bool = False  # the proxy restarts mid-month on its file cache and quota store
    days: int | None = None  # only the month's first days (tests)

    @property
    def length(self) -> int:
        """Seconds the workload runs: its calendar month (or first ``days``)."""
        month = dt.datetime.fromtimestamp(self.start, dt.UTC)
        return (self.days or calendar.monthrange(month.year, month.month)[1]) * DAY

    @property
    def per_minute(self) -> int:
        """The plan's calls per minute."""
        return PLAN_LIMITS[self.plan].per_minute


def fixed(path: str) -> Url:
    """A URL that does not change with time."""
    return lambda _: path


def day_of(at: float, days: int = 0) -> str:
    """The UTC date ``days`` after the one containing ``at``."""
    return (dt.datetime.fromtimestamp(at, dt.UTC).date() + dt.timedelta(days)).isoformat()


def lifetime_last_week(system: int) -> Url:
    """energy_lifetime of the 7 days before today."""
    return lambda at: (
        f"/api/v2/systems/{system}/energy_lifetime"
        f"?start_date={day_of(at, -7)}&end_date={day_of(at, -1)}"
    )


def past_day_stats(system: int, days_back: int) -> Url:
    """stats of the UTC day ``days_back`` before the one asked on (the month's first)."""

    def url(at: float) -> str:
        start = int(at // DAY * DAY - days_back * DAY)
        return f"/api/v2/systems/{system}/stats?start_at={start}&end_at={start + DAY}"

    return url


def spread(index: int, count: int, every: int) -> int:
    """An offset that spreads ``count`` clients of period ``every`` evenly (whole seconds)."""
    return index * every // max(count, 1)


def dashboard(system: int, offset: int = 0) -> list[Poll]:
    """A dashboard from ``offset``: summary every 5 min, today's stats every 15 min, a nightly
    7-day lifetime (02:00 in Los Angeles)."""
    return [
        Poll(fixed(f"/api/v2/systems/{system}/summary"), 300, offset),
        Poll(fixed(f"/api/v2/systems/{system}/stats"), 900, offset + 60),
        Poll(lifetime_last_week(system), DAY, offset + 9 * HOUR, counted=False),
    ]


def watt() -> Workload:
    """One system: summary every 5 min, today's stats every 15 min, a nightly 7-day lifetime."""
    return Workload("watt", "watt", 1_000, False, dashboard(1001))


def second_dashboard() -> Workload:
    """Watt's dashboard, and from day 20 a second one on another system of the same user."""
    polls = dashboard(1001) + dashboard(1002, 19 * DAY)
    return Workload("second-dashboard", "watt", 1_000, False, polls)


def restart() -> Workload:
    """Watt's dashboard on the file cache and quota store, the proxy restarted mid-month."""
    return Workload("restart", "watt", 1_000, False, dashboard(1001), restart=True)


def kilowatt(divisor: int = 1) -> Workload:
    """50 systems: summary every 10 min, inventory daily, consumption_stats on 10 metered."""
    systems = list(FLEET_SYSTEM_IDS[: 50 // divisor])
    fixtures = build_systems(START)  # the systems the sandbox serves
    metered = [s for s in systems if fixtures[s].meters][: 10 // divisor]
    if len(metered) < 10 // divisor:
        raise ValueError(f"{len(metered)} of the first {len(systems)} fleet systems have meters")
    polls = [
        Poll(fixed(f"/api/v2/systems/{s}/summary"), 600, spread(i, len(systems), 600))
        for i, s in enumerate(systems)
    ]
    polls += [
        Poll(fixed(f"/api/v2/systems/{s}/inventory"), DAY, spread(i, len(systems), DAY))
        for i, s in enumerate(systems)
    ]
    polls += [
        Poll(fixed(f"/api/v2/systems/{s}/consumption_stats"), 900, spread(i, len(metered), 900))
        for i, s in enumerate(metered)
    ]
    return Workload("kilowatt", "kilowatt", 50_000 // divisor, True, polls, _scale(divisor))


def megawatt(divisor: int = 1) -> Workload:
    """300 systems: summary every 15 min, and a script backfilling 30 past days of stats for
    each, from the first second, each request as soon as the one before is answered."""
    systems = list(FLEET_SYSTEM_IDS[: 300 // divisor])  # the whole sandbox fleet at full size
    polls = [
        Poll(fixed(f"/api/v2/systems/{s}/summary"), 900, spread(i, len(systems), 900))
        for i, s in enumerate(systems)
    ]
    polls += [
        Poll(
            past_day_stats(s, d),
            0,
            once=True,
            counted=False,
            client=BACKFILL,
            retries=True,
            script=True,
        )
        for s in systems
        for d in range(1, 31)
    ]
    return Workload("megawatt", "megawatt", 300_000 // divisor, True, polls, _scale(divisor))


def cron(divisor: int = 1) -> Workload:
    """Kilowatt's fleet polled by clients all started at the same second (a cron fleet)."""
    fleet = kilowatt(divisor)
    polls = [replace(poll, offset=0) for poll in fleet.polls]
    return replace(fleet, name="cron", polls=polls)


def _scale(divisor: int) -> str:
    return "full size" if divisor == 1 else f"1/{divisor} scale"


WORKLOADS: dict[str, Callable[[int], Workload]] = {
    "watt": lambda _: watt(),
    "kilowatt": kilowatt,
    "megawatt": megawatt,
    "cron": cron,
    "second-dashboard": lambda _: second_dashboard(),
    "restart": lambda _: restart(),
}
DIVISORS = {"watt": 1, "kilowatt": 10, "megawatt": 50, "cron": 10}  # without --full
SIZE = {"watt": 1, "kilowatt": 50, "megawatt": 300, "cron": 50}  # systems at full size


def config(workload: Workload, data_dir: Path, pacing: bool) -> Config:
    """The proxy configuration of one run: one tenant on the workload's plan (on the file
    stores for a workload that restarts, to keep what it learned, else in memory)."""
    backend = "file" if workload.restart else "memory"
    username = DEMO.fleet_username if workload.fleet else DEMO.username
    password = DEMO.fleet_password if workload.fleet else DEMO.password
    text = f"""
[server]
data_dir = "{data_dir}"
access_log = false

[upstream]
api_root = "{SANDBOX_URL}/api/v4"
token_url = "{SANDBOX_URL}/oauth/token"
authorize_url = "{SANDBOX_URL}/oauth/authorize"

[cache]
backend = "{backend}"  # memory: one process, nothing to share, and the month runs faster

[quota]
backend = "{backend}"
pacing = {"true" if pacing else "false"}

[[tenants]]
name = "bench"
user_ids = ["bench-user"]
api_key = "{DEMO.api_key}"
client_id = "{DEMO.client_id}"
client_secret = "{DEMO.client_secret}"
plan = "{workload.plan}"
per_month = {workload.per_month}
grant = "password"
username = "{username}"
password = "{password}"

[[legacy_clients]]
name = "dashboard"
key = "bench-v2-key"
tenants = ["bench"]

[[legacy_clients]]
name = "{BACKFILL}"
key = "bench-backfill-key"
tenants = ["bench"]
"""
    return parse(text, str(data_dir / "proxy.toml"))


class CallLog:
    """Notes, through the upstream's taps and across restarts, each live key asked for, each
    call that reached the upstream (final or live), and whether a live key's reply held
    anything new."""

    def __init__(self, clock: Clock, settings: Cache) -> None:
        self.clock = clock
        self.settings = settings
        self.fetches: list[tuple[float, bool]] = []  # (when, final) of calls that reached it
        self.asked: dict[str, float] = {}  # live key: last asked
        self.replies: dict[str, bytes] = {}  # live key: digest of its latest reply
        self.refreshes = 0  # fetches of a live key fetched before
        self.wasted = 0  # of which the reply held nothing new

    def taps(self) -> Taps:
        """The taps noting what this meter counts."""
        return Taps(asked=self.ask, fetched=self.fetch)

    def ask(self, call: Call) -> None:
        """Note a live key asked for.

        A lookup that takes a reply ``every`` seconds old (a time zone's) is not paced, so it
        is no live key.
        """
        now = self.clock.now()
        if call.every is None and not freshness.final(call.path, call.params, now, self.settings):
            self.asked[f"{call.path}?{call.params}"] = now

    async def fetch(self, request: httpx2.Request, response: httpx2.Response) -> None:
        """Note a call that reached the upstream (when, whether its window is final) and, for a
        live key, whether its reply held anything new."""
        call = call_of(request)
        now = self.clock.now()
        final = freshness.final(call.path, call.params, now, self.settings)
        self.fetches.append((now, final))
        if not final:
            key = f"{call.path}?{sorted(freshness.pairs(call.params))}"
            digest = hashlib.sha256(await response.aread()).digest()
            if key in self.replies:
                self.refreshes += 1
                self.wasted += self.replies[key] == digest
            self.replies[key] = digest


@dataclass
class Figures:
    """What one run measured."""

    requests: int = 0
    refused: int = 0  # every 409 (first answers included)
    refused_backfill: int = 0  # of which to the backfill client, beyond its share of past data
    backfill: int = 0  # the backfill's requests (past days)
    backfilled: list[float] = field(default_factory=list)  # when each was answered
    refused_keys: Counter[str] = field(default_factory=Counter)  # 409s per URL, backfill aside
    refused_after_first: int = 0
    refused_minute: int = 0  # 409s for the plan's minute limit (first answers or not)
    ages: list[int] = field(default_factory=list)
    daylight_ages: list[int] = field(default_factory=list)  # served while the sun was up there
    live_keys: list[int] = field(default_factory=list)  # in demand, sampled hourly
    calls: int = 0  # counted by the sandbox
    fetches: int = 0  # calls the proxy sent that reached the upstream
    final_calls: int = 0
    refreshes: int = 0
    wasted: int = 0
    ran_out: float | None = None


async def settle() -> None:
    """Let background cache refreshes finish."""
    while pending := asyncio.all_tasks() - {asyncio.current_task()}:
        await asyncio.gather(*pending, return_exceptions=True)


async def run_timers(clock: VirtualClock, until: float) -> None:
    """Move the clock to each timer set before ``until`` (a fetch the minute refused, made
    again), letting what each starts finish at its moment."""
    while (due := clock.next_timer()) is not None and due < until:
        clock.set(max(clock.now(), due))
        await settle()


V2Call = tuple[Endpoint, dict[str, str], tuple[tuple[str, str], ...]]


def _request(url: str) -> V2Call:
    """The v2 endpoint, path parameters and query of ``url``."""
    parts = urlsplit(url)
    for endpoint in ENDPOINTS:
        route = endpoint.route.split("/")
        segments = parts.path.split("/")
        if len(route) == len(segments) and all(
            r == s or r.startswith("{") for r, s in zip(route, segments, strict=True)
        ):
            params = {r[1:-1]: s for r, s in zip(route, segments, strict=True) if r != s}
            return endpoint, params, tuple(parse_qsl(parts.query))
    raise ValueError(f"no v2 route for {url}")


SYSTEM_IN_URL = re.compile(r"/systems/(\d+)/")


def sun_up(system: System, at: float) -> bool:
    """Whether the sun is above the horizon at ``system`` at ``at`` (the sandbox's sun)."""
    lat, lon = math.radians(system.location.latitude), math.radians(system.location.longitude)
    day = dt.datetime.fromtimestamp(at, dt.UTC).timetuple().tm_yday
    declination = math.radians(23.44) * math.sin(2 * math.pi * (day - 81) / 365)
    hour_angle = 2 * math.pi * (at % DAY / DAY - 0.5) + lon
    elevation = math.sin(lat) * math.sin(declination) + math.cos(lat) * math.cos(
        declination
    ) * math.cos(hour_angle)
    return elevation > 0


async def run(workload: Workload, pacing: bool) -> Figures:
    """One simulated month of ``workload``."""
    start, end = workload.start, workload.start + workload.length
    clock = VirtualClock(start)
    figures = Figures(backfill=sum(p.client == BACKFILL for p in workload.polls))
    systems = build_systems(start)
    sandbox = create_sandbox(SandboxSettings(clock=clock, phased_uploads=True))
    # (when, poll, whether a retry: a retry of a periodic poll does not move its period)
    script = [i for i, poll in enumerate(workload.polls) if poll.script]
    following = dict(itertools.pairwise(script))  # a script's next request
    queue = [
        (start + poll.offset, i, False)
        for i, poll in enumerate(workload.polls)
        if not poll.script or i == script[0]
    ]
    heapq.heapify(queue)
    answered: set[str] = set()
    parsed: dict[str, V2Call] = {}
    # the proxy runs to the month's end, or stops mid-month and runs again on the same stores
    stops = [start + workload.length // 2, end] if workload.restart else [end]
    next_sample = start + HOUR
    with tempfile.TemporaryDirectory(prefix="enphase-month-") as work:
        cfg = config(workload, Path(work), pacing)
        tenant = cfg.tenants["bench"]
        meter = CallLog(clock, cfg.cache)
        for stop in stops:
            async with in_process(cfg, sandbox, clock, meter.taps()) as stack:
                upstream = stack.services.upstream
                memo = stack.services.memo
                deferred = stack.services.deferred
                while queue and queue[0][0] < stop:
                    at, index, retry = heapq.heappop(queue)
                    await run_timers(clock, at)
                    clock.set(max(clock.now(), at))
                    poll = workload.polls[index]
                    if not poll.once and not retry:
                        heapq.heappush(queue, (at + poll.every, index, False))
                    url = poll.url(start + poll.offset if poll.once else at)  # a script's list
                    request = parsed.get(url) or parsed.setdefault(url, _request(url))
                    LEGACY_CLIENT.set(poll.client)
                    outcome = await legacy.answer(
                        *request, upstream, tenant, "", memo, deferred=deferred
                    )
                    figures.requests += 1
                    refusal = v2_error(outcome.error) if outcome.error else None
                    retrying = False
                    if outcome.error is not None and refusal is not None and refusal.status == 409:
                        figures.refused += 1
                        retrying = poll.retries
                        if poll.retries:  # the same URL again
                            again = clock.now() + (outcome.error.retry_after or 60)
                            heapq.heappush(queue, (again, index, True))
                        if poll.client == BACKFILL:
                            figures.refused_backfill += 1
                        else:
                            figures.refused_keys[url] += 1
                        figures.refused_after_first += url in answered
                        if MINUTE_REFUSAL in orjson.dumps(refusal.body):
                            figures.refused_minute += 1
                        elif poll.client != BACKFILL:  # the month's budget is spent
                            figures.ran_out = figures.ran_out or clock.now()
                    elif outcome.status == 200:
                        answered.add(url)
                        if poll.client == BACKFILL:
                            figures.backfilled.append(clock.now())
                        if poll.counted:
                            figures.ages.append(outcome.age)
                            system = SYSTEM_IN_URL.search(url)
                            if system and sun_up(systems[int(system[1])], clock.now()):
                                figures.daylight_ages.append(outcome.age)
                    if index in following and not retrying:  # the script goes on
                        heapq.heappush(queue, (clock.now(), following[index], False))
                    if clock.now() >= next_sample:
                        await settle()
                        recent = clock.now() - DEMAND_WINDOW
                        figures.live_keys.append(sum(t >= recent for t in meter.asked.values()))
                        next_sample += HOUR
                await run_timers(clock, stop)
                await settle()
    figures.calls = sandbox_state(sandbox).stats.api_calls
    figures.fetches = len(meter.fetches)
    figures.final_calls = sum(final for _, final in meter.fetches)
    figures.refreshes, figures.wasted = meter.refreshes, meter.wasted
    month_calls = sorted(t for t, _ in meter.fetches)
    if len(month_calls) >= workload.per_month:
        figures.ran_out = min(figures.ran_out or 1e18, month_calls[workload.per_month - 1])
    return figures


def percentile(values: list[int], share: float) -> int:
    """The ``share`` percentile of ``values`` (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else 0


def _ages(ages: list[int]) -> str:
    return f"{percentile(ages, 0.5)}/{percentile(ages, 0.95)}/{max(ages, default=0)} s"


def report(workload: Workload, mode: str, figures: Figures) -> None:
    """Print one line per figure of one run."""
    month = dt.datetime.fromtimestamp(workload.start, dt.UTC).strftime("%B").lower()
    name = workload.name if workload.start == START else f"{workload.name} {month}"
    head = f"{name} ({workload.per_month:,}/month, {workload.scale}) {mode}"
    live = figures.calls - figures.final_calls
    keys = sum(figures.live_keys) / max(1, len(figures.live_keys))
    left = workload.per_month - figures.final_calls
    length = workload.length
    minimum = length * keys / left if left > 0 else float("inf")
    achieved = length * keys / live if live else float("inf")
    print(f"{head}: legacy requests: {figures.requests}")
    print(
        f"{head}: upstream calls: {figures.calls} of {workload.per_month}"
        f" (final data {figures.final_calls}, live data {live})"
    )
    print(f"{head}: 409s: {figures.refused}")
    print(f"{head}: 409s after a request's first answer: {figures.refused_after_first}")
    refused = figures.refused_keys
    print(
        f"{head}: 409s to the backfill (beyond its share of past data): {figures.refused_backfill};"
        f" to the others: {sum(refused.values())}, on {len(refused)} URLs,"
        f" at most {max(refused.values(), default=0)} per URL"
    )
    if figures.backfill:
        done = max(figures.backfilled, default=workload.start)
        print(
            f"{head}: backfill: {len(figures.backfilled)} of {figures.backfill} past days answered,"
            f" the last on day {(done - workload.start) / DAY:.1f}"
        )
    print(
        f"{head}: 409s for the plan's minute limit ({workload.per_minute} calls):"
        f" {figures.refused_minute}"
    )
    print(f"{head}: served age p50/p95/max: {_ages(figures.ages)}")
    print(f"{head}: daylight served age p50/p95/max: {_ages(figures.daylight_ages)}")
    print(
        f"{head}: wasted refreshes: {figures.wasted} of {figures.refreshes}"
        f" ({figures.wasted / max(1, figures.calls):.0%} of calls)"
    )
    print(f"{head}: live keys in demand (mean): {keys:.1f}")
    print(
        f"{head}: refresh interval achieved/minimum: {achieved:.0f}/{minimum:.0f} s"
        f" = {achieved / minimum:.2f}"
    )
    ran_out = figures.ran_out
    when = "never" if ran_out is None else f"day {(ran_out - workload.start) / DAY:.1f}"
    print(f"{head}: budget ran out: {when}")


def measured(name: str, divisor: int, pacing: bool, start: float = START) -> tuple[Figures, float]:
    """One run of workload ``name`` at ``1/divisor`` of its size from ``start``, and its wall
    time (s)."""
    logging.disable(logging.WARNING)  # refused background refreshes are expected, not news
    started = time.perf_counter()
    figures = asyncio.run(run(replace(WORKLOADS[name](divisor), start=start), pacing))
    return figures, time.perf_counter() - started


def measure(names: list[str], full: bool, jobs: int, starts: list[int]) -> None:
    """Run each workload from each of ``starts`` with and without pacing, ``jobs`` runs at a
    time, and print the figures of each run as it ends."""
    sizes = {name: 1 if full else DIVISORS.get(name, 1) for name in names}
    runs = [
        (name, sizes[name], pacing, start)
        for name in names
        for start in starts
        for pacing in (True, False)
    ]
    started = time.perf_counter()
    with ProcessPoolExecutor(jobs) as pool:
        # the longest runs (the largest fleets) first, so that the last to end is a short one
        order = sorted(runs, key=lambda r: -SIZE.get(r[0], 1) // r[1])
        pending = {pool.submit(measured, *r): r for r in order}
        for done in as_completed(pending):
            name, divisor, pacing, start = pending[done]
            figures, wall = done.result()
            mode = "paced" if pacing else "unpaced"
            report(replace(WORKLOADS[name](divisor), start=start), mode, figures)
            print(f"{name} {mode}: wall time: {wall:.0f} s", flush=True)
    print(f"all runs: wall time: {time.perf_counter() - started:.0f} s ({jobs} at a time)")


def main() -> None:
    """Measure and print."""
    args = sys.argv[1:]
    full = "--full" in args
    jobs = int(args[args.index("--jobs") + 1]) if "--jobs" in args else os.cpu_count() or 1
    month = args[args.index("--month") + 1] if "--month" in args else "june"
    starts = list(MONTHS.values()) if month == "both" else [MONTHS[month]]
    names = [a for a in args if a in WORKLOADS] or ["watt", "kilowatt", "megawatt"]
    print(f"machine: {machine()}")
    for start in starts:
        length = replace(watt(), start=start).length // DAY
        print(f"month: {dt.datetime.fromtimestamp(start, dt.UTC):%B %Y} ({length} days), simulated")
    measure(names, full, jobs, starts)


if __name__ == "__main__":
    main()
