"""The reply cache: what to serve and when to fetch, over stores shared as widely as configured.

``keys`` names each v4 GET; ``entry`` is one cached reply and its bytes; ``stores`` (memory),
``file_store`` and ``redis_store`` hold entries and fetch locks; ``decision`` is the pure rule
of each lookup (fresh, stale, refresh, fetch, refuse); ``replies`` applies it with single-flight
fetches (``singleflight``), final replies on disk (``final_store``) and purges shared by a
host's workers (``purges``); ``freshness`` says how long a reply stays fresh. ``REFRESHING``
tells the quota whether the call being made refreshes a held reply or is a cold miss.

Used by the ``Caching`` upstream layer; depends only on ``v4``, ``storage``, ``observability``
and the clock.
"""

from proxy.cache import freshness
from proxy.cache.decision import Decision, Needs, decide, settle
from proxy.cache.entry import Entry, decode, encode
from proxy.cache.file_store import FileReplyStore
from proxy.cache.generation import Checked
from proxy.cache.keys import cache_key, purge_pattern
from proxy.cache.redis_store import RedisReplyStore
from proxy.cache.replies import REFRESHING, ReplyCache, open_cache
from proxy.cache.stores import MemoryReplyStore, ReplyStore

__all__ = [
    "REFRESHING",
    "Checked",
    "Decision",
    "Entry",
    "FileReplyStore",
    "MemoryReplyStore",
    "Needs",
    "RedisReplyStore",
    "ReplyCache",
    "ReplyStore",
    "cache_key",
    "decide",
    "decode",
    "encode",
    "freshness",
    "open_cache",
    "purge_pattern",
    "settle",
]
