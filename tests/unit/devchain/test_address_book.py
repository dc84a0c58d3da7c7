"""The dev chain address book: JSON round trip, lookups and refusal of foreign files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from adapters.chain.devchain.address_book import AddressBook, AddressBookUnreadable

USDC = "0x" + "a0" * 20


def book() -> AddressBook:
    return AddressBook(
        chain_id=31337,
        block=42,
        deployer="0x" + "01" * 20,
        tokens={"USDC": USDC, "WETH": "0x" + "c0" * 20},
        decimals={"USDC": 6, "WETH": 18},
        oracle="0x" + "02" * 20,
        aave_pool="0x" + "03" * 20,
        a_tokens={"USDC": "0x" + "04" * 20},
        router="0x" + "05" * 20,
        pendle_expiry=1_800_000_000,
        funded=("0x" + "06" * 20,),
    )


def test_address_book_survives_a_json_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "book.json"
    book().save(path)
    assert AddressBook.load(path) == book()
    assert json.loads(path.read_text())["chain_id"] == 31337


def test_tokens_are_found_by_symbol_and_by_address_in_any_case() -> None:
    assert book().token("usdc") == USDC
    assert book().symbol_of(USDC.upper().replace("0X", "0x")) == "USDC"
    assert book().symbol_of("0x" + "ff" * 20) is None


def test_contracts_lists_only_deployed_addresses() -> None:
    contracts = book().contracts()
    assert contracts["router"] == "0x" + "05" * 20
    assert "curve_pool" not in contracts
    assert contracts["aToken:USDC"] == "0x" + "04" * 20


@pytest.mark.parametrize(
    "content",
    [
        pytest.param("[]", id="not an object"),
        pytest.param('{"version": 99}', id="unknown version"),
        pytest.param('{"version": 1, "chain_id": 1}', id="missing fields"),
    ],
)
def test_a_file_that_is_not_an_address_book_is_refused_with_its_path(
    tmp_path: Path, content: str
) -> None:
    path = tmp_path / "book.json"
    path.write_text(content)
    with pytest.raises(AddressBookUnreadable, match=str(path)):
        AddressBook.load(path)
