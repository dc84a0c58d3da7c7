"""Dev chain settings: defaults under the data dir, environment overrides, a hidden API key."""

from __future__ import annotations

from pathlib import Path

import pytest

from entrypoints.settings.devchain import DevChainSettings


def test_defaults_are_in_process_with_the_book_under_the_data_dir(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in (
        "TREASURY_DEVCHAIN_RPC_URL",
        "TREASURY_DEVCHAIN_ADDRESS_BOOK",
        "TREASURY_DATA_DIR",
        "TREASURY_DEVCHAIN_COMPILE_CACHE",
    ):
        monkeypatch.delenv(name, raising=False)
    settings = DevChainSettings()
    assert settings.devchain_rpc_url is None
    assert settings.resolved_address_book() == Path("var/devchain/address_book.json")
    assert settings.compile_cache_dir() == Path("var/devchain/compiled")


def test_the_compile_cache_may_be_shared(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TREASURY_DEVCHAIN_COMPILE_CACHE", str(tmp_path / "shared"))
    assert DevChainSettings().compile_cache_dir() == tmp_path / "shared"


def test_environment_selects_a_node_and_a_book(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TREASURY_DEVCHAIN_RPC_URL", "http://127.0.0.1:8545")
    monkeypatch.setenv("TREASURY_DEVCHAIN_ADDRESS_BOOK", "/srv/treasury/book.json")
    settings = DevChainSettings()
    assert settings.devchain_rpc_url == "http://127.0.0.1:8545"
    assert settings.resolved_address_book() == Path("/srv/treasury/book.json")


def test_the_fake_oneinch_key_never_appears_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TREASURY_DEVCHAIN_ONEINCH_API_KEY", "s3cret-devchain-key")
    settings = DevChainSettings()
    assert "s3cret-devchain-key" not in repr(settings)
    assert "s3cret-devchain-key" not in str(settings.model_dump())
    assert settings.devchain_oneinch_api_key.get_secret_value() == "s3cret-devchain-key"
