"""Dev chain settings (env prefix `TREASURY_`).

`TREASURY_DEVCHAIN_RPC_URL`: a JSON-RPC node (e.g. anvil) for paper mode; unset means an
in-process EVM. `TREASURY_DEVCHAIN_ADDRESS_BOOK` (default `<data dir>/devchain/address_book.json`).
`TREASURY_DEVCHAIN_ONEINCH_API_KEY`: the Bearer key the fake 1inch API accepts in paper mode.
`TREASURY_DEVCHAIN_DEPLOYER_KEY`: a private key to deploy with, for a node that has no unlocked
accounts (anvil and eth-tester have them, so it is usually unset).
`TREASURY_DEVCHAIN_COMPILE_CACHE` (default `<data dir>/devchain/compiled`): compiled contracts,
keyed by a hash of the source and the Vyper version, so any directory may be shared.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATA_DIR = Path("var")


class DevChainSettings(BaseSettings):
    """Where the dev chain runs and where its address book lives."""

    model_config = SettingsConfigDict(env_prefix="TREASURY_", extra="ignore")

    data_dir: Path = DEFAULT_DATA_DIR
    devchain_rpc_url: str | None = None
    devchain_address_book: Path | None = None
    devchain_oneinch_api_key: SecretStr = SecretStr("paper-mode-1inch-key")
    devchain_deployer_key: SecretStr | None = None
    devchain_compile_cache: Path | None = None

    def deployer_key(self) -> str | None:
        """The deployer private key, if one is set (a secret: pass it on, never print it)."""
        if self.devchain_deployer_key is None or not self.devchain_deployer_key.get_secret_value():
            return None
        return self.devchain_deployer_key.get_secret_value()

    def resolved_address_book(self) -> Path:
        """The address book path."""
        if self.devchain_address_book is not None:
            return self.devchain_address_book
        return self.data_dir / "devchain" / "address_book.json"

    def compile_cache_dir(self) -> Path:
        """Where compiled contracts are cached between runs."""
        if self.devchain_compile_cache is not None:
            return self.devchain_compile_cache
        return self.data_dir / "devchain" / "compiled"
