"""The v2 runner: a mapping's plan of v4 calls, run through the upstream, answered as v2.

Sits between the inbound routes (``proxy.http``) and the upstream stack; the mappings
(``mappings/``) hold the pure v4 -> v2 conversions it applies.
"""
