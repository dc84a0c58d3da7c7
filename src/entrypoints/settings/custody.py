"""Custody settings (env prefix `TREASURY_`): who holds the treasury's assets.

`TREASURY_CUSTODY`: `eoa` (default: the service's own key holds everything) or `safe` (a Safe
holds the assets; every balance and position is read for the Safe's address).
`TREASURY_SAFE_ADDRESS`: the Safe (checksummed or lower-case hex).
`TREASURY_SAFE_OWNERS`: comma-separated owner addresses for `treasury safe create`.
`TREASURY_SAFE_THRESHOLD`: how many owners must sign a Safe transaction (default 1).
`TREASURY_SAFE_TX_SERVICE_URL`: a Safe Transaction Service (e.g.
`https://api.safe.global/tx-service/eth`, or a self-hosted one) whose owners' confirmations the
leader collects at each leadership check (`TREASURY_LEADERSHIP_CHECK_S`); unset, owners sign
through the API only. `TREASURY_SAFE_TX_SERVICE_API_KEY`: sent as a Bearer token (Safe's hosted
service requires one). `TREASURY_SAFE_TX_SERVICE_TIMEOUT_S`: each request's time limit (10 s).
"""

from __future__ import annotations

from enum import StrEnum
from urllib.parse import urlsplit

from eth_utils.address import is_address, to_checksum_address
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Custody(StrEnum):
    """Who holds the treasury's assets."""

    EOA = "eoa"
    SAFE = "safe"


def parse_addresses(value: str, setting: str) -> list[str]:
    """Comma-separated addresses, checksummed, each once.

    Raises:
        ValueError: an entry is not an address, or one repeats (names `setting`).
    """
    names = [part.strip() for part in value.split(",") if part.strip()]
    bad = [name for name in names if not is_address(name)]
    if bad:
        raise ValueError(f"{setting} must list 0x addresses separated by commas; got {bad[0]!r}")
    checksummed = [str(to_checksum_address(name)) for name in names]
    if len(set(checksummed)) != len(checksummed):
        raise ValueError(f"{setting} lists an address twice")
    return checksummed


class CustodySettings(BaseSettings):
    """Custody mode and the Safe's address, owners and threshold."""

    model_config = SettingsConfigDict(env_prefix="TREASURY_", extra="ignore")

    custody: Custody = Custody.EOA
    safe_address: str | None = None
    safe_owners: str = ""
    safe_threshold: int = Field(default=1, ge=1)
    safe_tx_service_url: str | None = None
    safe_tx_service_timeout_s: float = Field(default=10.0, gt=0, le=120)
    safe_tx_service_api_key: SecretStr | None = None

    @field_validator("safe_tx_service_url")
    @classmethod
    def _a_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(
                "TREASURY_SAFE_TX_SERVICE_URL must be an http(s) URL such as "
                f"https://api.safe.global/tx-service/eth; got {value!r}"
            )
        return value.strip().rstrip("/")

    @field_validator("safe_address")
    @classmethod
    def _an_address(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if not is_address(value.strip()):
            raise ValueError(f"TREASURY_SAFE_ADDRESS must be a 0x address; got {value!r}")
        return to_checksum_address(value.strip())

    @field_validator("safe_owners")
    @classmethod
    def _addresses(cls, value: str) -> str:
        return ",".join(parse_addresses(value, "TREASURY_SAFE_OWNERS"))

    @model_validator(mode="after")
    def _threshold_fits(self) -> CustodySettings:
        owners = self.owners()
        if owners and self.safe_threshold > len(owners):
            raise ValueError(
                f"TREASURY_SAFE_THRESHOLD is {self.safe_threshold} but TREASURY_SAFE_OWNERS "
                f"lists {len(owners)} owners; lower the threshold or add owners"
            )
        return self

    def tx_service_url(self) -> str | None:
        """The Transaction Service's base URL without a trailing slash, or None."""
        return self.safe_tx_service_url

    def owners(self) -> list[str]:
        """The configured owners, checksummed."""
        return [name for name in self.safe_owners.split(",") if name]
