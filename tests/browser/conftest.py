"""Browser tests: Debian's chromium driven by Playwright against a real HTTP server."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, ViewportSize, expect, sync_playwright

from tests.browser.servers import DashboardServer, paper_dashboard_server
from tests.servers import require_server

# The browser tests run against a real `treasury paper` process. `fake_dashboard_server` (the
# same app over in-memory fakes) is kept for quick local runs of the page alone.
start_server = paper_dashboard_server

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
DESKTOP: ViewportSize = {"width": 1440, "height": 900}
PHONE: ViewportSize = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def server() -> Iterator[DashboardServer]:
    """One running service with the dashboard for the module's tests."""
    with start_server() as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Headless Debian chromium; skipped locally (failed under CI) when it is not installed."""
    found = CHROMIUM.exists() or shutil.which("chromium") is not None
    require_server("chromium", found, "apt-get install -y chromium chromium-driver")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM if CHROMIUM.exists() else shutil.which("chromium")),
            args=CHROMIUM_FLAGS,
            headless=True,
        )
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh tab (its own session storage) at desktop size."""
    context = browser.new_context(viewport=DESKTOP)
    tab = context.new_page()
    tab.set_default_timeout(15_000)
    yield tab
    context.close()


def sign_in(page: Page, server: DashboardServer, token: str) -> None:
    """Open the dashboard, sign in with a token, and wait for the live panels."""
    page.goto(server.url + "/")
    page.get_by_label("API token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#main")).to_be_visible()
    expect(page.locator("#btc-price")).to_contain_text("$")
