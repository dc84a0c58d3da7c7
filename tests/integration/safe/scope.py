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

from adapters.chain.safe.deploy import SafeContracts
from adapters.chain.safe.devsetup import deploy_scoped_safe
from adapters.chain.safe.permissions import PermissionSet
from adapters.chain.safe.roles import RolesDeployment, Status
from tests.integration.devchain.fixtures import DevChain
from tests.integration.safe.test_safe_deploy import OWNER_KEYS

# A throwaway key for the agent (a public byte pattern), only ever used on dev chains.
AGENT_KEY = "0x" + "a9" * 32
AGENT = str(Account.from_key(AGENT_KEY).address)
REFUSED = (ContractCustomError, ContractLogicError, TransactionFailed)
STRANGER = "0x000000000000000000000000000000000000bEEF"
CONDITION_VIOLATION = bytes(AsyncWeb3.keccak(text="ConditionViolation(uint8,bytes32)")[:4])


@dataclass(frozen=True, slots=True)
class ScopedSafe:
    """A funded, scoped Safe on a test chain."""

    chain: DevChain
    safe: str
    contracts: SafeContracts
    roles: RolesDeployment
    permissions: PermissionSet


async def scoped_safe(chain: DevChain) -> ScopedSafe:
    """A 2-of-3 Safe with $100K USDC and 1,000 DAI, the agent scoped to the adapters' calls."""
    setup = await deploy_scoped_safe(
        chain.w3,
        chain.book,
        owner_keys=OWNER_KEYS,
        threshold=2,
        agent=AGENT,
        funding={"USDC": Decimal("100000"), "DAI": Decimal("1000")},
    )
    return ScopedSafe(
        chain=chain,
        safe=setup.safe,
        contracts=setup.contracts,
        roles=setup.roles,
        permissions=setup.permissions,
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
    except REFUSED as exc:
        return violation_status(exc)
    return Status.OK
