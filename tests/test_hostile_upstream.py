"""The whole proxy in front of a hostile upstream on a real socket: interim answers, huge and cut
bodies. Broken replies are 503 for v2 clients and 502 for v4 clients, and never cached."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest

from proxy.upstream.wire import MAX_REPLY_BYTES
from tests import support
from tests.support import Cut, Script, scripted

V2_AUTH = {"key": "demo-v2-key", "user_id": "demo-user"}
V4_AUTH = {"Authorization": "Bearer demo-team-key"}
TOKEN = json.dumps(
    {"access_token": "tok", "refresh_token": "ref", "expires_in": 86400, "token_type": "bearer"}
).encode()
EARLY_HINTS = b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"
UNAVAILABLE = {"errorCode": 7, "errorMessages": ["Data temporarily unavailable."]}


def reply(body: bytes, status: bytes = b"200 OK") -> bytes:
    head = b"HTTP/1.1 %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
    return head % (status, len(body)) + body


def found(serial: str) -> bytes:
    return reply(json.dumps({"system_id": len(serial)}).encode())


class Hostile:
    """Answers token grants; the first lookup of a serial is broken as the serial says."""

    def __init__(self) -> None:
        self.lookups: Counter[str] = Counter()

    def __call__(self, n: int, request: bytes) -> bytes | Cut | None:
        target = request.split(b" ", 2)[1].decode()
        if target.startswith("/oauth/token"):
            return reply(TOKEN)
        serial = parse_qs(urlsplit(target).query)["serial_num"][0]
        self.lookups[serial] += 1
        if self.lookups[serial] > 1:
            return found(serial)
        kind = serial.split("-")[0]
        if kind == "hints":
            return EARLY_HINTS + found(serial)
        if kind == "huge":
            return reply(b" " * (MAX_REPLY_BYTES + 1))
        if kind == "cut":  # declared length, then a reset
            return Cut(found(serial)[:-5])
        if kind == "reset":  # delimited by the end of the connection, which is a reset
            body = json.dumps({"system_id": len(serial), "padding": "x" * 100}).encode()
            return Cut(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n" + body[:40])
        raise AssertionError(serial)


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[httpx2.Client, Hostile]]:
    """A client of a proxy whose upstream (API and token endpoint) is the hostile server."""
    upstream = Hostile()
    with scripted(Script(upstream)) as url:
        config = support.proxy_config(url, tmp_path_factory.mktemp("hostile"))
        with support.proxy(config) as proxy_url:
            with httpx2.Client(base_url=proxy_url, timeout=30) as client:
                yield client, upstream


def v2_lookup(client: httpx2.Client, serial: str) -> httpx2.Response:
    params = {**V2_AUTH, "serial_num": serial}
    return client.get("/api/v2/systems/search_system_id", params=params)


def v4_lookup(client: httpx2.Client, serial: str) -> httpx2.Response:
    params = {"serial_num": serial}
    return client.get("/api/v4/systems/retrieve_system_id", params=params, headers=V4_AUTH)


def test_an_interim_103_is_skipped_and_the_final_answer_used(
    hostile: tuple[httpx2.Client, Hostile],
) -> None:
    """Found against http1: the 103 was the answer; the real one went to the next request."""
    client, upstream = hostile
    v2 = v2_lookup(client, "hints-v2")
    assert (v2.status_code, v2.json()) == (200, {"system_id": 8})
    v4 = v4_lookup(client, "hints-v4")
    assert (v4.status_code, v4.json()) == (200, {"system_id": 8})
    assert v2_lookup(client, "hints-v2").headers["X-Cache"] == "HIT"
    assert upstream.lookups["hints-v2"] == 1


@pytest.mark.parametrize("kind", ["huge", "cut", "reset"])
def test_a_broken_reply_is_a_v2_503_and_is_not_cached(
    hostile: tuple[httpx2.Client, Hostile], kind: str
) -> None:
    """Found against http1 (reset): a cut body came back as a complete reply, and was cached."""
    client, upstream = hostile
    serial = f"{kind}-v2"
    broken = v2_lookup(client, serial)
    assert (broken.status_code, broken.json()) == (503, UNAVAILABLE)
    assert broken.headers["Retry-After"] == "30"
    again = v2_lookup(client, serial)
    assert (again.status_code, again.json()) == (200, {"system_id": len(serial)})
    assert upstream.lookups[serial] == 2


@pytest.mark.parametrize("kind", ["huge", "cut", "reset"])
def test_a_broken_reply_is_a_v4_502_and_is_not_cached(
    hostile: tuple[httpx2.Client, Hostile], kind: str
) -> None:
    client, upstream = hostile
    serial = f"{kind}-v4"
    broken = v4_lookup(client, serial)
    assert broken.status_code == 502
    assert broken.json() == {
        "message": "Bad Gateway",
        "details": "The upstream's reply was incomplete or invalid.",
        "code": 502,
    }
    again = v4_lookup(client, serial)
    assert (again.status_code, again.json()) == (200, {"system_id": len(serial)})
    assert upstream.lookups[serial] == 2
