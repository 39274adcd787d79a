"""The baseline: bare Starlette answering a fixed JSON body, on the same server as the proxy.

``/body`` answers the bytes of the file named by ``BARE_BODY`` (the proxy's own answer, so
both serve the same body), already encoded as the proxy's cache hit is; ``/json`` a small body.
"""

import os
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

SMALL = {"system_id": 1001, "total_devices": 12, "intervals": []}
BODY = Path(os.environ["BARE_BODY"]).read_bytes() if os.environ.get("BARE_BODY") else b"{}"


async def small(request: Request) -> Response:
    """A small JSON answer."""
    return JSONResponse(SMALL)


async def body(request: Request) -> Response:
    """The fixed JSON body."""
    return Response(BODY, media_type="application/json")


app = Starlette(routes=[Route("/json", small), Route("/body", body)])
