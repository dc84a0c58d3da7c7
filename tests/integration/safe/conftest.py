"""Safe fixtures: the dev chain (in-process and anvil) with the Safe contracts deployed."""

from tests.integration.devchain.fixtures import (
    anvil_deployment,
    anvil_devchain,
    anvil_rpc_url,
    devchain,
    devchain_deployment,
)

__all__ = [
    "anvil_deployment",
    "anvil_devchain",
    "anvil_rpc_url",
    "devchain",
    "devchain_deployment",
]
