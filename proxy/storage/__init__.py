"""Storage helpers every store shares: the process's Redis client, SQLite files for workers.

At the bottom of the house: imports nothing of the proxy but its configuration.
Public API: ``open_redis`` and ``connect`` (a Redis client), ``reachable`` (a store's client,
borrowed or its own, and whether it answers), ``SqliteFile`` (one SQLite file shared by workers),
``private`` (the umask and modes that keep ``data_dir`` to its owner).
"""

from proxy.storage import private
from proxy.storage.redis_client import connect, open_redis, reachable
from proxy.storage.sqlitefile import SqliteFile

__all__ = ["SqliteFile", "connect", "open_redis", "private", "reachable"]
