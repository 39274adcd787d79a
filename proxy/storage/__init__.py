"""Storage helpers every store shares: the process's Redis client, SQLite files for workers.

At the bottom of the house: imports nothing of the proxy but its configuration.
Public API: ``open_backend`` (a store in memory, a file or Redis, as configured),
``open_redis`` and ``connect`` (a Redis client), ``reachable`` (a store's client, borrowed or
its own, and whether it answers), ``SqliteFile`` (one SQLite file shared by workers),
``try_lock`` (a host-wide file lock that dies with its holder), ``private`` (the umask and
modes that keep ``data_dir`` to its owner), ``settings_of`` (the ``[redis]`` a configuration
names), ``tenant_key`` (a key hash-tagged by its tenant, so every multi-key command stays on
one Cluster slot), ``redis_unavailable`` and ``REDIS_RETRY_AFTER`` (Redis out of reach, as
during a failover, and how long a client should wait).
"""

from proxy.storage import private
from proxy.storage.backends import open_backend
from proxy.storage.flock import try_lock
from proxy.storage.redis_client import RETRY_AFTER as REDIS_RETRY_AFTER
from proxy.storage.redis_client import connect, open_redis, reachable, settings_of, tenant_key
from proxy.storage.redis_client import unavailable as redis_unavailable
from proxy.storage.sqlitefile import SqliteFile

__all__ = [
    "REDIS_RETRY_AFTER",
    "SqliteFile",
    "connect",
    "open_backend",
    "open_redis",
    "private",
    "reachable",
    "redis_unavailable",
    "settings_of",
    "tenant_key",
    "try_lock",
]
