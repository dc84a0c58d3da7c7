"""Under Safe custody the owners sign the revocation of the agent's role from the dashboard: the
stop banner shows the pre-built Safe transaction (safeTxHash, nonce, what it does, signatures
so far against the threshold, the EIP-712 typed data to sign), and an approver pastes owners'
signatures into it until the revocation executes. Over the application fakes (owner i signs
with 65 bytes of i + 1): the chain side is proven by tests/integration/service/
test_stop_revocation.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import sign_in
from tests.browser.servers import DashboardServer, fake_dashboard_server
from tests.unit.application.test_owner_signatures import OWNERS, signature_of

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server() -> Iterator[DashboardServer]:
    """The dashboard over fakes with Safe custody's emergency stop."""
    with fake_dashboard_server(safe_custody=True) as running:
        yield running


def paste(page: Page, signature: bytes, signer: str = "") -> None:
    """Paste an owner's signature into the banner's form and submit it."""
    page.get_by_label("Owner's signature (0x…, 65 bytes)").fill("0x" + signature.hex())
    page.get_by_label("The owner who signed (checked)").select_option(signer)
    page.get_by_role("button", name="Submit signature").click()


def test_owners_sign_the_revocation_from_the_stop_banner_until_it_executes(
    page: Page, server: DashboardServer
) -> None:
    sign_in(page, server, server.approver)
    expect(page.locator("#revocation")).to_have_count(0)
    page.get_by_role("button", name="Emergency stop…").click()
    page.get_by_label("Reason (required, kept in the audit log)").fill("revocation drill")
    page.locator("#stop-dialog").get_by_role("button", name="Stop everything").click()

    banner = page.locator("#revocation")
    expect(banner).to_contain_text("Revocation of the agent's role")
    expect(page.locator("#revocation-hash")).to_have_text("0x" + "cd" * 32)
    expect(banner).to_contain_text("at Safe nonce 3")
    expect(banner).to_contain_text("assignRoles(agent, [role], [false])")
    expect(page.locator("#revocation-count")).to_have_text("signed by 0 of 2 owners")
    page.get_by_text("EIP-712 typed data an owner signs").click()
    expect(page.locator("#revocation-typed-data")).to_contain_text('"primaryType": "SafeTx"')

    # Not hex of 65 bytes: refused in the page, nothing sent.
    page.get_by_label("Owner's signature (0x…, 65 bytes)").fill("0x1234")
    page.get_by_role("button", name="Submit signature").click()
    expect(page.locator("#revocation-error")).to_contain_text("130 hex digits")
    # Owner 1's signature in owner 2's name: the service refuses it in one line.
    paste(page, signature_of(0), OWNERS[1])
    expect(page.locator("#revocation-error")).to_contain_text(
        f"recovers to {OWNERS[0]}, not to {OWNERS[1]}"
    )
    expect(page.locator("#revocation-count")).to_have_text("signed by 0 of 2 owners")

    paste(page, signature_of(0), OWNERS[0])
    expect(page.locator("#notice")).to_contain_text("1 of 2 owners have signed")
    expect(page.locator("#revocation-count")).to_have_text("signed by 1 of 2 owners")
    paste(page, signature_of(1))
    expect(page.locator("#notice")).to_contain_text("The agent's role is revoked")
    expect(page.locator("#revocation")).to_have_count(0)
    expect(page.locator("#stop-state")).to_have_attribute("data-stopped", "true")
    with server.client(server.viewer) as api:
        assert api.get("/emergency-stop/revocation").status_code == 404
        audit = api.get("/audit", params={"count": 100}).json()
    signed = [
        e["payload"]["signer"] for e in audit if e["action"] == "emergency_stop.revoke_signed"
    ]
    assert sorted(signed) == sorted(OWNERS[:2])


def test_a_viewer_sees_the_revocation_but_no_signature_form(
    page: Page, server: DashboardServer
) -> None:
    with server.client(server.operator) as api:
        assert api.post("/emergency-stop", json={"reason": "viewer drill"}).status_code == 200
    sign_in(page, server, server.viewer)
    expect(page.locator("#revocation")).to_contain_text("Revocation of the agent's role")
    expect(page.locator("#revocation-form")).to_have_count(0)
    expect(page.locator("#revocation")).to_contain_text("needs the approver role")
