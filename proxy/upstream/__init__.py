"""Upstream v4 calls as httpx2 transport layers, each with one job.

    Caching(Authorize(Govern(Meter(Wire(client)))))

``stack`` builds the stack; ``call`` is one call as the layers see it. The layers use
``cache``, ``tokens`` and ``quota`` below them; the runner and the broker route call them.
"""
