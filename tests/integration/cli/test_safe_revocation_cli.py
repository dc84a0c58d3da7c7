"""`treasury safe revocation` and `treasury safe sign-revocation` over HTTP against a real server
holding a fake treasury under Safe custody (owner i signs with 65 bytes of i + 1): shown, the
typed data alone for a wallet, refused inputs in one line with their exit codes, then two
owners' signatures revoke the agent's role."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from entrypoints.cli.main import app
from tests.browser.servers import DashboardServer, fake_dashboard_server
from tests.unit.application.test_owner_signatures import OWNERS, signature_of

runner = CliRunner()


@pytest.fixture(scope="module")
def server() -> Iterator[DashboardServer]:
    with fake_dashboard_server(safe_custody=True) as running:
        yield running


def treasury(args: list[str], server: DashboardServer, token: str) -> tuple[int, str, str]:
    env = {
        "TREASURY_API_URL": server.url,
        "TREASURY_API_TOKEN": token,
        "TREASURY_DATA_DIR": "/nonexistent",
    }
    result = runner.invoke(app, ["safe", *args], env=env)
    return result.exit_code, result.stdout, result.stderr


def sign(server: DashboardServer, index: int, *extra: str) -> tuple[int, str, str]:
    signature = "0x" + signature_of(index).hex()
    return treasury(["sign-revocation", "--signature", signature, *extra], server, server.approver)


def test_the_owners_sign_the_revocation_from_the_cli(server: DashboardServer) -> None:
    code, _, err = treasury(["revocation"], server, server.viewer)
    assert (code, err.count("\n")) == (3, 1), err
    assert "404" in err
    with server.client(server.operator) as api:
        assert api.post("/emergency-stop", json={"reason": "cli drill"}).status_code == 200

    code, out, _ = treasury(["revocation"], server, server.viewer)
    assert code == 0
    assert "0x" + "cd" * 32 in out
    assert "0 of 2 owners" in out
    assert "cast wallet sign --data" in out
    code, out, _ = treasury(["revocation", "--typed-data"], server, server.viewer)
    assert code == 0
    assert json.loads(out) == {"primaryType": "SafeTx", "message": {"nonce": 3}}

    code, _, err = treasury(["sign-revocation", "--signature", "0x12"], server, server.approver)
    assert (code, err.count("\n")) == (2, 1), err
    assert "130 hex digits" in err
    code, _, err = sign(server, 0, "--signer", "0xnot")
    assert (code, err.count("\n")) == (2, 1), err
    code, _, err = treasury(
        ["sign-revocation", "--signature", "0x" + "09" * 65], server, server.approver
    )
    assert (code, err.count("\n")) == (2, 1), err
    assert "400" in err
    code, _, err = sign(server, 0, "--signer", OWNERS[1])
    assert code == 2
    assert f"recovers to {OWNERS[0]}, not to {OWNERS[1]}" in err
    code, _, err = treasury(
        ["sign-revocation", "--signature", "0x" + signature_of(0).hex()], server, server.viewer
    )
    assert code == 77, err

    code, out, _ = sign(server, 0, "--signer", OWNERS[0])
    assert code == 0
    assert f"signature of {OWNERS[0]} kept: 1 of 2 owners have signed" in out
    code, out, _ = sign(server, 1)
    assert code == 0
    assert "the agent's role is revoked (transaction 0x" + "77" * 32 in out
    code, _, err = sign(server, 2)
    assert code == 3, err
