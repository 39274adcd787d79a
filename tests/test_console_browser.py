"""The console in a real headless Chromium: refused without the key, then every tenant drawn."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from tests import support

pytestmark = pytest.mark.slow

ADMIN_KEY = "test-admin-key"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
#: A second tenant nobody has authorized yet: the console must say how to fix it.
HOMEOWNER = """
[[tenants]]
name = "homeowner"
user_ids = ["homeowner-user"]
api_key = "sandbox-watt-key"
client_id = "sandbox-watt-client"
client_secret = "sandbox-watt-secret"
plan = "watt"
grant = "authorization_code"
"""


@pytest.fixture(scope="module")
def console_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A proxy with the demo tenant (with some traffic) and an unauthorized homeowner tenant."""
    data_dir = tmp_path_factory.mktemp("console")
    with support.sandbox() as (sandbox_url, _):
        config = support.proxy_config(sandbox_url, data_dir, HOMEOWNER)
        with support.proxy(config) as url:
            auth = {"key": "demo-v2-key", "user_id": "demo-user"}
            for system in (1001, 1002, 1001, 1003):
                httpx2.get(f"{url}/api/v2/systems/{system}/summary", params=auth, timeout=30)
            yield url


def chromium() -> str:
    """Debian's chromium binary (tests/run.sh installs it)."""
    binary = shutil.which("chromium")
    if binary is None:
        raise RuntimeError("chromium is not installed (apt-get install chromium)")
    return binary


def test_console_in_headless_chromium(console_url: str, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"),
            executable_path=chromium(),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 900},
        )
        urls: list[str] = []
        page = context.new_page()
        page.on("request", lambda request: urls.append(request.url))

        # refused without the key: a login form, and no state
        page.goto(console_url + "/console")
        expect(page.locator("input[name=key]")).to_be_visible()
        assert page.locator("article.tenant").count() == 0
        status = page.evaluate("fetch('/console/api/state').then(r => r.status)")
        assert status == 401
        page.fill("input[name=key]", "not-the-key")
        page.click("button[type=submit]")
        expect(page.locator(".error")).to_have_text("That is not the admin key.")
        assert page.locator("article.tenant").count() == 0

        page.fill("input[name=key]", ADMIN_KEY)
        page.click("button[type=submit]")
        demo = page.locator("article.tenant[data-tenant=demo]")
        homeowner = page.locator("article.tenant[data-tenant=homeowner]")
        expect(demo).to_be_visible()
        expect(demo.locator(".badge")).to_have_text("ok")
        expect(homeowner.locator(".badge")).to_have_text("needs re-authorization")
        expect(homeowner.locator(".fix")).to_have_text(
            "enphase-proxy auth login --tenant homeowner"
        )
        for card in (demo, homeowner):
            chart = card.locator("svg.burndown")
            expect(chart).to_be_visible()
            assert chart.locator("circle.point").count() >= 1
            assert chart.locator("polyline.allowed").count() == 1
            assert chart.locator("polyline.forecast").count() == 1
        expect(demo).to_contain_text("3 of 1,000,000 used")
        assert page.locator("svg.traffic circle.upstream").count() == 24
        expect(page.locator("#clients")).to_contain_text("legacy")

        cookies = {c["name"]: c for c in context.cookies()}
        session = cookies["console_session"]
        assert session["httpOnly"] and session["sameSite"] == "Strict"
        assert page.evaluate("document.cookie") == ""
        assert not [url for url in urls if ADMIN_KEY in url]

        screenshot = tmp_path / "console.png"
        page.screenshot(path=str(screenshot), full_page=True)
        print(f"console screenshot: {screenshot}")
        assert screenshot.stat().st_size > 10_000
        context.close()
