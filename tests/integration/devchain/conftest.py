"""Dev-chain fixtures for this package (other packages import them the same way)."""

from tests.integration.devchain.fixtures import (
    anvil_deployment,
    anvil_devchain,
    anvil_fake_apis,
    anvil_rpc_url,
    devchain,
    devchain_deployment,
    fake_apis,
)

__all__ = [
    "anvil_deployment",
    "anvil_devchain",
    "anvil_fake_apis",
    "anvil_rpc_url",
    "devchain",
    "devchain_deployment",
    "fake_apis",
]
