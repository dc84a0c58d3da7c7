"""Small helpers the dev-chain tests share: signing as the treasury and sending checked calls."""

from __future__ import annotations

from typing import Any

from eth_tester.exceptions import TransactionFailed
from web3 import AsyncWeb3
from web3.contract import AsyncContract
from web3.exceptions import ContractLogicError
from web3.middleware import SignAndSendRawMiddlewareBuilder

from adapters.chain.devchain.deploy import contract_at
from tests.integration.devchain.fixtures import DevChain

# A revert surfaces as ContractLogicError over JSON-RPC and as TransactionFailed in-process.
REVERTED = (ContractLogicError, TransactionFailed)


def signing_as_treasury(chain: DevChain) -> AsyncWeb3[Any]:
    """The chain's web3, signing transactions from the treasury address with its test key."""
    if "treasury_signer" not in chain.w3.middleware_onion:
        chain.w3.middleware_onion.inject(
            SignAndSendRawMiddlewareBuilder.build(chain.treasury_key),
            name="treasury_signer",
            layer=0,
        )
    return chain.w3


async def send(w3: AsyncWeb3[Any], call: Any, sender: str, value: int = 0) -> Any:
    """Send a contract call and return its receipt, failing the test if it reverted."""
    tx_hash = await call.transact({"from": sender, "value": value})
    receipt = await w3.eth.wait_for_transaction_receipt(tx_hash)
    assert receipt["status"] == 1, f"transaction reverted: {receipt}"
    return receipt


def token(chain: DevChain, symbol: str) -> AsyncContract:
    """The dev-chain ERC-20 by symbol."""
    return contract_at(chain.w3, "ERC20", chain.book.token(symbol))


async def balance(chain: DevChain, symbol: str, owner: str | None = None) -> int:
    """A token balance in base units (the treasury's by default)."""
    holder = owner or chain.treasury_address
    return int(await token(chain, symbol).functions.balanceOf(holder).call())
