"""Budgets against the v4 plan: minute, month and write counts, and month pacing.

``governor`` counts and refuses (per v4 ``apps``, over ``windows``, with upstream 429
``blocks`` and each legacy client's ``cold`` share); ``pacing`` is the pure arithmetic of a
month's budget; ``pacer`` decides whether a stale reply may be refreshed now; ``demand``
records what clients ask; ``changes`` applies, per key, ``daylight`` (production by day, from
``sun`` and the windows ``sightings`` learns) and ``uploads`` (after the next predicted upload).
"""
