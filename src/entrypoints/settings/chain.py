"""Chain settings: RPC nodes, keystore, execution settings, protocol API URLs.

The gas cap and the gas share are limits of the strategy (`settings/strategy.py`,
`TREASURY_GAS_CAP_GWEI`, `TREASURY_MAX_GAS_SHARE`): the executor gets them from the one
strategy configuration, as the policy and the prompt do.

`TREASURY_RPC_URL_ETHEREUM|ARBITRUM|BASE` (secrets: provider URLs often embed API keys),
`TREASURY_KEYSTORE_PATH`, `TREASURY_KEYSTORE_PASSPHRASE` or `TREASURY_KEYSTORE_PASSPHRASE_FILE`,
`TREASURY_CONFIRMATIONS`, `TREASURY_RECEIPT_TIMEOUT_SECONDS`, `TREASURY_REPLACE_AFTER_BLOCKS`,
`TREASURY_PRIORITY_FEE_PERCENTILE`, `TREASURY_ONEINCH_BASE_URL` (v6.0: `https://api.1inch.dev`;
v6.1: `https://api.1inch.com`), `TREASURY_ONEINCH_API_VERSION` (`v6.0` or `v6.1`),
`TREASURY_ONEINCH_API_KEY`,
`TREASURY_PENDLE_BASE_URL`, `TREASURY_CURVE_API_URL` (Curve's API, the source of the 3pool's base
APY), `TREASURY_DEFILLAMA_BASE_URL`, `TREASURY_DEFILLAMA_YIELDS_URL`.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from adapters.chain.addresses import ChainId
from adapters.chain.curve_api import DEFAULT_BASE_URL as CURVE_API_URL
from adapters.chain.oneinch import DEFAULT_API_VERSION
from application.ports.chain import KeystoreError


class ChainSettings(BaseSettings):
    """Chain and protocol settings (env prefix `TREASURY_`)."""

    model_config = SettingsConfigDict(env_prefix="TREASURY_", extra="ignore")

    rpc_url_ethereum: SecretStr | None = None
    rpc_url_arbitrum: SecretStr | None = None
    rpc_url_base: SecretStr | None = None
    rpc_timeout_seconds: float = Field(default=10.0, gt=0)
    keystore_path: Path = Path("var/keystore.json")
    keystore_passphrase: SecretStr | None = None
    keystore_passphrase_file: Path | None = None
    priority_fee_percentile: float = Field(default=50.0, ge=0, le=100)
    confirmations: int = Field(default=1, ge=1)
    receipt_timeout_seconds: float = Field(default=180.0, gt=0)
    replace_after_blocks: int = Field(default=3, ge=1)
    oneinch_base_url: str = "https://api.1inch.dev"
    oneinch_api_version: str = Field(default=DEFAULT_API_VERSION, pattern=r"^v\d+\.\d+$")
    oneinch_api_key: SecretStr | None = None
    pendle_base_url: str = "https://api-v2.pendle.finance/core"
    curve_api_url: str = CURVE_API_URL
    defillama_base_url: str = "https://api.llama.fi"
    defillama_yields_url: str = "https://yields.llama.fi"
    # The Pendle market (address) whose PT holds the treasury's fixed-rate USDC, live.
    pendle_market: str = ""

    def rpc_urls(self) -> dict[int, str]:
        """Configured node URLs by chain id (secret values: never log them)."""
        urls = {
            ChainId.ETHEREUM: self.rpc_url_ethereum,
            ChainId.ARBITRUM: self.rpc_url_arbitrum,
            ChainId.BASE: self.rpc_url_base,
        }
        return {int(c): u.get_secret_value() for c, u in urls.items() if u is not None}

    def passphrase(self) -> str | None:
        """The keystore passphrase from the environment or the passphrase file, if either is set.

        Raises:
            KeystoreError: the passphrase file cannot be read.
        """
        if self.keystore_passphrase is not None:
            return self.keystore_passphrase.get_secret_value()
        if self.keystore_passphrase_file is not None:
            try:
                text = self.keystore_passphrase_file.read_text(encoding="utf-8")
            except OSError:
                raise KeystoreError(
                    f"passphrase file {self.keystore_passphrase_file} is unreadable"
                ) from None
            return text.rstrip("\r\n")
        return None
