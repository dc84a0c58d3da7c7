"""Custody settings: eoa by default, addresses checked, the threshold fits the owners."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from entrypoints.settings.custody import Custody, CustodySettings

A = "0x1111111111111111111111111111111111111111"
B = "0x2222222222222222222222222222222222222222"


def test_custody_is_eoa_unless_set(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TREASURY_CUSTODY", "TREASURY_SAFE_ADDRESS", "TREASURY_SAFE_OWNERS"):
        monkeypatch.delenv(name, raising=False)
    settings = CustodySettings()
    assert settings.custody is Custody.EOA
    assert settings.safe_address is None
    assert settings.owners() == []


def test_safe_custody_reads_address_owners_and_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TREASURY_CUSTODY", "safe")
    monkeypatch.setenv("TREASURY_SAFE_ADDRESS", A)
    monkeypatch.setenv("TREASURY_SAFE_OWNERS", f" {A}, {B} ")
    monkeypatch.setenv("TREASURY_SAFE_THRESHOLD", "2")
    settings = CustodySettings()
    assert settings.custody is Custody.SAFE
    assert settings.safe_address == A
    assert settings.owners() == [A, B]
    assert settings.safe_threshold == 2


def test_a_threshold_above_the_owner_count_names_both_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TREASURY_SAFE_OWNERS", A)
    monkeypatch.setenv("TREASURY_SAFE_THRESHOLD", "2")
    with pytest.raises(
        ValidationError, match="TREASURY_SAFE_THRESHOLD is 2 but TREASURY_SAFE_OWNERS"
    ):
        CustodySettings()


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("TREASURY_SAFE_OWNERS", f"{A},0x12", "TREASURY_SAFE_OWNERS must list 0x addresses"),
        ("TREASURY_SAFE_OWNERS", f"{A},{A.upper().replace('0X', '0x')}", "an address twice"),
        ("TREASURY_SAFE_ADDRESS", "safe.eth", "TREASURY_SAFE_ADDRESS must be a 0x address"),
        ("TREASURY_CUSTODY", "multisig", "custody"),
    ],
)
def test_bad_custody_settings_are_named(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError, match=message):
        CustodySettings()


def test_the_transaction_service_url_is_optional_and_checked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("TREASURY_SAFE_TX_SERVICE_URL", raising=False)
    assert CustodySettings().tx_service_url() is None
    monkeypatch.setenv("TREASURY_SAFE_TX_SERVICE_URL", " ")
    assert CustodySettings().tx_service_url() is None
    monkeypatch.setenv(
        "TREASURY_SAFE_TX_SERVICE_URL", "https://safe-transaction-mainnet.safe.global/"
    )
    assert CustodySettings().tx_service_url() == "https://safe-transaction-mainnet.safe.global"
    monkeypatch.setenv("TREASURY_SAFE_TX_SERVICE_URL", "safe-transaction-mainnet.safe.global")
    with pytest.raises(ValidationError, match="TREASURY_SAFE_TX_SERVICE_URL must be an http"):
        CustodySettings()
