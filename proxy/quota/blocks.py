"""What an upstream 429 teaches the quota: a minute block, or a provisional then confirmed month.

A single ``period=month`` 429 can be a glitch of the upstream (one named a limit of 1,000 on a
1,000,000 plan): believed at once, it would close the month for every client of the app. It
blocks the month for ``PROBE_AFTER`` seconds only; the first call after that is the probe, and
the month is closed until its end only when the probe is refused too. The block's limit is
always the configured plan's: a 429 naming another limit is logged, not believed.
"""

from __future__ import annotations

import datetime as dt

from proxy.quota.windows import Window, latest_end, period_bounds

PROBE_AFTER = 600  # seconds a first month 429 blocks before a probe may confirm it
CONFIRM_WITHIN = 86_400  # a month 429 this long after a provisional block ended starts anew


def provisional(block: Window) -> bool:
    """Whether ``block`` is a month block awaiting its probe's confirmation.

    A provisional block starts when its 429 came, a confirmed one with the month.
    """
    return block.period == "month" and block.start != period_bounds("month", block.start)[0]


def describe(block: Window) -> str:
    """The block as an operator reads it."""
    until = dt.datetime.fromtimestamp(block.end, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    if block.period == "minute":
        return f"minute refused by the upstream until {until}"
    if provisional(block):
        return f"month refused once by the upstream: provisional until {until}, then one probe"
    return f"month refused by the upstream, confirmed by a probe: closed until {until}"


def month_block(
    month: Window, previous: Window | None, period_end: int, now: float
) -> Window | None:
    """The block a ``period=month`` 429 at ``now`` sets (None: keep ``previous``).

    ``previous`` is the month's block already stored, ``period_end`` the 429's.
    """
    end = latest_end("month", period_end, now)
    this_month = previous is not None and month.start <= previous.start < month.end
    if previous is not None and this_month:
        if now < previous.end:
            return None  # already blocked: the reply to a call sent before the block
        if provisional(previous) and now - previous.end < CONFIRM_WITHIN:
            return Window(month.name, "month", month.start, end, month.limit)
    start = max(int(now), month.start + 1)
    return Window(month.name, "month", start, min(end, start + PROBE_AFTER), month.limit)
