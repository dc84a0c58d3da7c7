"""Safe transactions signed by owners: the safeTxHash, owners' signatures, execution.

The hash is the Safe's own (`getTransactionHash`, EIP-712 over the SafeTx struct with the
Safe's chain id and address as domain); `safe_tx_hash` computes the same value off-chain so a
signature can be checked without a node. Signatures are 65-byte ECDSA (r, s, v) over the hash,
packed in ascending order of owner address, as `checkNSignatures` requires.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_keys.datatypes import Signature
from eth_tester.exceptions import TransactionFailed
from eth_utils.crypto import keccak
from web3 import AsyncWeb3
from web3.exceptions import ContractLogicError, Web3Exception

from adapters.chain.safe.deploy import ZERO_ADDRESS, SafeDeploymentFailed, Transactor, safe_contract


class Operation(IntEnum):
    """How a Safe or module makes a call."""

    CALL = 0
    DELEGATE_CALL = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class SafeTx:
    """One Safe transaction (no refunds: gas is paid by whoever submits it)."""

    to: str
    value: int = 0
    data: bytes = b""
    operation: Operation = Operation.CALL
    nonce: int
    safe_tx_gas: int = 0
    base_gas: int = 0
    gas_price: int = 0
    gas_token: str = ZERO_ADDRESS
    refund_receiver: str = ZERO_ADDRESS

    def args(self) -> list[Any]:
        """The fields in `execTransaction`'s order, without the signatures."""
        return [
            self.to,
            self.value,
            self.data,
            int(self.operation),
            self.safe_tx_gas,
            self.base_gas,
            self.gas_price,
            self.gas_token,
            self.refund_receiver,
        ]


def _typed_data(chain_id: int, safe: str, tx: SafeTx) -> dict[str, Any]:
    return {
        "types": {
            "EIP712Domain": [
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            "SafeTx": [
                {"name": "to", "type": "address"},
                {"name": "value", "type": "uint256"},
                {"name": "data", "type": "bytes"},
                {"name": "operation", "type": "uint8"},
                {"name": "safeTxGas", "type": "uint256"},
                {"name": "baseGas", "type": "uint256"},
                {"name": "gasPrice", "type": "uint256"},
                {"name": "gasToken", "type": "address"},
                {"name": "refundReceiver", "type": "address"},
                {"name": "nonce", "type": "uint256"},
            ],
        },
        "primaryType": "SafeTx",
        "domain": {"chainId": chain_id, "verifyingContract": safe},
        "message": {
            "to": tx.to,
            "value": tx.value,
            "data": tx.data,
            "operation": int(tx.operation),
            "safeTxGas": tx.safe_tx_gas,
            "baseGas": tx.base_gas,
            "gasPrice": tx.gas_price,
            "gasToken": tx.gas_token,
            "refundReceiver": tx.refund_receiver,
            "nonce": tx.nonce,
        },
    }


def typed_data_json(chain_id: int, safe: str, tx: SafeTx) -> dict[str, Any]:
    """The EIP-712 typed data an owner's wallet signs for `tx`, JSON-ready (the call data as
    0x hex), as `eth_signTypedData_v4` and `cast wallet sign --data` take it."""
    typed = _typed_data(chain_id, safe, tx)
    typed["message"] = {**typed["message"], "data": "0x" + tx.data.hex()}
    return typed


def safe_tx_hash(chain_id: int, safe: str, tx: SafeTx) -> bytes:
    """The EIP-712 hash a Safe v1.3+/1.4 owner signs for `tx` (32 bytes)."""
    signable = encode_typed_data(full_message=_typed_data(chain_id, safe, tx))
    return bytes(keccak(b"\x19" + signable.version + signable.header + signable.body))


def sign_safe_tx_hash(tx_hash: bytes, private_key: str) -> bytes:
    """An owner's 65-byte signature (r, s, v with v 27/28) over `tx_hash`."""
    signed = Account.unsafe_sign_hash(tx_hash, private_key)
    r, s, v = int(signed.r), int(signed.s), int(signed.v)
    return r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes([v])


def signer_of(tx_hash: bytes, signature: bytes) -> str:
    """The address that made a 65-byte ECDSA `signature` over `tx_hash`."""
    v = signature[64]
    recovered = Signature(
        vrs=(
            v - 27 if v >= 27 else v,
            int.from_bytes(signature[:32]),
            int.from_bytes(signature[32:64]),
        )
    ).recover_public_key_from_msg_hash(tx_hash)
    return str(recovered.to_checksum_address())


def pack_signatures(signatures: Mapping[str, bytes]) -> bytes:
    """Owner -> signature, concatenated in ascending order of owner address."""
    ordered = sorted(signatures.items(), key=lambda item: int(item[0], 16))
    return b"".join(signature for _owner, signature in ordered)


async def next_safe_tx(
    w3: AsyncWeb3[Any], safe: str, *, to: str, data: bytes, operation: Operation = Operation.CALL
) -> SafeTx:
    """A SafeTx to `to` with `data` at the Safe's current nonce."""
    nonce = await safe_contract(w3, safe).functions.nonce().call()
    return SafeTx(to=w3.to_checksum_address(to), data=data, operation=operation, nonce=int(nonce))


async def execute_with_signatures(
    w3: AsyncWeb3[Any],
    safe: str,
    tx: SafeTx,
    signatures: Mapping[str, bytes],
    *,
    sender: str,
    step: str,
) -> Any:
    """Simulate `execTransaction` with the owners' `signatures`, send it; return the receipt.

    Raises:
        SafeDeploymentFailed: simulation or execution failed.
    """
    contract = safe_contract(w3, safe)
    call = contract.functions.execTransaction(*tx.args(), pack_signatures(signatures))
    try:
        ok = await call.call({"from": sender})
    except (ContractLogicError, TransactionFailed, Web3Exception, ValueError) as exc:
        raise SafeDeploymentFailed(step, f"simulation: {exc}") from exc
    if not ok:
        raise SafeDeploymentFailed(step, "simulation: the Safe's inner call failed")
    return await Transactor(w3, sender).send(step, call)


async def execute_with_owner_keys(
    w3: AsyncWeb3[Any],
    safe: str,
    tx: SafeTx,
    owner_keys: Mapping[str, str] | list[str],
    *,
    sender: str,
    step: str,
) -> Any:
    """Sign `tx` with each owner key, simulate `execTransaction`, send it; return the receipt.

    The hash signed is the one computed off-chain; it is checked against the Safe's own
    `getTransactionHash` first, so a domain mistake fails loudly instead of as GS026.

    Raises:
        SafeDeploymentFailed: the hashes differ, or simulation or execution failed.
    """
    contract = safe_contract(w3, safe)
    chain_id = await w3.eth.chain_id
    local = safe_tx_hash(chain_id, contract.address, tx)
    on_chain = bytes(await contract.functions.getTransactionHash(*tx.args(), tx.nonce).call())
    if local != on_chain:
        raise SafeDeploymentFailed(step, "the off-chain safeTxHash differs from the Safe's")
    keys = list(owner_keys.values()) if isinstance(owner_keys, Mapping) else list(owner_keys)
    signatures = {str(Account.from_key(key).address): sign_safe_tx_hash(local, key) for key in keys}
    return await execute_with_signatures(w3, safe, tx, signatures, sender=sender, step=step)
