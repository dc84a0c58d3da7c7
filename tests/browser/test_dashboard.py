"""The dashboard in a real browser against a real server: live data, approvals, emergency
stop, roles, and screenshots at desktop and phone sizes."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, Page, ViewportSize, expect

from entrypoints.api.app import performance_metrics
from tests.browser.conftest import DESKTOP, PHONE, SCREENSHOTS, sign_in
from tests.browser.servers import DashboardServer, fake_dashboard_server

pytestmark = pytest.mark.browser


def test_the_page_loads_with_live_data_after_sign_in(page: Page, server: DashboardServer) -> None:
    sign_in(page, server, server.viewer)
    expect(page.locator("#role-badge")).to_contain_text("viewer")
    expect(page.locator("#btc-price")).to_have_text(re.compile(r"^\$\d{1,3}(,\d{3})*\.\d\d$"))
    expect(page.locator("#panel-positions tbody tr")).to_have_count(5)
    expect(page.locator("#panel-health")).to_contain_text("database")
    expect(page.locator("#panel-signal")).to_contain_text("Trigger")
    expect(page.locator("#panel-transactions tbody tr").first).to_contain_text("confirmed")
    expect(page.locator("#panel-audit li").first).to_contain_text("#")
    expect(page.locator("svg.gauge title")).to_have_text("MVRV Z on the tactical ladder")
    # The token is only in this tab's session storage: not in the URL, the page or localStorage.
    assert server.viewer not in page.url
    assert server.viewer not in page.content()
    assert page.evaluate("localStorage.length") == 0
    assert page.evaluate("sessionStorage.getItem('treasury.token')") == server.viewer


def test_an_endpoint_the_server_lacks_shows_not_available_instead_of_data(page: Page) -> None:
    # A server without the metrics endpoint (as before it existed), the rest as usual.
    with fake_dashboard_server(without=[performance_metrics]) as lacking:
        with lacking.client(lacking.viewer) as api:
            assert api.get("/performance/metrics", params={"time_range": "7d"}).status_code == 404
        sign_in(page, lacking, lacking.viewer)
        panel = page.locator("#panel-performance")
        expect(panel.locator('[data-state="not-available"]')).to_contain_text("not available yet")
        expect(panel.locator("svg")).to_have_count(0)
        expect(page.locator("#panel-positions tbody tr").first).to_be_visible()


def test_a_value_updates_without_reload(page: Page, server: DashboardServer) -> None:
    sign_in(page, server, server.viewer)
    page.evaluate("window.loadedOnce = 'yes'")
    before = page.locator("#btc-price").inner_text()
    server.move_market()
    expect(page.locator("#btc-price")).not_to_have_text(before, timeout=30_000)
    assert page.evaluate("window.loadedOnce") == "yes", "the page reloaded"


def test_a_pending_decision_is_approved_from_the_page_and_leaves_the_queue(
    page: Page, server: DashboardServer
) -> None:
    decision_id = server.create_pending_decision()
    sign_in(page, server, server.approver)
    row = page.locator(f'li.decision[data-decision-id="{decision_id}"]')
    expect(row).to_be_visible()
    row.get_by_role("button", name=f"Approve decision {decision_id}").click()
    dialog = page.locator("#decision-dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text(f"Approve {decision_id}?")
    page.get_by_label("Notes (kept in the audit log)").fill("checked the targets against the plan")
    dialog.get_by_role("button", name="Confirm approval").click()
    expect(dialog).to_be_hidden()
    expect(row).to_have_count(0)
    with server.client() as api:
        decision = api.get(f"/decisions/{decision_id}").json()
        pending = api.get("/decisions/pending").json()
    assert decision["status"] in {"approved", "executing", "executed"}
    assert decision["notes"] == "checked the targets against the plan"
    assert decision["approver"].startswith("approver:")
    assert decision_id not in [d["id"] for d in pending]


def test_cancelling_the_confirmation_leaves_the_decision_pending(
    page: Page, server: DashboardServer
) -> None:
    decision_id = server.create_pending_decision()
    sign_in(page, server, server.approver)
    page.get_by_role("button", name=f"Reject decision {decision_id}").click()
    page.locator("#decision-dialog").get_by_role("button", name="Cancel").click()
    expect(page.locator("#decision-dialog")).to_be_hidden()
    with server.client() as api:
        assert api.get(f"/decisions/{decision_id}").json()["status"] == "pending"
    page.get_by_role("button", name=f"Reject decision {decision_id}").click()
    page.get_by_label("Notes (kept in the audit log)").fill("too large for today")
    page.get_by_role("button", name="Confirm rejection").click()
    expect(page.locator(f'li.decision[data-decision-id="{decision_id}"]')).to_have_count(0)
    with server.client() as api:
        assert api.get(f"/decisions/{decision_id}").json()["status"] == "rejected"


def test_a_viewer_token_cannot_approve(page: Page, server: DashboardServer) -> None:
    decision_id = server.create_pending_decision()
    sign_in(page, server, server.viewer)
    approve = page.get_by_role("button", name=f"Approve decision {decision_id}")
    expect(approve).to_be_disabled()
    expect(page.get_by_role("button", name="Emergency stop…")).to_be_disabled()
    expect(page.locator("#panel-pending")).to_contain_text("viewer role can see the queue")
    # Even a request forced past the disabled button is refused by the server.
    status = page.evaluate(
        """async (id) => (await fetch(`/decisions/${id}/approve`, {
            method: "POST",
            headers: {"Content-Type": "application/json",
                      "Authorization": "Bearer " + sessionStorage.getItem("treasury.token")},
            body: JSON.stringify({approved: true})})).status""",
        decision_id,
    )
    assert status == 403
    with server.client() as api:
        assert api.get(f"/decisions/{decision_id}").json()["status"] == "pending"
    # Tidy up so later tests see an empty queue.
    with server.client(server.approver) as api:
        api.post(f"/decisions/{decision_id}/approve", json={"approved": False, "notes": "test"})


def test_emergency_stop_works_from_the_page_and_an_approver_resumes(
    page: Page, server: DashboardServer
) -> None:
    sign_in(page, server, server.approver)
    page.get_by_role("button", name="Emergency stop…").click()
    dialog = page.locator("#stop-dialog")
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Stop everything").click()
    expect(dialog).to_contain_text("A reason is required.")
    page.get_by_label("Reason (required, kept in the audit log)").fill("browser test drill")
    dialog.get_by_role("button", name="Stop everything").click()
    expect(dialog).to_be_hidden()
    expect(page.locator("#stop-state")).to_have_attribute("data-stopped", "true")
    with server.client() as api:
        assert api.get("/health").json()["emergency_stop"] is True
    with server.client(server.operator) as api:
        refused = api.post("/portfolio/rebalance", json={"force": True})
    assert refused.status_code != 202
    page.get_by_role("button", name="Resume trading…").click()
    page.get_by_label("Reason (required, kept in the audit log)").fill("drill over")
    page.locator("#stop-dialog").get_by_role("button", name="Resume").click()
    expect(page.locator("#stop-state")).to_have_attribute("data-stopped", "false")
    with server.client() as api:
        assert api.get("/health").json()["emergency_stop"] is False


def test_a_wrong_token_is_refused_at_sign_in(page: Page, server: DashboardServer) -> None:
    page.goto(server.url + "/")
    page.get_by_label("API token").fill("not-a-real-token-000000")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#sign-in-error")).to_have_text("That token is not valid.")
    expect(page.locator("#main")).to_be_hidden()
    assert page.evaluate("sessionStorage.getItem('treasury.token')") is None


@pytest.mark.parametrize(
    ("name", "viewport", "scheme"),
    [
        pytest.param("desktop", DESKTOP, "light", id="desktop"),
        pytest.param("phone", PHONE, "light", id="phone"),
        pytest.param("desktop-dark", DESKTOP, "dark", id="desktop-dark"),
        pytest.param("phone-dark", PHONE, "dark", id="phone-dark"),
    ],
)
def test_screenshots_of_the_main_page_are_written(
    browser: Browser, server: DashboardServer, name: str, viewport: ViewportSize, scheme: str
) -> None:
    server.create_pending_decision()
    context = browser.new_context(
        viewport=viewport,
        color_scheme=scheme,  # type: ignore[arg-type]
        device_scale_factor=1,
        is_mobile=viewport["width"] < 500,
    )
    tab = context.new_page()
    try:
        sign_in(tab, server, server.approver)
        expect(tab.locator("li.decision").first).to_be_visible()
        # No horizontal scrolling of the page itself, even on a phone.
        assert tab.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"dashboard-{name}.png"
        tab.screenshot(path=str(path), full_page=True)
        assert path.stat().st_size > 10_000
    finally:
        context.close()
        with server.client() as api:
            pending = api.get("/decisions/pending").json()
        with server.client(server.approver) as api:
            for d in pending:
                api.post(f"/decisions/{d['id']}/approve", json={"approved": False})


def test_the_keyboard_alone_signs_in_and_closes_a_confirmation(
    page: Page, server: DashboardServer
) -> None:
    decision_id = server.create_pending_decision()
    page.goto(server.url + "/")
    expect(page.get_by_label("API token")).to_be_focused()
    page.keyboard.type(server.approver)
    page.keyboard.press("Enter")
    approve = page.get_by_role("button", name=f"Approve decision {decision_id}")
    approve.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#decision-dialog")).to_be_visible()
    expect(page.get_by_label("Notes (kept in the audit log)")).to_be_focused()
    page.keyboard.press("Escape")
    expect(page.locator("#decision-dialog")).to_be_hidden()
    with server.client() as api:
        assert api.get(f"/decisions/{decision_id}").json()["status"] == "pending"
    with server.client(server.approver) as api:
        api.post(f"/decisions/{decision_id}/approve", json={"approved": False})
