"""Observability, beside every layer: Prometheus metrics and whitelisted JSON logs.

Any layer may import it; it imports only the clock. Public API: two namespaces, ``metrics``
(the instruments, ``render`` and the multi-process flush) and ``logs`` (``configure`` and the
access log), so a call site reads ``metrics.CACHE`` wherever it counts.
"""

from proxy.observability import logs, metrics

__all__ = ["logs", "metrics"]
