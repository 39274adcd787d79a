"""The v4 system lookup a v2 mapping needs, and how old it may be.

Mappings read the ``/systems/{id}`` body for its time zone (which local day is "today", where
windows start and end) and, rarely, for live fields (status, last_report_at, last_energy_at)
that no v4 reply of theirs carries. The zone is static (with the name, address and
operational_at, in v4's SystemDetails); the live fields change with every report. Paced as a
live key, the lookup cost about as much as a telemetry refresh: a third of a Watt month for one
dashboard, to learn a zone that does not change.

So a lookup states one of two needs:

- for the **zone**, a 2xx body up to ``ZONE_EVERY`` old will do, without pacing while it is
  younger (``proxy.cache.decision``'s ``every`` rule): one lookup per system per day. A day
  bounds how long a system whose zone was corrected (a rare settings edit) keeps its old
  "today", and it is the window of today's telemetry, the key that rolls over daily anyway. Its
  age is not the
  answer's: the zone does not age like data;
- **live**, the endpoint's own freshness, paced like any live key (what every lookup was): when a
  mapping's answer reads live fields its replies lack (``Endpoint.live_system``: inventory's
  ``meta``; a telemetry start too old for v4), and to confirm a refusal planned on a zone body
  (a start after ``last_energy_at``): that field only grows, so an older body refuses at least
  what a fresh one refuses, and what it accepts a fresh one accepts too.
"""

from __future__ import annotations

from mappings.base import V2Request, V4Call
from mappings.common import DAY, system_id

ZONE_EVERY = DAY


def lookup(req: V2Request, live: bool) -> V4Call:
    """The system lookup of ``req``: as fresh as a live key, or as old as a zone may be."""
    path = f"/systems/{system_id(req)}"
    return V4Call(path) if live else V4Call(path, every=ZONE_EVERY)
