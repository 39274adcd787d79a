"""The baseline: a bare Starlette JSON endpoint, served by the same server and worker type."""

from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

BODY = {"system_id": 1001, "total_devices": 12, "intervals": []}


async def hello(request):
    """A small JSON answer."""
    return JSONResponse(BODY)


app = Starlette(routes=[Route("/json", hello)])
