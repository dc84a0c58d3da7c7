"""`treasury keystore new | import | address`: the key and passphrase never reach the output."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from eth_account import Account
from typer.testing import CliRunner

from adapters.chain.keystore import KeystoreSigner
from entrypoints.cli.main import app

PASSPHRASE = "a passphrase only this test knows"
KEY = "0x" + "6e" * 32  # a throwaway key


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The passphrase from the environment, the keystore in a temporary directory."""
    monkeypatch.setenv("TREASURY_KEYSTORE_PASSPHRASE", PASSPHRASE)
    path = tmp_path / "keystore.json"
    monkeypatch.setenv("TREASURY_KEYSTORE_PATH", str(path))
    return path


def _assert_no_secret(*texts: str) -> None:
    for text in texts:
        for secret in (PASSPHRASE, KEY, KEY.removeprefix("0x")):
            assert secret not in text


def test_import_then_address_prints_only_the_address(
    env: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    expected = Account.from_key(KEY).address
    imported = CliRunner().invoke(app, ["keystore", "import", "--key-stdin"], input=KEY + "\n")
    assert imported.exit_code == 0, imported.output
    assert imported.output.strip() == expected
    shown = CliRunner().invoke(app, ["keystore", "address"])
    assert shown.exit_code == 0, shown.output
    assert shown.output.strip() == expected
    assert KeystoreSigner.from_keystore(env, PASSPHRASE).address == expected
    _assert_no_secret(imported.output, shown.output, caplog.text, env.read_text())


def test_new_creates_a_fresh_key_and_refuses_to_overwrite_it(
    env: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    created = CliRunner().invoke(app, ["keystore", "new"])
    assert created.exit_code == 0, created.output
    address = created.output.strip()
    assert KeystoreSigner.from_keystore(env, PASSPHRASE).address == address
    again = CliRunner().invoke(app, ["keystore", "new"])
    assert again.exit_code == 1
    assert "already exists" in again.output
    assert KeystoreSigner.from_keystore(env, PASSPHRASE).address == address  # untouched
    _assert_no_secret(created.output, again.output, caplog.text)


def test_a_malformed_key_is_refused_without_echoing_it(
    env: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    bad = KEY[:-4] + "zzzz"
    result = CliRunner().invoke(app, ["keystore", "import", "--key-stdin"], input=bad + "\n")
    assert result.exit_code == 1
    assert result.output.startswith("error: ")
    assert not env.exists()
    for text in (result.output, caplog.text):
        assert bad.removeprefix("0x") not in text
        assert PASSPHRASE not in text
