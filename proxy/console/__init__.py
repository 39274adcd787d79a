"""The operator console: a read-only web page and its JSON state, behind the admin key.

An inbound surface beside ``proxy.http`` (whose admin-key check it shares); reads ``quota``,
``tokens`` and its own history store. ``recorder`` adds each worker's counters to the history;
``history`` stores it; ``state`` and ``budget`` shape what the page shows.

Public API: ``routes`` (the console's routes), ``Recorder`` and ``open_history``.
"""

from proxy.console.history import open_history
from proxy.console.recorder import Recorder
from proxy.console.routes import routes

__all__ = ["Recorder", "open_history", "routes"]
