"""Multicall3 on the dev chain, at the address it has on every public EVM chain.

The code is Multicall3's deployed (runtime) bytecode as the `multicall` package on PyPI ships
it (`multicall.constants.MULTICALL3_BYTECODE`; version pinned in constraints.txt). Its keccak is
the code hash of the canonical deployment at 0xcA11bde05977b3631167028862bE2a173976CA11
(`CODE_HASH`), which the tests check, so the dev chain runs the very contract mainnet runs.

The in-process chain gets it in its genesis state; a JSON-RPC dev node (anvil) gets it through
`anvil_setCode`. A node that has neither keeps working: the treasury's reads probe for
Multicall3 and fall back to one `eth_call` each.
"""

from __future__ import annotations

import logging
from functools import cache
from typing import Any

from eth_utils.address import to_canonical_address
from eth_utils.crypto import keccak
from web3 import AsyncWeb3
from web3.exceptions import Web3Exception

from adapters.chain.multicall3 import MULTICALL3_ADDRESS

logger = logging.getLogger(__name__)

CODE_HASH = "d5c15df687b16f2ff992fc8d767b4216323184a2bbc6ee2f9c398c318e770891"
"""keccak256 of the code at Multicall3's address on Ethereum mainnet and the other chains."""

SET_CODE_METHODS = ("anvil_setCode", "hardhat_setCode")


class Multicall3CodeMismatch(RuntimeError):
    """The packaged bytecode is not the canonical Multicall3's (a changed package)."""


@cache
def runtime_code() -> bytes:
    """Multicall3's deployed bytecode, from the `multicall` package.

    Raises:
        Multicall3CodeMismatch: its hash is not the canonical deployment's.
    """
    from multicall.constants import MULTICALL3_BYTECODE  # the published artifact

    code = bytes.fromhex(MULTICALL3_BYTECODE.removeprefix("0x"))
    if keccak(code).hex() != CODE_HASH:
        raise Multicall3CodeMismatch(
            "the multicall package's MULTICALL3_BYTECODE is not the canonical Multicall3; "
            "install the version pinned in constraints.txt"
        )
    return code


def genesis_state_entry() -> tuple[bytes, dict[str, Any]]:
    """Multicall3's account for an eth-tester genesis state: (address, account state)."""
    account = {"balance": 0, "nonce": 1, "code": runtime_code(), "storage": {}}
    return to_canonical_address(MULTICALL3_ADDRESS), account


async def install_multicall3(w3: AsyncWeb3[Any]) -> bool:
    """Put Multicall3 at its address on a dev node that lacks it; return whether it is there.

    A node without a set-code method keeps no Multicall3 (reads then go one call each).

    Raises:
        OSError, Web3Exception: the node did not answer.
    """
    address = w3.to_checksum_address(MULTICALL3_ADDRESS)
    if await w3.eth.get_code(address):
        return True
    code = "0x" + runtime_code().hex()
    for method in SET_CODE_METHODS:
        try:
            response = await w3.provider.make_request(method, [address, code])
        except Web3Exception:
            continue
        if "error" not in response:
            break
    present = bool(await w3.eth.get_code(address))
    if not present:
        logger.info("the dev node takes no set-code call; no Multicall3 on it")
    return present
