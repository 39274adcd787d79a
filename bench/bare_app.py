"""The baseline: bare Starlette JSON endpoints, served by the same server and worker type.

``/json`` is a small body; ``/stats`` a body the size and shape of a day of v2 stats (288
intervals), so the payload's own cost can be told apart from the proxy's.
"""

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

SMALL = {"system_id": 1001, "total_devices": 12, "intervals": []}
DAY = {
    "system_id": 1002,
    "total_devices": 20,
    "meta": {"status": "normal", "last_report_at": 1, "last_energy_at": 1, "operational_at": 1},
    "intervals": [
        {"end_at": 1_795_000_000 + 300 * i, "powr": 1234, "enwh": 103, "devices_reporting": 20}
        for i in range(288)
    ],
}


async def small(request: Request) -> Response:
    """A small JSON answer."""
    return JSONResponse(SMALL)


async def stats(request: Request) -> Response:
    """A day-of-stats-sized JSON answer."""
    return JSONResponse(DAY)


app = Starlette(routes=[Route("/json", small), Route("/stats", stats)])
