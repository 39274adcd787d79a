"""The renewal child process (``python -m proxy.tokens.renew``): a Job on stdin, JSON out.

Started by proxy.tokens.renewal.detached; nothing imports this module.
"""

from __future__ import annotations

import asyncio
import sys
from contextlib import suppress

from proxy.clock import SYSTEM
from proxy.tokens.oauth import TokenEndpoint
from proxy.tokens.renewal import Job, Renewal, RenewalOutcome, renew


async def _run(job: Job) -> Renewal:
    store = job.store.open(SYSTEM)
    endpoint = TokenEndpoint(job.credentials, job.token_url, job.timeout, SYSTEM)
    try:
        return await renew(store, endpoint, job.margin, SYSTEM, job.rejected, job.force)
    finally:
        await endpoint.aclose()
        await store.close()


def main() -> None:
    """Child-process entry: a Job on stdin, the Renewal on stdout."""
    try:
        renewal = asyncio.run(_run(Job.from_json(sys.stdin.buffer.read())))
    except Exception as exc:
        renewal = Renewal(
            RenewalOutcome.ERROR, reason=f"renewal process failed: {type(exc).__name__}"
        )
    with suppress(BrokenPipeError):
        print(renewal.to_json(), flush=True)


if __name__ == "__main__":
    main()
