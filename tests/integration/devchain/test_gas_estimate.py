"""The in-process EVM's gas estimate: a limit that works, close to the smallest that does.

`adapters/chain/devchain/gas.py` replaces py-evm's thirteen-execution binary search with two
executions. The rule it must keep is the one any node's `eth_estimateGas` keeps: the answer
is a gas limit with which the transaction succeeds. These tests find the smallest such limit
from outside (a binary search over `eth_call` with an explicit gas) and compare.
"""

from __future__ import annotations

from typing import Any

import pytest
from eth.vm.forks.frontier.state import FrontierState
from eth_tester.exceptions import TransactionFailed
from web3.exceptions import Web3Exception

from adapters.chain.devchain import gas
from adapters.chain.devchain.deploy import MAX_UINT256, contract_at
from tests.integration.devchain.chain_calls import send, signing_as_treasury, token
from tests.integration.devchain.fixtures import DevChain

PY_EVM_TOLERANCE = 21_000
"""How far above the smallest working limit py-evm's own search may answer."""


async def _succeeds(chain: DevChain, tx: dict[str, Any], limit: int) -> bool:
    try:
        await chain.w3.eth.call({**tx, "gas": limit}, "latest")  # type: ignore[typeddict-item]
    except (Web3Exception, TransactionFailed, ValueError):
        return False
    return True


async def _smallest_working_limit(chain: DevChain, tx: dict[str, Any]) -> int:
    low, high = 21_000, 10_000_000  # low fails (a call costs more), high works
    assert await _succeeds(chain, tx, high)
    while high - low > 1:
        middle = (low + high) // 2
        if await _succeeds(chain, tx, middle):
            high = middle
        else:
            low = middle
    return high


async def _calls(chain: DevChain) -> dict[str, dict[str, Any]]:
    """Three calls of growing depth: an approval, an Aave supply (the pool pulls the token
    and mints the aToken) and a Curve deposit (the pool pulls three tokens)."""
    w3 = signing_as_treasury(chain)
    me = chain.treasury_address
    usdc = token(chain, "USDC")
    pool = contract_at(chain.w3, "AavePool", chain.book.aave_pool)
    curve = contract_at(chain.w3, "CurvePool", chain.book.curve_pool)
    await send(w3, usdc.functions.approve(chain.book.aave_pool, MAX_UINT256), me)
    for symbol in ("DAI", "USDC", "USDT"):
        approve = token(chain, symbol).functions.approve(chain.book.curve_pool, MAX_UINT256)
        await send(w3, approve, me)
    amounts = [10**18, 10**6, 10**6]
    built = {
        "approve": usdc.functions.approve(chain.book.router, 5),
        "aave supply": pool.functions.supply(usdc.address, 10**9, me, 0),
        "curve deposit": curve.functions.add_liquidity(amounts, 0),
    }
    return {name: await call.build_transaction({"from": me}) for name, call in built.items()}


def _bare(tx: Any) -> dict[str, Any]:
    """The call alone: sender, target and data (no gas, nonce or fees to estimate with)."""
    return {k: v for k, v in tx.items() if k in ("from", "to", "data")}


async def _call(chain: DevChain, name: str) -> dict[str, Any]:
    return _bare((await _calls(chain))[name])


@pytest.mark.parametrize("name", ["approve", "aave supply", "curve deposit"])
async def test_the_estimate_works_and_is_close_to_the_smallest_working_limit(
    devchain: DevChain, name: str
) -> None:
    tx = await _call(devchain, name)
    estimate = await devchain.w3.eth.estimate_gas(tx)  # type: ignore[arg-type]
    smallest = await _smallest_working_limit(devchain, tx)
    assert await _succeeds(devchain, tx, estimate)
    assert smallest <= estimate <= smallest + max(PY_EVM_TOLERANCE, smallest // 10)


async def test_when_the_quick_limit_fails_the_full_search_answers(
    devchain: DevChain, monkeypatch: pytest.MonkeyPatch
) -> None:
    tx = await _call(devchain, "curve deposit")
    # A margin that takes the quick limit below what the call needs: the trial run fails.
    monkeypatch.setattr(gas, "MARGIN_GAS", -200_000)
    estimate = await devchain.w3.eth.estimate_gas(tx)  # type: ignore[arg-type]
    assert await _succeeds(devchain, tx, estimate)
    assert estimate >= await _smallest_working_limit(devchain, tx)


async def test_a_call_that_fails_with_all_the_gas_raises_its_error(devchain: DevChain) -> None:
    usdc = token(devchain, "USDC")
    stranger = (await devchain.w3.eth.accounts)[5]
    tx = await usdc.functions.transferFrom(
        devchain.treasury_address, stranger, 1
    ).build_transaction({"from": stranger, "gas": 100_000})
    with pytest.raises(TransactionFailed, match="allowance"):
        await devchain.w3.eth.estimate_gas(_bare(tx))  # type: ignore[arg-type]


async def test_an_estimate_executes_the_transaction_twice_not_a_dozen_times(
    devchain: DevChain, monkeypatch: pytest.MonkeyPatch
) -> None:
    tx = await _call(devchain, "curve deposit")
    executions = 0
    original = FrontierState.apply_transaction

    def counting(self: FrontierState, transaction: Any) -> Any:
        nonlocal executions
        executions += 1
        return original(self, transaction)

    monkeypatch.setattr(FrontierState, "apply_transaction", counting)
    await devchain.w3.eth.estimate_gas(tx)  # type: ignore[arg-type]
    assert executions == 2
