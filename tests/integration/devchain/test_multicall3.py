"""Multicall3 on the dev chains, and contract reads batched through it (issue 18, item 3).

Both dev chains carry Multicall3's canonical code at its canonical address, as the public
chains do; `BatchReader` reads a list of contract calls in one `eth_call` there, and one
`eth_call` per read where Multicall3 is absent, with the same answers and the same errors.
"""

from __future__ import annotations

from typing import Any

import pytest
from eth_utils import keccak
from web3 import AsyncWeb3

from adapters.chain.devchain.deploy import contract_at
from adapters.chain.multicall3 import BatchReader, ViewCall
from adapters.chain.tokens import contract
from application.ports.chain import ProtocolUnavailable
from tests.integration.devchain.fixtures import DevChain
from tests.rpc_counter import RpcCounter

MULTICALL3 = "0xcA11bde05977b3631167028862bE2a173976CA11"
# keccak256 of the code at MULTICALL3 on Ethereum mainnet (and every chain sharing the address).
CANONICAL_CODE_HASH = "d5c15df687b16f2ff992fc8d767b4216323184a2bbc6ee2f9c398c318e770891"
# An address with no code: a chain "without Multicall3" as far as a reader pointed there knows.
NOWHERE = "0x000000000000000000000000000000000000dEaD"


def reads(chain: DevChain) -> list[ViewCall]:
    """The kinds of reads a portfolio read makes: balances, a reserve, a virtual price, decimals."""
    w3, book, owner = chain.w3, chain.book, chain.treasury_address
    erc20 = [contract(w3, "erc20", book.token(s)) for s in ("USDC", "WBTC", "DAI")]
    return [
        *(ViewCall("erc20", token.functions.balanceOf(owner)) for token in erc20),
        ViewCall(
            "aave",
            contract(w3, "aave_v3_pool", book.aave_pool).functions.getReserveData(
                book.token("USDC")
            ),
        ),
        ViewCall(
            "curve", contract(w3, "curve_3pool", book.curve_pool).functions.get_virtual_price()
        ),
        ViewCall("pendle", contract(w3, "erc20", book.pendle_pt).functions.decimals()),
    ]


async def single_answers(calls: list[ViewCall]) -> list[Any]:
    return [await c.function.call() for c in calls]


async def test_the_in_process_dev_chain_has_the_canonical_multicall3(devchain: DevChain) -> None:
    code = await devchain.w3.eth.get_code(AsyncWeb3.to_checksum_address(MULTICALL3))
    assert keccak(code).hex() == CANONICAL_CODE_HASH


@pytest.mark.anvil
async def test_anvil_gets_the_canonical_multicall3(anvil_devchain: DevChain) -> None:
    code = await anvil_devchain.w3.eth.get_code(AsyncWeb3.to_checksum_address(MULTICALL3))
    assert keccak(code).hex() == CANONICAL_CODE_HASH


@pytest.fixture(params=["in-process", pytest.param("anvil", marks=pytest.mark.anvil)])
def chain(request: pytest.FixtureRequest) -> DevChain:
    """Each dev chain: the in-process EVM and anvil over HTTP JSON-RPC."""
    found = request.getfixturevalue("anvil_devchain" if request.param == "anvil" else "devchain")
    assert isinstance(found, DevChain)
    return found


async def test_a_batch_is_one_eth_call_with_the_answers_single_calls_give(chain: DevChain) -> None:
    calls = reads(chain)
    expected = await single_answers(calls)
    counter = RpcCounter.attach(chain.w3)

    answers = await BatchReader(chain.w3).read(calls)

    assert counter.eth_calls == 1
    assert [a.get() for a in answers] == expected


async def test_without_multicall3_each_read_is_one_eth_call_with_the_same_answers(
    devchain: DevChain,
) -> None:
    calls = reads(devchain)
    expected = await single_answers(calls)
    counter = RpcCounter.attach(devchain.w3)
    reader = BatchReader(devchain.w3, address=NOWHERE)

    first = await reader.read(calls)
    second = await reader.read(calls)

    assert counter.counts["eth_getCode"] == 1  # probed once
    assert counter.eth_calls == 2 * len(calls)
    assert [a.get() for a in first] == expected
    assert [a.get() for a in second] == expected


@pytest.mark.parametrize("multicall3", [True, False], ids=["batched", "single calls"])
async def test_a_failing_read_fails_only_its_own_answer(
    devchain: DevChain, multicall3: bool
) -> None:
    w3, book, owner = devchain.w3, devchain.book, devchain.treasury_address
    usdc = contract_at(w3, "ERC20", book.token("USDC"))
    calls = [
        ViewCall("usdc", usdc.functions.balanceOf(owner)),
        # Far more than the treasury holds: the token reverts the transfer.
        ViewCall("usdc transfer", usdc.functions.transfer(book.curve_pool, 10**30)),
        # No contract at the address: no answer to decode.
        ViewCall("no contract", contract(w3, "erc20", NOWHERE).functions.balanceOf(owner)),
    ]
    reader = BatchReader(w3) if multicall3 else BatchReader(w3, address=NOWHERE)

    balance, reverted, missing = await reader.read(calls)

    assert balance.get() == await usdc.functions.balanceOf(owner).call()
    assert isinstance(reverted.error, ProtocolUnavailable)
    assert reverted.error.permanent
    assert "usdc transfer" in str(reverted.error)
    assert "reverted" in str(reverted.error)
    with pytest.raises(ProtocolUnavailable, match="no contract"):
        missing.get()
