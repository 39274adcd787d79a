"""Observability, beside every layer: Prometheus metrics and whitelisted JSON logs.

Any layer may import it; it imports only the clock and the configuration. Public API: three
namespaces, ``metrics`` (the instruments, ``render`` and the multi-process flush), ``logs``
(``configure`` and the access log) and ``audit`` (the audit log of team clients' writes), so a
call site reads ``metrics.CACHE`` wherever it counts.
"""

from proxy.observability import audit, logs, metrics

__all__ = ["audit", "logs", "metrics"]
