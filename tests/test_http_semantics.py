"""HTTP as RFC 9110 says, on a real socket in front of the sandbox: HEAD, Allow, cache headers
that describe the answer, charset, bare 204s, empty path segments, gzip (issue 23)."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from proxy.v2 import runner
from tests import support

V2 = {"key": "demo-v2-key", "user_id": "demo-user"}
TEAM = {"Authorization": "Bearer demo-team-key"}
JSON = "application/json; charset=utf-8"


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx2.Client]:
    """A client of a proxy in front of its own sandbox."""
    data_dir = Path(tmp_path_factory.mktemp("semantics"))
    with support.sandbox() as (sandbox_url, _):
        config = support.proxy_config(sandbox_url, data_dir, "", per_minute=1000)
        with support.proxy(config) as url, httpx2.Client(base_url=url, timeout=30) as c:
            yield c


def test_head_is_answered_wherever_get_is(client: httpx2.Client) -> None:
    for path, headers, params in (
        ("/api/v4/systems/1001/summary", TEAM, None),
        ("/api/v2/systems/1001/summary", None, V2),
    ):
        got = client.get(path, headers=headers, params=params)
        head = client.head(path, headers=headers, params=params)
        assert (head.status_code, head.content) == (200, b""), path
        assert head.headers["content-type"] == got.headers["content-type"]


def test_every_405_says_what_is_allowed(client: httpx2.Client) -> None:
    v4 = client.delete("/api/v4/systems/1001/summary", headers=TEAM)
    assert v4.status_code == 405 and set(v4.headers["Allow"].split(", ")) == {"GET", "HEAD"}
    assert v4.json()["code"] == 405
    v2 = client.post("/api/v2/systems/1001/summary", params=V2)
    assert v2.status_code == 405 and "GET" in v2.headers["Allow"].split(", ")


def test_cache_headers_only_where_they_describe_the_answer(client: httpx2.Client) -> None:
    for _ in range(2):  # the second time, the system lookup's 404 comes from the cache
        refused = client.get("/api/v2/systems/999999/stats", params=V2)
        assert refused.status_code == 401
        assert "X-Cache" not in refused.headers and "Age" not in refused.headers
    client.get("/api/v2/systems/1001/stats", params=V2)  # the zone lookup is cached now
    answer = client.get("/api/v2/systems/1001/rgm_stats", params=V2)
    assert answer.headers["X-Cache"] != "MISS" or answer.headers["Age"] == "0"


def test_json_says_its_charset_and_a_204_carries_no_body_headers(client: httpx2.Client) -> None:
    assert client.get("/api/v2/systems/1001/summary", params=V2).headers["content-type"] == JSON
    assert client.get("/api/v2/systems/1001/summary").headers["content-type"] == JSON  # a 401
    empty = client.get("/api/v2/systems/1001/consumption_lifetime", params=V2)
    assert empty.status_code == 204 and empty.content == b""
    assert "content-type" not in empty.headers and "content-length" not in empty.headers


@pytest.mark.parametrize("path", ["/api/v2/systems//", "/api/v2//systems", "/api/v2/systems/"])
def test_empty_path_segments_are_answered_as_without_them(client: httpx2.Client, path: str) -> None:
    answer = client.get(path, params=V2)
    assert answer.status_code == 200, answer.text
    assert "location" not in answer.headers and answer.json()["systems"]


def test_gzip_when_asked_but_never_on_the_live_stream(client: httpx2.Client) -> None:
    path = "/api/v2/systems/1001/stats"
    plain = client.get(path, params=V2, headers={"Accept-Encoding": "identity"})
    packed = client.get(path, params=V2, headers={"Accept-Encoding": "gzip"})
    assert "content-encoding" not in plain.headers
    assert packed.headers["content-encoding"] == "gzip" and packed.json() == plain.json()
    raw = gzip.compress(plain.content)  # what the wire carried is about this
    assert len(raw) < len(plain.content) / 3
    live = "/api/v4/systems/1001/live_data"
    headers = TEAM | {"Accept-Encoding": "gzip"}
    with client.stream("GET", live, headers=headers) as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        assert "content-encoding" not in stream.headers
        assert next(line for line in stream.iter_lines() if line).startswith("data: ")


def test_a_composite_fetched_now_is_aged_0_and_an_error_has_no_cache_headers() -> None:
    def headers(outcome: runner.Outcome) -> dict[bytes, bytes]:
        return dict(runner.outcome_headers(outcome))

    fresh = headers(runner.Outcome(200, b"{}", (), "MISS", 725))
    assert (fresh[b"x-cache"], fresh[b"age"]) == (b"MISS", b"0")
    hit = headers(runner.Outcome(200, b"{}", (), "HIT", 725))
    assert hit[b"age"] == b"725"
    for status in (401, 409, 503):
        error = headers(runner.Outcome(status, b"{}", (), "HIT", 725))
        assert b"x-cache" not in error and b"age" not in error


def test_cache_control_says_how_long_the_proxy_holds_the_answer_fresh(
    client: httpx2.Client,
) -> None:
    summary_ttl = 300  # the v4 table's freshness of a live summary
    for path, headers, params in (
        ("/api/v4/systems/1002/summary", TEAM, None),
        ("/api/v2/systems/1002/summary", None, V2),
    ):
        for _ in range(2):  # fetched, then from the cache
            answer = client.get(path, headers=headers, params=params)
            directive, _, seconds = answer.headers["Cache-Control"].partition("=")
            assert directive == "max-age" and 0 < int(seconds) <= summary_ttl, answer.headers


def test_hits_in_the_same_second_of_age_share_one_build_of_their_headers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A memoized answer's hit is the same outcome for a second of age, its headers built
    once (building them per hit cost a tenth of it)."""
    built: list[runner.Outcome] = []
    build = runner.outcome_headers

    def counted(outcome: runner.Outcome) -> list[tuple[bytes, bytes]]:
        built.append(outcome)
        return build(outcome)

    monkeypatch.setattr(runner, "outcome_headers", counted)
    rendered = runner.Rendered(runner.Outcome(200, b"{}", (), "MISS", 0, 300), (("k", 1000.0),), 9)
    for now in (1725.0, 1725.5, 1725.9, 1726.0):
        headers = dict(rendered.as_hit(now).raw_headers)
    assert len(built) == 2 and headers[b"age"] == b"726"


def test_a_hit_sent_gzipped_leaves_the_next_plain_hit_whole(client: httpx2.Client) -> None:
    path = "/api/v2/systems/1001/stats"
    client.get(path, params=V2)
    packed = client.get(path, params=V2, headers={"Accept-Encoding": "gzip"})
    plain = client.get(path, params=V2, headers={"Accept-Encoding": "identity"})
    assert packed.headers["content-encoding"] == "gzip" and plain.headers["x-cache"] == "HIT"
    assert "content-encoding" not in plain.headers and "vary" not in plain.headers
    assert int(plain.headers["content-length"]) == len(plain.content) and plain.json()
