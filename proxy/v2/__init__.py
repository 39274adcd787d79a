"""The v2 runner: a mapping's plan of v4 calls, run through the upstream, answered as v2.

Sits between the inbound routes (``proxy.http``) and the upstream stack; the mappings
(``mappings/``) hold the pure v4 -> v2 conversions it applies. ``system_lookup`` chooses the
system body a mapping plans with.

Public API: ``answer`` (one authenticated v2 request, answered as an ``Outcome``), ``Memo``
(recent rendered answers), ``UnknownIds`` (system ids a tenant's systems list answers
locally), ``Deferred`` (requests the minute refused, answered again once it is over),
``outcome_headers`` (an answer's raw headers) and ``CONTENT_TYPE`` (v2's).
"""

from proxy.v2.deferred import Deferred
from proxy.v2.membership import UnknownIds
from proxy.v2.runner import CONTENT_TYPE, Memo, Outcome, answer, outcome_headers

__all__ = [
    "CONTENT_TYPE",
    "Deferred",
    "Memo",
    "Outcome",
    "UnknownIds",
    "answer",
    "outcome_headers",
]
