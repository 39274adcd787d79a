"""The reply cache: its stores, freshness rules, single-flight fetches, final replies, purges.

Used by the ``Caching`` upstream layer; depends only on ``v4``, ``storage``, ``observability``
and the clock.
"""
