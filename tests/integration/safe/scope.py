"""A scoped Safe on a dev chain for the scope tests: Safe, Roles Modifier, agent role."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from eth_account import Account
from eth_tester.exceptions import TransactionFailed
from web3 import AsyncWeb3
from web3.exceptions import ContractCustomError, ContractLogicError

from adapters.chain.devchain.deploy import fund_account
from adapters.chain.safe.deploy import SafeContracts, create_safe, deploy_safe_contracts
from adapters.chain.safe.permissions import PermissionSet, dev_chain_permissions
from adapters.chain.safe.roles import (
    RolesDeployment,
    Status,
    deploy_roles,
    hand_to_safe,
    install_scope,
)
from tests.integration.devchain.fixtures import DevChain
from tests.integration.safe.test_safe_deploy import OWNER_KEYS, OWNERS

# A throwaway key for the agent (a public byte pattern), only ever used on dev chains.
AGENT_KEY = "0x" + "a9" * 32
AGENT = str(Account.from_key(AGENT_KEY).address)
STRANGER = "0x000000000000000000000000000000000000bEEF"
CONDITION_VIOLATION = bytes(AsyncWeb3.keccak(text="ConditionViolation(uint8,bytes32)")[:4])


@dataclass(frozen=True, slots=True)
class ScopedSafe:
    """A funded Safe whose Roles Modifier lets the agent make only the adapters' calls."""

    chain: DevChain
    safe: str
    contracts: SafeContracts
    roles: RolesDeployment
    permissions: PermissionSet


async def scoped_safe(chain: DevChain) -> ScopedSafe:
    """Deploy the Safe contracts, a 2-of-3 Safe with $100K USDC, and the agent's scope."""
    w3 = chain.w3
    deployer = chain.book.deployer
    contracts = await deploy_safe_contracts(w3, deployer=deployer)
    safe = await create_safe(w3, contracts, owners=OWNERS, threshold=2, deployer=deployer)
    await fund_account(w3, chain.book, safe, {"USDC": Decimal("100000"), "DAI": Decimal("1000")})
    await fund_account(w3, chain.book, AGENT, {"ETH": Decimal("1")})
    roles = await deploy_roles(w3, safe=safe, deployer=deployer)
    permissions = dev_chain_permissions(chain.book)
    await install_scope(
        w3, roles, permissions, agent=AGENT, safe_contracts=contracts, deployer=deployer
    )
    await hand_to_safe(w3, roles, safe=safe, owner_keys=OWNER_KEYS[:2], deployer=deployer)
    return ScopedSafe(
        chain=chain, safe=safe, contracts=contracts, roles=roles, permissions=permissions
    )


async def agent_sends(w3: AsyncWeb3[Any], call: Any, gas: int = 3_000_000) -> Any:
    """Sign `call` with the agent's key and send it raw with fixed gas (no estimate, so the
    chain itself judges it); return the receipt, or the in-process EVM's refusal."""
    nonce = await w3.eth.get_transaction_count(AGENT)
    block = await w3.eth.get_block("latest")
    base_fee = int(block.get("baseFeePerGas", 0))
    tx = await call.build_transaction(
        {
            "from": AGENT,
            "nonce": nonce,
            "gas": gas,
            "maxFeePerGas": base_fee * 2 + 10**9,
            "maxPriorityFeePerGas": 10**9,
            "chainId": await w3.eth.chain_id,
        }
    )
    signed = Account.sign_transaction(tx, AGENT_KEY)
    try:
        tx_hash = await w3.eth.send_raw_transaction(signed.raw_transaction)
    except TransactionFailed as exc:
        return exc
    return await w3.eth.wait_for_transaction_receipt(tx_hash)


def revert_data(exc: BaseException) -> bytes:
    """The raw revert data an error carries: web3's hex `data` over JSON-RPC, or the bytes
    eth-tester prints into its message in-process."""
    data: Any = getattr(exc, "data", None)
    if isinstance(data, str) and data.startswith("0x"):
        return bytes.fromhex(data[2:])
    text = str(exc.args[0]) if exc.args else ""
    match = re.search(r"b(['\"]).*\1", text, re.DOTALL)
    if match:
        value = ast.literal_eval(match.group(0))
        if isinstance(value, bytes):
            return value
    return b""


def violation_status(exc: BaseException) -> int | None:
    """The `Status` in a Roles `ConditionViolation` revert, if `exc` carries one."""
    data = revert_data(exc)
    if data[:4] != CONDITION_VIOLATION:
        return None
    return int.from_bytes(data[4:36])


async def simulated_refusal(call: Any) -> int | None:
    """Simulate `call` from the agent; the ConditionViolation status it reverts with."""
    try:
        await call.call({"from": AGENT})
    except (ContractCustomError, ContractLogicError, TransactionFailed) as exc:
        return violation_status(exc)
    return Status.OK
