"""gzip only for the requests that ask for it; the others skip the gzip middleware entirely."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from proxy.http import GzipWhenAsked

BODY = {"intervals": [{"end_at": n, "powr": 1234, "enwh": 103} for n in range(100)]}


async def day(request: Request) -> Response:
    return JSONResponse(BODY)


def client() -> TestClient:
    app = Starlette(routes=[Route("/day", day)])
    return TestClient(GzipWhenAsked(app))


def test_a_request_asking_for_gzip_gets_it() -> None:
    answer = client().get("/day", headers={"Accept-Encoding": "gzip"})
    assert answer.headers["content-encoding"] == "gzip"
    assert answer.headers["vary"] == "Accept-Encoding"
    assert answer.json() == BODY


def test_a_request_not_asking_for_gzip_never_meets_the_gzip_middleware() -> None:
    # Starlette's identity path would add Vary to every answer: its mark shows it ran.
    answer = client().get("/day", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in answer.headers and "vary" not in answer.headers
    assert answer.json() == BODY
