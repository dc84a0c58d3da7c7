"""`treasury safe create|info` against an anvil node, as a person runs them."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from entrypoints.cli.main import app
from tests.integration.devchain.fixtures import Deployment
from tests.integration.safe.test_safe_deploy import OWNERS

pytestmark = pytest.mark.anvil


def test_safe_create_then_info_on_anvil(
    anvil_deployment: Deployment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert anvil_deployment.rpc_url is not None
    anvil_deployment.book.save(tmp_path / "devchain" / "address_book.json")
    monkeypatch.setenv("TREASURY_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("TREASURY_SAFE_ADDRESS", raising=False)
    runner = CliRunner()
    created = runner.invoke(
        app,
        [
            "safe",
            "create",
            "--rpc-url",
            anvil_deployment.rpc_url,
            *[arg for owner in OWNERS for arg in ("--owner", owner)],
            "--threshold",
            "2",
            "--usdc",
            "5000",
            "--salt-nonce",
            "7",
            "--json",
        ],
    )
    assert created.exit_code == 0, created.output
    book = json.loads(created.output)
    assert book["threshold"] == 2
    assert (tmp_path / "devchain" / "safe_book.json").is_file()

    shown = runner.invoke(app, ["safe", "info", "--rpc-url", anvil_deployment.rpc_url, "--json"])
    assert shown.exit_code == 0, shown.output
    info = json.loads(shown.output)
    assert info["address"] == book["safe"]
    assert info["version"] == "1.4.1"
    assert sorted(info["owners"]) == sorted(OWNERS)
    assert info["threshold"] == 2
    assert {k: Decimal(v) for k, v in info["balances"].items()} == {"USDC": Decimal(5000)}
    assert Decimal(info["eth"]) == 1

    # A second Safe reuses the shared contracts the book names.
    again = runner.invoke(
        app,
        [
            "safe",
            "create",
            "--rpc-url",
            anvil_deployment.rpc_url,
            "--owner",
            OWNERS[0],
            "--salt-nonce",
            "8",
            "--json",
        ],
    )
    assert again.exit_code == 0, again.output
    assert json.loads(again.output)["contracts"] == book["contracts"]


def test_safe_create_refuses_a_threshold_above_its_owners_in_one_line(
    anvil_deployment: Deployment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert anvil_deployment.rpc_url is not None
    anvil_deployment.book.save(tmp_path / "devchain" / "address_book.json")
    monkeypatch.setenv("TREASURY_DATA_DIR", str(tmp_path))
    result = CliRunner().invoke(
        app,
        [
            "safe",
            "create",
            "--rpc-url",
            anvil_deployment.rpc_url,
            "--owner",
            OWNERS[0],
            "--threshold",
            "2",
        ],
    )
    assert result.exit_code != 0
    assert "threshold 2 must be between 1 and 1" in result.output


def test_safe_info_without_a_node_names_the_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TREASURY_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("TREASURY_DEVCHAIN_RPC_URL", raising=False)
    result = CliRunner().invoke(app, ["safe", "info"])
    assert result.exit_code != 0
    assert "TREASURY_DEVCHAIN_RPC_URL" in result.output
