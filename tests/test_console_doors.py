"""The console's doors (issue 22, findings 5, 7, 8): failed logins refused past a limit, sessions
that end at sign-out on every worker, security headers on every page, POSTs only from the
console's origin, and Secure cookies behind a trusted proxy that says https."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from tests import support

ADMIN_KEY = "test-admin-key"
SERVER = 'trusted_proxies = ["127.0.0.2"]\n'
SECURITY_HEADERS = {
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
}
PAGES = [
    "/console",
    "/console/static/login.html",
    "/console/static/console.html",
    "/console/static/console.js",
    "/console/static/console.css",
]


def from_address(url: str, address: str) -> httpx2.Client:
    """A client of ``url`` whose connections come from ``address`` (in 127.0.0.0/8)."""
    transport = httpx2.HTTPTransport(local_address=address)
    return httpx2.Client(base_url=url, transport=transport, timeout=30)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`serve` with two workers sharing the file store, trusting 127.0.0.2 as a proxy."""
    tmp_path: Path = tmp_path_factory.mktemp("doors")
    with support.sandbox() as (sandbox_url, _):
        text = support.config_text(sandbox_url, tmp_path, server=SERVER)
        config_path = tmp_path / "proxy.toml"
        config_path.write_text(text.replace('backend = "memory"', 'backend = "file"'))
        with support.serve_process(config_path, 2) as url:
            yield url


def login(client: httpx2.Client, key: str = ADMIN_KEY, **headers: str) -> httpx2.Response:
    """POST the login form."""
    return client.post("/console/login", data={"key": key}, headers=headers)


@pytest.mark.slow
def test_the_eleventh_wrong_login_within_a_minute_is_refused(served: str) -> None:
    """Ten wrong keys from one address get 401; the 11th, and even the right key, get 429 with
    Retry-After; another address still signs in; the failures are logged without the key."""
    with from_address(served, "127.0.0.3") as attacker:
        statuses = [login(attacker, f"guess-{n}").status_code for n in range(10)]
        assert statuses == [401] * 10
        eleventh = login(attacker, "guess-10")
        assert eleventh.status_code == 429
        assert 0 < int(eleventh.headers["retry-after"]) <= 60
        assert login(attacker).status_code == 429
    with from_address(served, "127.0.0.4") as other:
        assert login(other).status_code == 303
    log = support.SERVE_LOGS[-1].read_text()
    assert log.count("console login from 127.0.0.3 failed") == 10
    assert "guess-" not in log


@pytest.mark.slow
def test_a_signed_out_cookie_is_refused_by_every_worker(served: str) -> None:
    """A copied session cookie reads the state until its session signs out, then never again,
    whichever worker answers."""
    with httpx2.Client(base_url=served, timeout=30) as browser:
        assert login(browser).status_code == 303
        cookie = {"Cookie": f"console_session={browser.cookies['console_session']}"}
        copied = [httpx2.get(served + "/console/api/state", headers=cookie) for _ in range(4)]
        assert [r.status_code for r in copied] == [200] * 4
        assert browser.post("/console/logout").status_code == 303
    after = [httpx2.get(served + "/console/api/state", headers=cookie) for _ in range(8)]
    assert [r.status_code for r in after] == [401] * 8


@pytest.mark.slow
def test_every_console_page_refuses_framing(served: str) -> None:
    """The page and each static file carry the security headers, frame-ancestors 'none'."""
    for path in PAGES:
        reply = httpx2.get(served + path)
        assert reply.status_code == 200, path
        assert {k: reply.headers.get(k) for k in SECURITY_HEADERS} == SECURITY_HEADERS, path
        assert "frame-ancestors 'none'" in reply.headers["content-security-policy"], path


@pytest.mark.slow
def test_console_posts_from_another_origin_are_refused(served: str) -> None:
    """A login or sign-out posted from another origin is refused; from the console's, it works."""
    host = served.removeprefix("http://")
    with httpx2.Client(base_url=served, timeout=30) as browser:
        refused = login(browser, Origin="http://evil.example")
        assert refused.status_code == 403 and "set-cookie" not in refused.headers
        assert login(browser, Origin=f"http://{host}").status_code == 303
        evil = browser.post("/console/logout", headers={"Origin": "http://evil.example"})
        assert evil.status_code == 403
        assert browser.get("/console/api/state").status_code == 200  # still signed in
        assert browser.post("/console/logout", headers={"Origin": served}).status_code == 303
        assert browser.get("/console/api/state").status_code == 401


@pytest.mark.slow
def test_the_cookie_is_secure_behind_a_trusted_proxy_that_says_https(served: str) -> None:
    """X-Forwarded-Proto: https makes the cookie Secure from a trusted proxy only."""
    https = {"X-Forwarded-Proto": "https"}
    with from_address(served, "127.0.0.2") as proxied:
        cookie = login(proxied, **https).headers["set-cookie"]
        assert "secure" in cookie.lower().split("; ")
    with from_address(served, "127.0.0.5") as direct:
        cookie = login(direct, **https).headers["set-cookie"]
        assert "secure" not in cookie.lower().split("; ")
